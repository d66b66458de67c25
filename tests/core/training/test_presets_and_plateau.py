"""Size presets in steps, and early stopping when the held-out strokes stop improving."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.progress import run
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.presets import PRESETS, describe_preset, preset_settings
from napari_unet.core.training.segment import Plateau
from napari_unet.core.training.train import train_segment


def test_presets_are_step_budgets_with_a_cap_and_early_stopping():
    for name in PRESETS:
        for dims in (2, 3):
            cfg = TrainConfig(dims=dims, axes="YX" if dims == 2 else "ZYX",
                              **preset_settings(name, dims))
            assert cfg.max_steps and cfg.max_seconds and cfg.patience
            assert len(cfg.patch_shape) == dims
    # bigger presets buy more steps
    steps = [PRESETS[n].steps(2) for n in PRESETS]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    words = describe_preset("fast", 2, steps_per_s=12.0)
    assert "600 steps" in words and "about 50 s" in words and "stops early" in words
    with pytest.raises(ValueError, match="expected one of fast"):
        preset_settings("huge", 2)


def test_patience_is_checked():
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="patience"):
            TrainConfig(patience=bad)


def test_plateau_counts_only_validations_without_progress():
    p = Plateau(2)
    assert not p.update(1.0, 10, counting=True)        # first: the best
    assert not p.update(0.5, 20, counting=True)        # progress
    assert not p.update(0.499, 30, counting=True)      # < 1 %: no progress (1 of 2)
    assert p.update(0.6, 40, counting=True)            # 2 of 2: stop
    assert p.best_step == 20 and "step 20" in p.words(40)
    p.reset()
    assert not p.update(5.0, 50, counting=True)        # new strokes: a new scale
    assert not p.update(5.0, 60, counting=False)       # too early to count
    assert not p.update(5.0, 70, counting=True)
    q = Plateau(None)                                  # no patience: never stops
    assert not any(q.update(1.0, s, counting=True) for s in range(10))


@pytest.mark.slow
def test_training_on_noise_stops_early_and_says_why():
    """Random strokes on noise: nothing to learn, so the held-out loss stays flat."""
    rng = np.random.default_rng(0)
    image = rng.normal(size=(96, 96)).astype(np.float32)
    strokes = np.zeros((96, 96), np.uint8)
    strokes[::3, ::3] = rng.integers(1, 3, size=strokes[::3, ::3].shape)
    cfg = TrainConfig(max_steps=1500, val_every=25, patience=2, depth=2, base_channels=4,
                      patch_shape=[32, 32], batch_size=2, start="none", val_fraction=0.3)
    tr = Trainer(cfg, [(image, strokes)], device="cpu")
    records: list = []
    model = run(train_segment(tr), records.append)
    assert tr.steps < 1500
    assert tr.steps >= 300  # counted only after a fifth of the budget
    assert "stopped early" in records[-1].message
    assert model.meta["training"]["stopped_early"].startswith("stopped early at step")
