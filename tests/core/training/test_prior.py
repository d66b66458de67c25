"""The class-prior correction: what it does to posteriors, and which runs get it."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.core.progress import run
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.prior import corrected_classes, frequencies
from napari_unet.core.training.train import TrainConfig, train_segment

TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4}


def _posteriors(rare: float, n: int = 40_000, seed: int = 0):
    """Truth with ``rare`` of class 0 and the posteriors of a classifier that learnt 50/50."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) >= rare).astype(int)  # 0 (rare) or 1
    score = rng.normal(np.where(truth == 1, 1.0, -1.0), 1.0)
    p1 = 1 / (1 + np.exp(-2 * score))
    return truth, np.stack([1 - p1, p1]).reshape(2, 200, n // 200)


def test_corrected_classes_recover_the_frequency_of_a_thin_class():
    truth, probs = _posteriors(rare=0.1)
    truth = truth.reshape(200, -1)
    raw = probs.argmax(0) + 1
    seen = np.array([500.0, 500.0])  # painted 50/50, as strokes over-represent thin classes
    fixed = corrected_classes(probs, seen)
    assert fixed.shape == truth.shape and fixed.dtype == np.uint8
    assert set(np.unique(fixed)) <= {1, 2}
    # the raw answer paints far too much of the thin class; the corrected one about right
    assert (raw == 1).mean() > 0.2
    assert abs((fixed == 1).mean() - 0.1) < abs((raw == 1).mean() - 0.1) / 2
    assert (fixed == truth + 1).mean() > (raw == truth + 1).mean()
    painted, estimated = frequencies(probs.reshape(2, -1), seen)
    assert painted.sum() == pytest.approx(1) and estimated[0] == pytest.approx(0.1, abs=0.03)
    # the estimate may read a strided subset of the pixels: the answer barely changes
    assert (corrected_classes(probs, seen, max_pixels=5000) == fixed).mean() > 0.98


@pytest.fixture(scope="module")
def nuclei(repo_root):
    d = repo_root / "sample_data"
    image = tifffile.imread(d / "fluo_nuclei_image.tif")[100:260, 100:260]
    strokes = tifffile.imread(d / "fluo_nuclei_strokes.tif")[100:260, 100:260]
    return image, strokes


def _trained(config: TrainConfig, pair) -> tuple[Trainer, object]:
    trainer = Trainer(config, [pair], device="cpu")
    return trainer, run(train_segment(trainer))


def test_auto_corrects_runs_from_random_weights_not_from_a_starting_model(nuclei):
    """``prior="auto"``: corrected from random weights, not after a shipped start; "on"
    always; the default ("off") never."""
    small = {"max_steps": 4, "val_every": 4, "seed": 0, "prior": "auto"}
    scratch, model = _trained(TrainConfig(start="none", **small, **TINY), nuclei)
    assert scratch.corrects_prior()  # sparse strokes, random weights: "auto" corrects
    prior = model.meta["class_prior"]
    assert len(prior["painted"]) == len(prior["estimated"]) == 2
    # a copy taken now is what a stop now returns: the same head, corrected the same way
    copy = scratch.model_copy(prior=True)
    assert copy.meta["class_prior"] == prior
    assert copy.head.bias.tolist() == pytest.approx(model.head.bias.tolist(), abs=1e-5)
    assert "class_prior" not in scratch.model_copy().meta
    started, model2 = _trained(TrainConfig(**small), nuclei)  # fluo_nuclei fits
    assert started.start.startswith("starting model fluo_nuclei")
    assert not started.corrects_prior() and "class_prior" not in model2.meta
    forced, model3 = _trained(TrainConfig(**{**small, "prior": "on"}), nuclei)
    assert forced.corrects_prior() and "class_prior" in model3.meta
    off, model4 = _trained(TrainConfig(start="none", max_steps=4, **TINY), nuclei)  # default
    assert not off.corrects_prior() and "class_prior" not in model4.meta
    # continuing a corrected model without the correction: its old estimate is not kept
    again = Trainer(TrainConfig(max_steps=2, **TINY), [nuclei], model=model, device="cpu")
    assert "class_prior" not in run(train_segment(again)).meta
