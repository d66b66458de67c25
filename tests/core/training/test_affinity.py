"""The affinity (CRF-style) term: which neighbours it compares and where it pulls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core.progress import run
from napari_unet.core.training.affinity import AUTO_WEIGHT, affinity_loss, neighbour_offsets
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.train import train_segment


def test_each_neighbour_pair_is_compared_once():
    for dims, radius, n in ((2, 1, 4), (2, 3, 24), (3, 1, 13), (3, 2, 37)):
        offsets = neighbour_offsets(dims, radius)
        assert len(offsets) == n
        assert not set(offsets) & {tuple(-o for o in off) for off in offsets}
        assert all(len(o) == dims and any(o) for o in offsets)


def _halves(edge_at: int) -> torch.Tensor:
    """Confident two-class logits on a 1 x 16 x 16 image: class 0 left of ``edge_at``."""
    logits = torch.full((1, 2, 16, 16), -8.0)
    logits[0, 0, :, :edge_at] = 8.0
    logits[0, 1, :, edge_at:] = 8.0
    return logits


def test_a_boundary_on_an_intensity_edge_costs_less_than_one_across_a_flat_region():
    image = torch.zeros(1, 1, 16, 16)
    image[..., 8:] = 1.0   # an edge between columns 7 and 8
    on_edge = affinity_loss(_halves(8), image)
    off_edge = affinity_loss(_halves(4), image)
    assert float(on_edge) < 1e-3 < float(off_edge)
    uniform = torch.zeros(1, 2, 16, 16)
    uniform[:, 0], uniform[:, 1] = 8.0, -8.0
    assert float(affinity_loss(uniform, image)) < 1e-5  # one class everywhere: agreement


def _pull(image: torch.Tensor) -> torch.Tensor:
    """Gradient of the term on a 1 x 16 row: class 0 painted-like at 0-3, unsure at 4-7,
    class 1 at 8-15."""
    logits = torch.zeros(1, 2, 1, 16)
    logits[0, 0, 0, :4], logits[0, 1, 0, 8:] = 6.0, 6.0
    logits.requires_grad_(True)
    affinity_loss(logits, image).backward()
    return logits.grad[0, :, 0]


def test_labels_spread_through_alike_pixels_and_stop_at_an_edge():
    flat = torch.zeros(1, 1, 1, 16)
    edge = flat.clone()
    edge[..., 8:] = 1.0
    g = _pull(edge)
    assert float(g[0, 4]) < 0 < float(g[1, 4])   # descent raises class 0 next to its pixels
    assert float(g[1, 7]) > -1e-6                # and nothing raises class 1 before the edge
    g = _pull(flat)
    assert float(g[1, 7]) < 0                    # without the edge class 1 spreads in too


def test_volumes_and_bad_input():
    logits = torch.randn(2, 3, 4, 8, 8, requires_grad=True)
    loss = affinity_loss(logits, torch.rand(2, 1, 4, 8, 8))
    loss.backward()
    assert 0.0 < float(loss.detach()) < 1.0 and logits.grad is not None
    with pytest.raises(ValueError, match="spatial shape"):
        affinity_loss(torch.zeros(1, 2, 8, 8), torch.zeros(1, 1, 6, 6))
    for bad in (-0.5, float("inf"), "on", True):
        with pytest.raises(ValueError, match="affinity"):
            TrainConfig(max_steps=1, affinity=bad)


def test_auto_weighs_sparse_2d_strokes_from_random_weights_only(nuclei, tiny):
    image, strokes, truth = nuclei
    tr = Trainer(TrainConfig(max_steps=1, **tiny), [(image, strokes)], device="cpu")
    records = []
    model = run(train_segment(tr), records.append)
    assert tr.affinity == AUTO_WEIGHT
    assert "affinity term 1" in next(r for r in records if r.phase == "prepare").message
    assert model.meta["training"]["affinity"] == AUTO_WEIGHT
    # a given (trained) model: not by default, unless asked for
    again = Trainer(TrainConfig(max_steps=1, **tiny), [(image, strokes)], model=model,
                    device="cpu")
    assert again.affinity == 0.0
    asked = Trainer(TrainConfig(max_steps=1, **{**tiny, "affinity": 0.5}), [(image, strokes)],
                    model=model, device="cpu")
    assert asked.affinity == 0.5
    # dense masks: nothing between strokes to spread into
    dense = Trainer(TrainConfig(max_steps=1, **tiny), [(image, truth.astype(np.uint8) + 1)],
                    device="cpu")
    assert dense.affinity == 0.0
