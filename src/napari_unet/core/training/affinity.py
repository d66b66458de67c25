"""Learning from the unpainted pixels: a pairwise affinity (CRF-style) loss.

Strokes mark the middle of a structure; where its edge lies (a membrane's width, a nucleus's
rim) no target says. With an affinity weight (``TrainConfig.affinity``, :func:`affinity_weight`:
by default 1 for 2D strokes in runs from random weights) a segment adds, over every pixel of
the batch, the expected disagreement of neighbouring pixels' class probabilities, weighted by
how alike their intensities are and how near they are: a relaxed Potts term, as in the
dense-CRF losses of weakly supervised segmentation (Tang et al. 2018; Obukhov et al. 2019).
Neighbours that look alike are pushed towards one class, so what the strokes teach spreads up
to the intensity edges. No extra forward pass: it reuses the step's logits and input. Written
for this project. Measured in ``benchmarks/bench_strokes.py --ablate``; see RESULTS.md.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

__all__ = ["AUTO_WEIGHT", "RADIUS", "SIGMA_INTENSITY", "SIGMA_SPACE", "affinity_loss",
           "affinity_weight", "neighbour_offsets"]

#: The weight ``TrainConfig.affinity="auto"`` gives where it applies.
AUTO_WEIGHT = 1.0

#: In-plane radius of the neighbourhood, in pixels (3D adds the slices above and below).
RADIUS = {2: 3, 3: 2}
#: Intensity scale of the affinity, in units of the percentile-normalised image (0-1).
SIGMA_INTENSITY = 0.15
#: Distance scale of the affinity, in pixels.
SIGMA_SPACE = 2.0


def affinity_weight(config: Any, data: Any, *, trained_start: bool) -> float:
    """The weight of the affinity term in a run (``config.affinity``).

    ``"auto"``: :data:`AUTO_WEIGHT` for sparse 2D semantic paintings in runs from random
    weights (``trained_start`` False), else 0. From 1 % strokes and random weights it lifted
    DSB nuclei by 0.05-0.09 IoU at 60 s (two runs), ISBI membranes by 0.02-0.03, and moved
    phase-contrast cells by -0.02 to -0.01, within their seed spread; in 3D, where its
    neighbourhood costs about a sixth of the steps, the ovule membranes lost 0.05, and after
    a shipped start it was not measured (benchmarks/RESULTS.md).
    """
    if data.task != "semantic":
        return 0.0
    if config.affinity != "auto":
        return float(config.affinity)
    if trained_start or data.dims != 2 or not data.sparse:
        return 0.0
    return AUTO_WEIGHT


def neighbour_offsets(dims: int, radius: int | None = None) -> list[tuple[int, ...]]:
    """Offsets to the neighbours of a pixel, one of each opposite pair (``dims`` 2 or 3;
    in 3D one slice either way and ``radius`` in-plane)."""
    r = RADIUS[dims] if radius is None else int(radius)
    ranges = [range(-r, r + 1)] * 2 if dims == 2 else [range(-1, 2), *[range(-r, r + 1)] * 2]
    return [o for o in itertools.product(*ranges) if o > (0,) * dims]


def _pair(offset: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices of the pixels and of their neighbours at ``offset`` (over the last axes)."""
    here = tuple(slice(max(0, -o), (-o if o > 0 else None)) for o in offset)
    there = tuple(slice(max(0, o), (o if o < 0 else None)) for o in offset)
    return (..., *here), (..., *there)


def affinity_loss(logits: torch.Tensor, image: torch.Tensor, *,
                  sigma: float = SIGMA_INTENSITY) -> torch.Tensor:
    """Affinity-weighted disagreement of neighbouring pixels' class probabilities.

    Parameters
    ----------
    logits : torch.Tensor
        ``(N, K, *spatial)`` float logits (with gradient), 2 or 3 spatial axes.
    image : torch.Tensor
        ``(N, C, *spatial)`` the network's input at the logits' spatial shape.
    sigma : float
        Intensity scale: neighbours whose intensities differ by ``sigma`` weigh
        ``exp(-1/2)`` of identical ones.

    Returns
    -------
    torch.Tensor
        A scalar in [0, 1]: the affinity-weighted mean of ``1 - p_i . p_j`` over neighbour
        pairs (0 when all alike neighbours agree).
    """
    if logits.shape[2:] != image.shape[2:]:
        raise ValueError(f"affinity_loss: logits {tuple(logits.shape)} and image "
                         f"{tuple(image.shape)} differ in their spatial shape")
    dims = logits.ndim - 2
    probs = torch.softmax(logits, 1)
    image = image.detach().float()
    total = logits.new_zeros(())
    weight = image.new_zeros(())  # summed on the device: no host sync per offset
    for offset in neighbour_offsets(dims):
        a, b = _pair(offset)
        with torch.no_grad():
            w = torch.exp(-((image[a] - image[b]) ** 2).sum(1) / (2 * sigma ** 2))
            w = w * math.exp(-sum(o * o for o in offset) / (2 * SIGMA_SPACE ** 2))
            weight = weight + w.sum()
        agree = (probs[a] * probs[b]).sum(1)
        total = total + (w * (1 - agree)).sum()
    return total / weight.clamp_min(1e-12)
