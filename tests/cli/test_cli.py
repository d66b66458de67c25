"""The napari-unet command line: train, predict, evaluate, info and export on the sample data;
exit status 2 with a one-line message on bad input; a model trained through the core API (as
the widgets do) predicts the same from the command line as in the viewer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
IMAGE = SAMPLES / "em_membranes_image.tif"
STROKES = SAMPLES / "em_membranes_strokes.tif"
TRUTH = SAMPLES / "em_membranes_truth.tif"
TINY = {"depth": 2, "base_channels": 4, "patch_shape": [64, 64], "batch_size": 2,
        "max_steps": 2, "val_every": 2, "prior": "off",
        "augment": {"elastic": 0.0, "scale": 0.0}}


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory) -> Path:
    """A tiny semantic model trained by `napari-unet train` for two steps."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "config.json"
    config.write_text(json.dumps(TINY))
    model = folder / "em.unet.safetensors"
    assert main(["train", str(IMAGE), "--labels", str(STROKES), "--out", str(model),
                 "--config", str(config), "--seed", "3", "--device", "cpu", "-q"]) == 0
    return model


@pytest.mark.slow
def test_train_writes_a_model_with_the_config(cli_model, capsys):
    assert main(["info", str(cli_model), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["task"] == "semantic"
    assert card["axes"] == "YX"
    assert card["classes"] == [1, 2]
    assert card["train_config"]["seed"] == 3
    assert card["train_config"]["max_steps"] == 2
    assert card["training_data"]["images"] == [str(IMAGE)]
    assert main(["info", str(cli_model)]) == 0
    assert "task: semantic" in capsys.readouterr().out
    assert main(["info", str(cli_model), "--train-config"]) == 0
    from napari_unet.core.training.train import TrainConfig

    config = TrainConfig.from_dict(json.loads(capsys.readouterr().out))
    assert (config.depth, config.base_channels, config.seed) == (2, 4, 3)


@pytest.mark.slow
def test_predict_and_evaluate(cli_model, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["predict", str(cli_model), str(IMAGE), "--out", str(out),
                 "--output", "probabilities,classes", "--tile-size", "128", "-q"]) == 0
    probs = tifffile.imread(out / "em_membranes_image_probabilities.tif")
    classes = tifffile.imread(out / "em_membranes_image_classes.tif")
    assert probs.dtype == np.float32 and probs.shape == (2, 512, 512)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(classes, np.argmax(probs, axis=0) + 1)
    # zarr output holds the same
    assert main(["predict", str(cli_model), str(IMAGE), "--out", str(out), "--format", "zarr",
                 "--output", "classes", "--tile-size", "128", "-q"]) == 0
    from napari_unet.core.io import read_image

    np.testing.assert_array_equal(read_image(out / "em_membranes_image_classes.zarr")[...],
                                  classes)
    capsys.readouterr()
    assert main(["evaluate", str(out / "em_membranes_image_classes.tif"),
                 "--truth", str(TRUTH)]) == 0
    scores = json.loads(capsys.readouterr().out)
    from napari_unet.core.metrics import class_scores

    truth = tifffile.imread(TRUTH)
    direct = class_scores(classes, truth, classes=[1, 2])
    assert scores["iou"]["1"] == pytest.approx(direct["iou"][0], abs=1e-6)
    assert scores["support"] == {"1": int((truth == 1).sum()), "2": int((truth == 2).sum())}


def test_instances_evaluate_of_truth_against_itself(tmp_path, capsys):
    truth = SAMPLES / "fluo_nuclei_truth.tif"
    assert main(["evaluate", str(truth), "--truth", str(truth), "--task", "instances"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["overall"][0]["f1"] == 1.0
    assert scores["overall"][0]["tp"] == 28
    assert scores["mean_adapted_rand_error"] == 0.0


@pytest.mark.slow
def test_core_trained_model_predicts_the_same_from_the_cli(tmp_path):
    """The widgets train with core.train and predict with core.predict; the CLI must agree."""
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.prediction.predict import predict_image
    from napari_unet.core.progress import run
    from napari_unet.core.training.train import TrainConfig, train

    image, strokes = tifffile.imread(IMAGE), tifffile.imread(STROKES)
    model = run(train(TrainConfig.from_dict({**TINY, "axes": "YX"}), [(image, strokes)],
                      device="cpu"))
    in_viewer = predict_image(model, image, axes="YX", device="cpu")
    path = save_model(model, tmp_path / "gui.unet.safetensors")
    assert main(["predict", str(path), str(IMAGE), "--out", str(tmp_path),
                 "--output", "probabilities", "--device", "cpu", "-q"]) == 0
    from_cli = tifffile.imread(tmp_path / "em_membranes_image_probabilities.tif")
    np.testing.assert_array_equal(from_cli, in_viewer)


@pytest.mark.slow
def test_export_formats(cli_model, tmp_path):
    pytest.importorskip("bioimageio.spec")
    assert main(["export", str(cli_model), "--format", "bioimageio",
                 "--out", str(tmp_path / "pkg.zip"), "--sample", str(IMAGE), "-q"]) == 0
    from napari_unet.core.export import import_bioimageio
    from napari_unet.core.modelfile import load_model

    back = import_bioimageio(tmp_path / "pkg.zip")
    assert back.config == load_model(cli_model).config
    # the package predicts like the model file
    for name, source in (("file", cli_model), ("package", tmp_path / "pkg.zip")):
        assert main(["predict", str(source), str(IMAGE), "--out", str(tmp_path / name),
                     "--output", "probabilities", "--tile-size", "256", "-q"]) == 0
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "file" / "em_membranes_image_probabilities.tif"),
        tifffile.imread(tmp_path / "package" / "em_membranes_image_probabilities.tif"))
    assert main(["export", str(cli_model), "--format", "torchscript",
                 "--out", str(tmp_path / "m.pt"), "-q"]) == 0
    assert (tmp_path / "m.pt").stat().st_size > 1000
    onnxruntime = pytest.importorskip("onnxruntime")
    assert main(["export", str(cli_model), "--format", "onnx",
                 "--out", str(tmp_path / "m.onnx"), "-q"]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"),
                                           providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(1, 1, 64, 64)).astype(np.float32)
    import torch

    with torch.no_grad():
        expected = load_model(cli_model)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, atol=1e-4)


@pytest.mark.parametrize("argv,needle", [
    (["predict", "missing.unet.safetensors", str(IMAGE), "--out", "o"], "missing.unet"),
    (["train", str(IMAGE), str(IMAGE), "--labels", str(STROKES), "--out", "m"],
     "2 image(s) but 1 label"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--output", "objects"], "--output"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--tile-size", "0"], "--tile-size"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--axes", "ZYX"], "--axes"),
    (["predict", "{model}", "rgb.png", "--out", "o"], "RGB"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--scheduler", "local:0"], "local:N"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--spacing", "0.5,abc"], "--spacing"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--spacing", "0.5,0"], "positive"),
    (["predict", "{model}", str(IMAGE), "--out", "o", "--spacing", "1,1,1"],
     "expected 2 values (one per axis of YX), found 3"),
    (["evaluate", "float.npy", "--truth", str(TRUTH)], "integer"),
    (["evaluate", str(TRUTH), "--truth", str(STROKES), str(TRUTH)], "pair in order"),
    (["train", str(IMAGE), "--labels", str(STROKES), "--out", "m", "--config", "nope.json"],
     "nope.json"),
])
@pytest.mark.slow
def test_bad_input_exits_2_with_one_line(cli_model, tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "float.npy", np.zeros((512, 512), np.float32))
    from skimage.io import imsave

    imsave(tmp_path / "rgb.png", np.zeros((40, 40, 3), np.uint8), check_contrast=False)
    argv = [a.replace("{model}", str(cli_model)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err


@pytest.mark.slow
def test_console_script_exit_status(tmp_path):
    broken = tmp_path / "broken.unet.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    run = subprocess.run([sys.executable, "-m", "napari_unet.cli", "info", str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "broken.unet.safetensors" in run.stderr
    usage = subprocess.run([sys.executable, "-m", "napari_unet.cli", "predict"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2
    assert "usage" in usage.stderr


def test_instances_output_in_tif_and_zarr_agree(tmp_path):
    import torch

    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    torch.manual_seed(0)
    model = UNet(depth=2, base_channels=4, out_channels=3,
                 meta={"task": "instances", "axes": "YX"}).eval()
    with torch.no_grad():  # make "interior" win in bright regions: a few objects
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0.0, -5.0]))
    path = save_model(model, tmp_path / "inst.unet.safetensors")
    image = SAMPLES / "fluo_nuclei_image.tif"
    for fmt in ("tif", "zarr"):
        assert main(["predict", str(path), str(image), "--out", str(tmp_path / fmt),
                     "--format", fmt, "-q"]) == 0  # default output of instance models
    from napari_unet.core.io import read_image

    a = read_image(tmp_path / "tif" / "fluo_nuclei_image_instances.tif")
    b = read_image(tmp_path / "zarr" / "fluo_nuclei_image_instances.zarr")[...]
    assert a.shape == (360, 360) and a.dtype == np.int32
    np.testing.assert_array_equal(a, b)
    # only the asked output is left behind
    assert [p.name for p in (tmp_path / "zarr").iterdir()] == ["fluo_nuclei_image_instances.zarr"]


def test_continue_training_from_a_model(cli_model, tmp_path, capsys):
    out = tmp_path / "more.unet.safetensors"
    assert main(["info", str(cli_model), "--json"]) == 0
    card_file = tmp_path / "card.json"  # a whole card works as --config
    card_file.write_text(capsys.readouterr().out)
    assert main(["train", str(IMAGE), "--labels", str(STROKES), "--from", str(cli_model),
                 "--config", str(card_file), "--steps", "1", "--out", str(out),
                 "--device", "cpu", "-q"]) == 0
    from napari_unet.core.modelfile import read_card

    card = read_card(out)
    assert card["train_config"]["max_steps"] == 1
    assert card["train_config"]["depth"] == 2  # the first run's config is the default
    # one more step on top of the model's history (which includes a starting model's steps)
    before = read_card(cli_model)["training_data"]["steps_total"]
    assert card["training_data"]["steps_total"] == before + 1


def test_a_semantic_model_gives_objects_of_its_structure_class(cli_model, tmp_path):
    from napari_unet.core.io import read_image

    assert main(["predict", str(cli_model), str(IMAGE), "--out", str(tmp_path),
                 "--output", "classes,instances", "-q"]) == 0
    classes = read_image(tmp_path / "em_membranes_image_classes.tif")
    objects = read_image(tmp_path / "em_membranes_image_instances.tif")
    assert objects.shape == classes.shape == (512, 512) and objects.dtype == np.int32
    assert (classes == 2).any()
    assert (objects[classes == 2] > 0).all(), "every structure pixel is in an object"
    assert objects.max() == len(np.unique(objects)) - 1, "objects are numbered 1..N"


def test_a_regression_model_has_no_objects(tmp_path, capsys):
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model = UNet(depth=2, base_channels=4, out_channels=1,
                 meta={"task": "regression", "axes": "YX"}).eval()
    path = save_model(model, tmp_path / "reg.unet.safetensors")
    assert main(["predict", str(path), str(IMAGE), "--out", str(tmp_path / "o"),
                 "--output", "instances", "-q"]) == 2
    assert "regression" in capsys.readouterr().err


def brightness_model(task: str):
    """A hand-built 2D model whose logits follow the smoothed brightness: bright blobs become
    structure (semantic) or interior ringed by boundary (instances), dark is background."""
    import torch

    from napari_unet.core.model import UNet

    model = UNet(depth=2, base_channels=4, out_channels=3 if task == "instances" else 2,
                 norm="none", meta={"task": task, "axes": "YX"})
    box = torch.full((3, 3), 1 / 9)
    with torch.no_grad():
        for weights in model.parameters():
            weights.zero_()
        for block in (model.encoders[0], model.decoders[-1]):  # a blur through the top level
            block[0].weight[0, 0] = box
            block[3].weight[0, 0] = box
        if task == "instances":  # background < 0.3 < boundary < 0.6 < interior
            model.head.weight[1:, 0, 0, 0] = torch.tensor([40.0, 20.0])
            model.head.bias[1:] = torch.tensor([-18.0, -6.0])
        else:
            model.head.weight[1, 0, 0, 0] = 20.0
            model.head.bias[1] = -7.0
    return model.eval()


@pytest.fixture(scope="module")
def z_stack(tmp_path_factory) -> Path:
    """8 slices of the 3D nuclei sample: a few nuclei cut by several slices."""
    path = tmp_path_factory.mktemp("stack") / "stack.tif"
    tifffile.imwrite(path, tifffile.imread(SAMPLES / "nuclei3d_image.tif")[40:48, 20:84, 20:84])
    return path


@pytest.mark.parametrize("task,spacing", [("instances", "3,1,1"), ("semantic", "0.2,1,1")])
@pytest.mark.slow
def test_a_2d_model_on_a_z_stack_gives_the_widgets_3d_objects(z_stack, tmp_path, task,
                                                               spacing):
    """The CLI and the Predict widget's job build objects by one rule: the Z stack is a volume
    (before, the CLI labelled each slice on its own and ignored the pixel size)."""
    from napari_unet._widgets._predict_job import prediction_job
    from napari_unet.core.io import read_image
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.progress import run

    model = brightness_model(task)
    path = save_model(model, tmp_path / f"{task}.unet.safetensors")
    sp = tuple(float(v) for v in spacing.split(","))
    widget = run(prediction_job(model, tifffile.imread(z_stack), axes="ZYX",
                                outputs=("instances",), spacing=sp))["instances"]
    for fmt in ("tif", "zarr"):  # zarr: lazy probabilities, block by block for instances
        assert main(["predict", str(path), str(z_stack), "--out", str(tmp_path / fmt),
                     "--axes", "ZYX", "--spacing", spacing, "--output", "instances",
                     "--format", fmt, "-q"]) == 0
        cli = read_image(tmp_path / fmt / f"stack_instances.{fmt}")[...]
        assert cli.dtype == np.int32 and cli.shape == (8, 64, 64)
        np.testing.assert_array_equal(cli, widget)
    ids = np.unique(widget[widget > 0])
    assert widget.max() == ids.size > max(np.unique(s[s > 0]).size for s in widget)
    assert np.intersect1d(widget[0], widget[1]).size > 1, "objects go on across slices"


def test_predict_spacing_reaches_the_objects(z_stack, tmp_path, monkeypatch):
    """A semantic model splits objects at saddles of a physical height: the pixel size counts."""
    import napari_unet.core.objects.frames as frames
    from napari_unet.core.modelfile import save_model

    path = save_model(brightness_model("semantic"), tmp_path / "m.unet.safetensors")
    seen = []
    build = frames.objects_for_model
    monkeypatch.setattr(frames, "objects_for_model",
                        lambda p, meta, spacing=None: seen.append(spacing) or build(p, meta,
                                                                                   spacing))
    results = []
    for name, extra in (("none", []), ("flat", ["--spacing", "0.2,1,1"])):
        assert main(["predict", str(path), str(z_stack), "--out", str(tmp_path / name),
                     "--axes", "ZYX", "--output", "instances", "-q", *extra]) == 0
        results.append(tifffile.imread(tmp_path / name / "stack_instances.tif"))
    assert seen == [None, (0.2, 1.0, 1.0)]
    assert results[1].max() > results[0].max(), "thin slices: more saddles count as splits"
