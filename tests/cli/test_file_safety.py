"""The command line never loses a user's file: outputs are decided and checked before any
work, never replace an input or a folder that is not napari-unet's own, and are moved into
place only when complete. Every test hashes its folder before and after (``guard``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.modelfile import save_model
from tests.core._unet import sensitive_unet

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
IMAGE = SAMPLES / "em_membranes_image.tif"
STROKES = SAMPLES / "em_membranes_strokes.tif"
TINY = {"depth": 2, "base_channels": 4, "patch_shape": [64, 64], "batch_size": 2,
        "max_steps": 2, "val_every": 2, "prior": "off", "start": "none",
        "augment": {"elastic": 0.0, "scale": 0.0}}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A tiny semantic model file (random weights: no training needed)."""
    net = sensitive_unet(1)
    net.meta.update(task="semantic", axes="YX")
    return save_model(net, tmp_path_factory.mktemp("model") / "m.unet.safetensors")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _image(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, rng.random((48, 48), dtype=np.float32))
    else:
        tifffile.imwrite(path, rng.random((48, 48), dtype=np.float32))
    return path


# ------------------------------------------------------------------ export --format bioimageio
def test_export_never_deletes_a_users_folder(model_file, tmp_path, guard, capsys):
    folder = tmp_path / "work"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("years of work")
    (folder / "sub" / "data.csv").write_text("1,2,3")
    guard.arm()
    assert main(["export", str(model_file), "--format", "bioimageio", "--out", str(folder),
                 "-q"]) == 2
    assert "found a folder with other files" in capsys.readouterr().err


def test_export_out_dot_is_refused(model_file, tmp_path, guard, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    guard.arm()
    assert main(["export", str(model_file), "--format", "bioimageio", "--out", ".", "-q"]) == 2
    assert "working folder" in capsys.readouterr().err


def test_export_refuses_its_own_model_as_out(model_file, tmp_path, guard, capsys):
    copy = shutil.copy(model_file, tmp_path / "m.unet.safetensors")
    guard.arm()
    assert main(["export", str(copy), "--format", "torchscript", "--out", str(copy)]) == 2
    assert "is the model being exported" in capsys.readouterr().err


# ------------------------------------------------------------------ train --out
@pytest.mark.parametrize("case", ["image", "labels", "folder", "under_a_file", "other_file"])
def test_train_out_is_checked_before_training(case, tmp_path, guard, config_file, capsys):
    image = Path(shutil.copy(IMAGE, tmp_path / "image.tif"))
    labels = Path(shutil.copy(STROKES, tmp_path / "labels.tif"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    out = {"image": image, "labels": labels, "folder": tmp_path / "folder",
           "under_a_file": tmp_path / "notes.txt" / "m.unet.safetensors",
           "other_file": tmp_path / "notes.txt"}[case]
    guard.arm()
    assert main(["train", str(image), "--labels", str(labels), "--out", str(out),
                 "--config", str(config_file), "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "training a" not in err


def test_train_saves_to_a_stated_fallback_when_saving_fails(tmp_path, guard, config_file,
                                                            monkeypatch, capsys):
    import napari_unet.core.modelfile as modelfile

    real = modelfile.save_model
    out = tmp_path / "out" / "m.unet.safetensors"

    def full_disk(model, path, **card):
        if Path(path) == out:
            raise OSError(28, "No space left on device")
        return real(model, path, **card)

    monkeypatch.setattr(modelfile, "save_model", full_disk)
    monkeypatch.chdir(tmp_path)
    guard.arm(tmp_path / "out")  # the rescued model appears in the working folder: checked below
    assert main(["train", str(IMAGE), "--labels", str(STROKES), "--out", str(out),
                 "--config", str(config_file), "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    rescued = sorted(tmp_path.glob("m.rescued-*.unet.safetensors"))
    assert len(rescued) == 1 and rescued[0].name in err and "No space left" in err
    from napari_unet.core.modelfile import load_model

    assert load_model(rescued[0]).out_channels == 2
    guard.allowed.append(rescued[0])


# ------------------------------------------------------------------ predict outputs
def test_predict_refuses_inputs_that_share_an_output_name(model_file, tmp_path, guard, capsys):
    a, b = _image(tmp_path / "a" / "img.tif"), _image(tmp_path / "b" / "img.tif", 1)
    guard.arm()
    assert main(["predict", str(model_file), str(a), str(b), "--out", str(tmp_path / "res"),
                 "-q"]) == 2
    err = capsys.readouterr().err
    assert str(a) in err and str(b) in err and "different --out" in err


def test_predict_refuses_tif_and_npy_of_one_name(model_file, tmp_path, guard, capsys):
    _image(tmp_path / "data" / "img.tif")
    _image(tmp_path / "data" / "img.npy")
    guard.arm()
    assert main(["predict", str(model_file), str(tmp_path / "data"), "--out",
                 str(tmp_path / "res"), "-q"]) == 2
    assert "expected distinct output names" in capsys.readouterr().err


def test_predict_never_overwrites_an_input(model_file, tmp_path, guard, capsys):
    data = tmp_path / "data"
    _image(data / "a.tif")
    _image(data / "a_classes.tif", 1)  # an input that is also a would-be output
    guard.arm()
    assert main(["predict", str(model_file), str(data), "--out", str(data), "-q"]) == 2
    assert "is also an input" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_a_failing_predict_leaves_earlier_results_untouched(fmt, model_file, tmp_path, guard,
                                                            monkeypatch, capsys):
    image = _image(tmp_path / "img.tif")
    out = tmp_path / "res"
    assert main(["predict", str(model_file), str(image), "--out", str(out), "--format", fmt,
                 "-q"]) == 0
    import importlib

    prediction = importlib.import_module("napari_unet.core.prediction.predict")
    real = prediction.predict

    def failing(*args, **kwargs):
        gen = real(*args, **kwargs)
        yield next(gen)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prediction, "predict", failing)
    guard.arm()
    assert main(["predict", str(model_file), str(image), "--out", str(out), "--format", fmt,
                 "-q"]) == 2
    assert "No space left" in capsys.readouterr().err


def test_predict_replaces_its_own_zarr_result(model_file, tmp_path, guard):
    image = _image(tmp_path / "img.tif")
    out = tmp_path / "res"
    guard.arm(out)  # and nothing else in it: checked below
    for _ in range(2):
        assert main(["predict", str(model_file), str(image), "--out", str(out), "--format",
                     "zarr", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["img_classes.zarr"]


def test_predict_refuses_to_replace_a_folder_that_is_not_a_result(model_file, tmp_path, guard,
                                                                  capsys):
    image = _image(tmp_path / "img.tif")
    mine = tmp_path / "res" / "img_classes.zarr"
    mine.mkdir(parents=True)
    (mine / "precious.txt").write_text("mine")
    guard.arm()
    assert main(["predict", str(model_file), str(image), "--out", str(tmp_path / "res"),
                 "--format", "zarr", "-q"]) == 2
    assert "folder with other files" in capsys.readouterr().err
