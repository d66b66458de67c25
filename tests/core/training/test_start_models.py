"""Starting models: used when the data look alike and the strokes agree, not otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core.progress import run
from napari_unet.core.training.start_models import (
    START_DIR,
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
    assert choose_start("semantic", 3, "ZYX", [(em[None], strokes[None])])[0] is None


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
