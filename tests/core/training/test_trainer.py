"""The Trainer: labels that change while it trains, and a Continue that never regresses."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core.progress import run
from napari_unet.core.training.dataset import HELD_OUT, TRAINED
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.train import TrainConfig, train_segment
from napari_unet.core.training.validation import padded_forward

TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4,
        "start": "none"}


@pytest.fixture(scope="module")
def nuclei(repo_root):
    """A 192 x 192 crop of the fluorescence nuclei sample: image, strokes, truth (bool)."""
    d = repo_root / "sample_data"
    image = tifffile.imread(d / "fluo_nuclei_image.tif")[96:288, 96:288]
    strokes = tifffile.imread(d / "fluo_nuclei_strokes.tif")[96:288, 96:288]
    truth = tifffile.imread(d / "fluo_nuclei_truth.tif")[96:288, 96:288] > 0
    return image, strokes, truth


def records_of(gen):
    out: list = []
    model = run(gen, out.append)
    return out, model


def predicted(model, image):
    x = model.normalization.apply(image, model.normalization.stats(image, axes="YX"), axes="YX")
    with torch.no_grad():
        out = padded_forward(model.eval(), torch.from_numpy(x)[None, None])
    return out[0].argmax(0).numpy() + 1


def test_labels_posted_mid_run_reach_the_sampler_and_are_held_out_by_region(nuclei):
    image, strokes, _ = nuclei
    first = strokes.copy()
    first[:, 96:] = 0  # the right half is painted later
    tr = Trainer(TrainConfig(max_steps=30, **TINY), [(image, first)], device="cpu")
    before = tr.painted_pixels()
    old_assignment = tr._assignment[0].copy()
    gen = train_segment(tr)
    phases = []
    for record in gen:
        phases.append(record.phase)
        if record.phase == "train" and record.step == 5:
            tr.update_labels(0, (slice(None), slice(96, None)), strokes[:, 96:])
    assert "labels" in phases  # the update was applied between steps, without a stop
    after = tr.painted_pixels()
    assert sum(after.values()) == int((strokes > 0).sum()) > sum(before.values())
    assert after["train"] > before["train"]
    # earlier choices are kept: what was trained on stays training, held out stays held out
    was = old_assignment > 0
    assert np.array_equal(tr._assignment[0][was], old_assignment[was])
    # the new strokes are split by whole regions, not pixel by pixel
    new = tr._assignment[0][:, 96:]
    assert (new == TRAINED).any()
    if (new == HELD_OUT).any():
        rows = np.flatnonzero((new == HELD_OUT).any(1))
        assert rows.size >= 8  # a held-out region is a block, half a patch wide
    # the sampler draws from the new strokes too
    centres = np.concatenate([tr.sampler.sample(64)[1] for _ in range(4)])
    assert centres.size > 0


@pytest.mark.slow
def test_a_class_first_painted_mid_run_is_learnt(nuclei):
    image, strokes, _ = nuclei
    two = np.where(strokes == 2, 2, np.where(strokes == 1, 1, 0)).astype(np.uint8)
    # class 3: the brightest pixels, painted only after the run has started
    bright = image > np.percentile(image, 99.5)
    three = two.copy()
    three[bright & (two == 0)] = 3
    config = TrainConfig(max_steps=120, lr=1e-2, val_fraction=0, **TINY)
    tr = Trainer(config, [(image, two)], device="cpu")
    assert tr.net.out_channels == 2
    gen = train_segment(tr)
    for record in gen:
        if record.step == 10 and record.phase == "train":
            tr.update_labels(0, None, three)
    model = tr.model_copy()
    assert model.out_channels == 3 and tr.names[2] == "class 3"
    assert any("grew from 2 to 3" in n for n in tr.notes)
    pred = predicted(model, image)
    assert (pred[bright] == 3).mean() > 0.5


@pytest.mark.slow
def test_continue_keeps_steps_schedule_and_never_ends_worse(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=40, lr=1e-2, warmup_steps=10, seed=2, **TINY)
    tr = Trainer(config, [(image, strokes)], device="cpu")
    first, m1 = records_of(train_segment(tr))
    second, m2 = records_of(train_segment(tr))
    steps = [r.step for r in first + second if r.phase == "train"]
    assert steps == list(range(1, 81))  # one step axis across Stop/Continue
    lrs = [r.lr for r in second if r.phase == "train"]
    # no second warm-up at the full rate: the continued schedule starts below the base rate
    # and decays; the first step of the continuation is not a warm-up step
    assert lrs[0] < config.lr * 0.6 and lrs[0] > lrs[-1]
    assert lrs[0] > config.lr / config.warmup_steps
    assert m2.meta["training"]["steps"] == 80 and m2.meta["training"]["segments"] == 2
    assert m2.meta["training"]["start_model_steps"] == 0
    # the kept weights after Continue are no worse on the held-out strokes than before it
    assert m2.meta["validation"]["loss"] <= m1.meta["validation"]["loss"] + 1e-6


@pytest.mark.slow
def test_a_continue_that_would_regress_gives_its_weights_back(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=60, lr=1e-2, seed=0, **TINY)
    tr = Trainer(config, [(image, strokes)], device="cpu")
    _, m1 = records_of(train_segment(tr))
    before = {k: v.clone() for k, v in tr.net.state_dict().items()}
    draw = tr.sampler.sample

    def swapped(n):  # a continuation that learns the classes the wrong way round
        x, y, w = draw(n)
        return x, np.where(y >= 0, 1 - y, y), w

    tr.sampler.sample = swapped
    _, m2 = records_of(train_segment(tr, max_steps=30))
    assert m2.meta["validation"]["loss"] <= m1.meta["validation"]["loss"] + 1e-6
    assert "before Continue" in m2.meta["training"]["weights"]
    assert all(torch.equal(before[k], v) for k, v in tr.net.state_dict().items())


def test_update_labels_checks_its_input(nuclei):
    image, strokes, _ = nuclei
    tr = Trainer(TrainConfig(max_steps=2, **TINY), [(image, strokes)], device="cpu")
    with pytest.raises(ValueError, match="pair index"):
        tr.update_labels(3, None, strokes)
    tr.update_labels(0, None, strokes[:10])
    with pytest.raises(ValueError, match="expected shape"):
        tr.apply_label_updates()


def test_a_non_finite_loss_stops_with_the_last_finite_weights(nuclei):
    image, strokes, _ = nuclei
    tr = Trainer(TrainConfig(max_steps=5, **TINY), [(image, strokes)], device="cpu")
    run(train_segment(tr))
    before = {k: v.clone() for k, v in tr.net.state_dict().items()}
    draw = tr.sampler.sample

    def poisoned(n):  # an image with a NaN: the loss cannot be finite
        x, y, w = draw(n)
        x[:] = np.nan
        return x, y, w

    tr.sampler.sample = poisoned
    records, model = records_of(train_segment(tr))
    assert tr.steps == 5, "the NaN step was not counted"
    assert "NaN" in records[-2].message and "last finite weights" in tr.notes[-1]
    assert all(torch.equal(before[k], v) for k, v in tr.net.state_dict().items())
    assert all(torch.isfinite(v).all() for v in model.state_dict().values()
               if v.is_floating_point())


def test_start_anchor_pulls_a_starting_model_back_to_its_weights(nuclei):
    image, strokes, _ = nuclei
    tiny = {**TINY, "start": "fluo_nuclei"}

    def fine_tuned(anchor: float) -> tuple[dict, dict]:
        cfg = TrainConfig(max_steps=5, start_anchor=anchor, val_fraction=0.0, **tiny)
        tr = Trainer(cfg, [(image, strokes)], device="cpu")
        assert tr.start.startswith("starting model fluo_nuclei")
        start = {n: p.detach().clone() for n, p in tr.net.named_parameters()}
        run(train_segment(tr))
        return start, dict(tr.net.named_parameters())

    start, free = fine_tuned(0.0)
    assert any(not torch.equal(start[n], p) for n, p in free.items())
    start, held = fine_tuned(1e9)  # a pull of the whole way after every step
    assert all(torch.allclose(start[n], p) for n, p in held.items())
    # a user's own model is not pulled back
    from napari_unet.core.model import UNet
    given = UNet(depth=2, base_channels=8)
    cfg = TrainConfig(max_steps=5, start_anchor=1e9, val_fraction=0.0, **TINY)
    tr = Trainer(cfg, [(image, strokes)], model=given, device="cpu")
    assert not tr.anchor
    with pytest.raises(ValueError, match="start_anchor"):
        TrainConfig(start_anchor=-1)
