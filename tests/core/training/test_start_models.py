"""Starting models: used when the data look alike and the strokes agree, not otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core.model import UNet
from napari_unet.core.modelfile import load_model, save_model
from napari_unet.core.prediction.predict import predict_image
from napari_unet.core.progress import run
from napari_unet.core.training.start_models import (
    START_DIR,
    adapt_in_channels,
    available,
    choose_start,
    distance,
    load_start_model,
    signature,
)
from napari_unet.core.training.train import TrainConfig, train
from napari_unet.core.training.validation import padded_forward


@pytest.fixture(scope="module")
def samples(repo_root):
    d = repo_root / "sample_data"
    read = lambda name: tifffile.imread(d / name)  # noqa: E731
    em = (
        read("em_membranes_image.tif"),
        read("em_membranes_strokes.tif"),
        read("em_membranes_truth.tif"),
    )
    fluo = (read("fluo_nuclei_image.tif"), read("fluo_nuclei_strokes.tif"))
    return em, fluo


def test_signature_tells_em_from_fluorescence(samples):
    (em, _, _), (fluo, _) = samples
    quarters = [em[:256, :256], em[:256, 256:], em[256:, :256], em[256:, 256:]]
    sig = signature(quarters)
    assert sig["n"] == 4 and len(sig["mean"]) == len(sig["std"]) == 9
    assert distance(sig, em) < 3.0
    assert distance(sig, fluo) > 3.0


def test_the_shipped_em_model_is_small_and_segments_membranes(samples):
    assert "em_membranes" in available()
    model, info = load_start_model("em_membranes")
    assert sum(p.numel() for p in model.parameters()) < 1_500_000  # float16: < 3 MB on disk
    assert (START_DIR / "em_membranes.safetensors").stat().st_size < 3 << 20
    assert info["class_names"] == ["interior", "membrane"] and "recipe" in info
    (em, _, truth), _ = samples
    x = model.normalization.apply(em, model.normalization.stats(em, axes="YX"), axes="YX")
    with torch.no_grad():
        pred = padded_forward(model.eval(), torch.from_numpy(x)[None, None])[0].argmax(0)
    membrane, true = pred.numpy() == 1, truth == 2
    assert (membrane & true).sum() / (membrane | true).sum() > 0.5


@pytest.mark.slow
def test_choose_start_follows_the_strokes_and_refuses_other_data(samples):
    (em, strokes, _), (fluo, fstrokes) = samples
    model, why = choose_start("semantic", 2, "YX", [(em, strokes)])
    assert model is not None and "em_membranes" in why and "[0, 1]" in why
    swapped = np.where(strokes > 0, 3 - strokes, 0).astype(np.uint8)  # 1 = membrane now
    model2, why2 = choose_start("semantic", 2, "YX", [(em, swapped)])
    assert model2 is not None and "[1, 0]" in why2
    ref, _ = load_start_model("em_membranes")
    torch.testing.assert_close(model2.head.bias, ref.head.bias.flip(0))
    none, reason = choose_start("semantic", 2, "YX", [(fluo, fstrokes)], names=["em_membranes"])
    assert none is None and "look different" in reason
    # of the shipped models, the nuclei one fits fluorescence nuclei (and the EM one does not)
    nuclei, why3 = choose_start("semantic", 2, "YX", [(fluo, fstrokes)])
    assert nuclei is not None and why3.startswith("fluo_nuclei") and "also fit" not in why3
    assert choose_start("instances", 2, "YX", [(em, strokes)])[0] is None
    # a 3D volume is judged on its painted slices and gets the 2D model inflated to 3D,
    # which starts as the 2D model on each slice
    vol = np.stack([em, em[::-1], em])
    vpaint = np.stack([np.zeros_like(strokes), strokes[::-1], np.zeros_like(strokes)])
    model3, why4 = choose_start("semantic", 3, "ZYX", [(vol, vpaint)])
    assert model3 is not None and model3.dims == 3 and "inflated to 3D" in why4
    assert why4.startswith("em_membranes")
    crop = torch.from_numpy(np.ascontiguousarray(vol[:, :64, :64], np.float32) / 255)
    m2 = model.eval()
    with torch.no_grad():
        y3 = model3.eval()(crop[None, None])
        y2 = torch.stack([m2(crop[z][None, None]) for z in range(3)], 2)
    torch.testing.assert_close(y3, y2, atol=1e-4, rtol=1e-4)
    assert choose_start("semantic", 3, "TZYX", [(vol[None], vpaint[None])])[0] is None


def _model(gen):
    return run(gen)


def test_train_starts_from_it_by_default_and_not_when_told(samples):
    (em, strokes, _), _ = samples
    pair = [(em[:256, :256], strokes[:256, :256])]
    small = {"max_steps": 2, "batch_size": 2, "patch_shape": [64, 64], "val_fraction": 0.0}
    model = _model(train(TrainConfig(**small), pair, device="cpu"))
    assert model.meta["training"]["start"].startswith("starting model em_membranes")
    scratch = _model(train(TrainConfig(**small, start="none"), pair, device="cpu"))
    assert scratch.meta["training"]["start"] == "random weights"


# ---------------------------------------------------------------- multichannel images


def _forward(model, image, axes):
    """Logits of ``model`` on a whole (C)YX image, normalised by the model's rule."""
    norm = model.normalization
    x = torch.from_numpy(norm.apply(image, norm.stats(image, axes=axes), axes=axes))
    with torch.no_grad():
        return padded_forward(model.eval(), x[None, None] if x.ndim == 2 else x[None])


def test_adapt_in_channels_equals_the_one_channel_model_and_round_trips(samples):
    _, (fluo, _) = samples
    crop = fluo[100:260, 100:260]
    ref, _ = load_start_model("fluo_nuclei")
    model, _ = load_start_model("fluo_nuclei")
    assert adapt_in_channels(model, 3) is model
    first = model.encoders[0][0]
    assert model.in_channels == 3 and tuple(first.weight.shape[:2]) == (16, 3)
    torch.testing.assert_close(first.weight, ref.encoders[0][0].weight.expand(-1, 3, -1, -1) / 3)
    assert model.config["in_channels"] == 3 and model.meta["axes"] == "CYX"
    assert model.normalization == ref.normalization
    want = _forward(ref, crop, "YX")
    got = _forward(model, np.stack([crop] * 3), "CYX")
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # the config rebuilds it; its state dict fills the rebuilt one
    clone = UNet.from_config(model.config)
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(_forward(clone, np.stack([crop] * 3), "CYX"), got)
    with pytest.raises(ValueError, match="one-channel model"):
        adapt_in_channels(model, 2)
    assert adapt_in_channels(ref, 1) is ref and ref.in_channels == 1


def _three_channels(image, axes):
    """The image in three channels scaled a little differently, the channel axis as in
    ``axes`` (``"CYX"`` or ``"YXC"``)."""
    cyx = np.stack([image, image * 0.8, image * 0.5 + 10]).astype(np.float32)
    return cyx if axes == "CYX" else np.moveaxis(cyx, 0, -1)


def test_choose_start_adapts_to_three_channels(samples):
    _, (fluo, fstrokes) = samples
    # strokes from a threshold: every 6th row of "bright = nucleus, else background"
    mask = np.where(fluo > np.percentile(fluo, 80), 2, 1).astype(np.uint8)
    paint = np.zeros_like(mask)
    paint[::6] = mask[::6]
    for axes in ("YXC", "CYX"):
        model, why = choose_start("semantic", 2, axes, [(_three_channels(fluo, axes), paint)])
        assert model is not None and model.in_channels == 3, why
        assert why.startswith("fluo_nuclei (") and "first layer adapted to 3 channels" in why
    # time-lapse with a channel axis: the painted frame is the one judged
    tcyx = np.stack([np.zeros_like(_three_channels(fluo, "CYX")), _three_channels(fluo, "CYX")])
    tpaint = np.stack([np.zeros_like(paint), paint])
    model, why = choose_start("semantic", 2, "TCYX", [(tcyx, tpaint)])
    assert model is not None and model.in_channels == 3 and "adapted to 3" in why
    # the EM model does not fit three-channel nuclei either
    none, reason = choose_start("semantic", 2, "YXC", [(_three_channels(fluo, "YXC"), paint)],
                                names=["em_membranes"])
    assert none is None and "look different" in reason
    # one channel: as before, no adaptation
    one, why1 = choose_start("semantic", 2, "YX", [(fluo, fstrokes)], names=["fluo_nuclei"])
    assert one.in_channels == 1
    assert why1 == ("fluo_nuclei (distance 1.0, balanced accuracy on the strokes 0.99, "
                    "class order [0, 1])")
    # 3D stays without a starting model, channels or not
    # and a 3-channel volume gets both: the first layer adapted, the model inflated to 3D
    m3, why3 = choose_start("semantic", 3, "CZYX", [(np.moveaxis(tcyx, 0, 1), tpaint)])
    assert m3.dims == 3 and m3.in_channels == 3
    assert "adapted to 3 channels" in why3 and "inflated to 3D" in why3


def test_train_on_an_rgb_image_starts_from_the_adapted_model(samples, tmp_path, repo_root):
    _, (fluo, fstrokes) = samples
    image, strokes = _three_channels(fluo[:192, :192], "YXC"), fstrokes[:192, :192]
    small = {"max_steps": 2, "batch_size": 2, "patch_shape": [64, 64], "val_fraction": 0.0}
    model = _model(train(TrainConfig(axes="YXC", **small), [(image, strokes)], device="cpu"))
    start = model.meta["training"]["start"]
    assert start.startswith("starting model fluo_nuclei") and "adapted to 3 channels" in start
    assert model.in_channels == 3 and model.meta["axes"] == "YXC"
    back = load_model(save_model(model, tmp_path / "rgb.unet.safetensors"))
    assert back.in_channels == 3
    classes = predict_image(back, image, axes="YXC", output="classes", device="cpu")
    assert classes.shape == image.shape[:2] and set(np.unique(classes)) <= {1, 2}
    truth = tifffile.imread(repo_root / "sample_data" / "fluo_nuclei_truth.tif")
    nuclei, true = classes == 2, truth[:192, :192] > 0
    assert (nuclei & true).sum() / (nuclei | true).sum() > 0.6  # the start model's skill
