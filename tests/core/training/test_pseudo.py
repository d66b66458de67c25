"""Self-labels on unpainted pixels: which pixels count, how they are weighted, the ramp."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.losses import IGNORE
from napari_unet.core.training.pseudo import RAMP, pseudo_label_loss, pseudo_weight


def test_only_unpainted_confident_pixels_pull_towards_their_prediction():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 1, 0, 0] = 5.0   # confident class 1, unpainted: used
    logits[0, 1, 0, 1] = 0.1   # unsure, unpainted: not used
    logits[0, 1, 0, 2] = 5.0   # confident but painted: the stroke's loss handles it
    logits[0, 0, 0, 3] = 5.0   # confident class 0, unpainted: used
    logits.requires_grad_(True)
    target = torch.tensor([[[IGNORE, IGNORE, 0, IGNORE]]])
    loss = pseudo_label_loss(logits, target, threshold=0.9)
    loss.backward()
    g = logits.grad[0, :, 0]
    assert g[:, 1].abs().sum() == 0 and g[:, 2].abs().sum() == 0
    assert g[1, 0] < 0 < g[0, 0]     # descent raises class 1 at pixel 0
    assert g[0, 3] < 0 < g[1, 3]     # and class 0 at pixel 3
    # per-class mean: one pixel of each class weighs the same as the other
    assert torch.isclose(g[0, 0].abs(), g[0, 3].abs(), rtol=1e-5)


def test_nothing_confident_gives_a_zero_with_gradient():
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    loss = pseudo_label_loss(logits, torch.full((2, 8, 8), IGNORE), threshold=0.9)
    assert float(loss) == 0.0
    loss.backward()


def test_ramp_and_config_checks():
    lo, hi = RAMP
    assert pseudo_weight(0.5, 0) == 0.0 == pseudo_weight(0.5, lo)
    assert pseudo_weight(0.5, (lo + hi) // 2) == pytest.approx(0.25)
    assert pseudo_weight(0.5, hi + 10) == 0.5
    for bad in ({"pseudo_labels": -1}, {"pseudo_labels": float("nan")},
                {"pseudo_threshold": 0.2}, {"pseudo_threshold": 1.5}):
        with pytest.raises(ValueError, match="pseudo"):
            TrainConfig(**bad)
