"""Losses honour the ignore label, class weights and per-pixel weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from napari_unet.core.training.losses import (
    class_frequency_weights,
    masked_cross_entropy,
    regression_loss,
    segmentation_loss,
    soft_dice_loss,
)


def _logits_target(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    target = torch.randint(0, 3, (2, 8, 8), generator=g)
    return logits, target


def test_cross_entropy_ignores_unpainted_pixels():
    logits, target = _logits_target()
    painted = target.clone()
    painted[:, :4] = -1
    got = masked_cross_entropy(logits, painted)
    m = painted >= 0
    want = F.cross_entropy(logits.permute(0, 2, 3, 1)[m], painted[m])
    torch.testing.assert_close(got, want)
    # what the unpainted pixels hold does not matter
    other = logits.clone()
    other[:, :, :4] = 100.0
    torch.testing.assert_close(masked_cross_entropy(other, painted), got)


def test_class_and_pixel_weights():
    logits, target = _logits_target(1)
    cw = [1.0, 2.0, 0.5]
    got = masked_cross_entropy(logits, target, class_weights=cw)
    torch.testing.assert_close(got, F.cross_entropy(logits, target, weight=torch.tensor(cw)))
    pw = torch.ones(2, 8, 8)
    pw[0] = 3.0
    per = F.cross_entropy(logits, target, reduction="none")
    torch.testing.assert_close(
        masked_cross_entropy(logits, target, pixel_weights=pw), (per * pw).sum() / pw.sum()
    )


def test_nothing_painted_gives_zero_with_a_gradient():
    logits, target = _logits_target()
    logits.requires_grad_(True)
    loss = segmentation_loss(logits, torch.full_like(target, -1))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert logits.grad is not None


def test_soft_dice_is_zero_for_a_perfect_prediction_and_ignores_unpainted():
    _, target = _logits_target(2)
    perfect = F.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert float(soft_dice_loss(perfect, target)) < 1e-3
    wrong = perfect.roll(1, dims=1)
    assert float(soft_dice_loss(wrong, target)) > 0.9
    painted = target.clone()
    painted[:, :, :4] = -1
    spoiled = perfect.clone()
    spoiled[:, :, :, :4] = wrong[:, :, :, :4]  # wrong only where nothing is painted
    assert float(soft_dice_loss(spoiled, painted)) < 1e-3


def test_regression_losses_skip_nan():
    pred = torch.zeros(1, 1, 4, 4)
    t = torch.full((1, 1, 4, 4), 2.0)
    t[..., 0] = float("nan")
    assert float(regression_loss(pred, t, kind="l1")) == pytest.approx(2.0)
    assert float(regression_loss(pred, t, kind="l2")) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        regression_loss(pred, t, kind="huber")
    with pytest.raises(ValueError, match="shape"):
        regression_loss(pred, t[..., :2])


def test_class_frequency_weights_favour_rare_classes():
    w = class_frequency_weights([900, 100, 0], power=1.0)
    assert w[1] > w[0] and w[2] == w[1]
    assert sum(w) / 3 == pytest.approx(1.0)
    assert w[1] / w[0] == pytest.approx(9.0)
    half = class_frequency_weights([900, 100], power=0.5)
    assert half[1] / half[0] == pytest.approx(math.sqrt(9.0))
