"""Learning from the unpainted pixels: confident self-labels (an option, off by default).

Strokes cover about 1 % of an image; the other 99 % carry no target. With
``TrainConfig.pseudo_labels`` > 0 a segment adds, for the unpainted pixels of each batch where
the network's own (detached) prediction is confident (max probability >= ``pseudo_threshold``),
a cross-entropy towards that prediction, averaged per predicted class (so the majority class,
usually background, does not drown the others), weighted by ``pseudo_labels`` and ramped in
linearly between :data:`RAMP` steps (the first predictions are noise). No extra forward pass:
it reuses the step's logits. Written for this project (the idea follows self-training with
confident pseudo-labels, e.g. Scribble2Label, Lee et al. 2020, here without the averaged
prediction memory). Measured in ``benchmarks/bench_strokes.py --ablate``; see RESULTS.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from napari_unet.core.training.losses import IGNORE

__all__ = ["RAMP", "pseudo_label_loss", "pseudo_weight"]

#: Steps over which the self-label term is ramped in: off before the first, full after.
RAMP = (100, 300)


def pseudo_weight(weight: float, step: int) -> float:
    """The self-label weight at ``step`` (0 before :data:`RAMP`, ``weight`` after it)."""
    lo, hi = RAMP
    return float(weight) * min(1.0, max(0.0, (step - lo) / (hi - lo)))


def pseudo_label_loss(logits: torch.Tensor, target: torch.Tensor, *,
                      threshold: float = 0.9) -> torch.Tensor:
    """Cross-entropy of unpainted, confidently predicted pixels towards their prediction.

    Parameters
    ----------
    logits : torch.Tensor
        ``(N, K, *spatial)`` float logits (with gradient).
    target : torch.Tensor
        ``(N, *spatial)`` class indices, :data:`~.losses.IGNORE` where not painted.
    threshold : float
        Least max-probability of a pixel that is used.

    Returns
    -------
    torch.Tensor
        A scalar: the mean over predicted classes of their pixels' mean cross-entropy; 0
        (with gradient) when no pixel qualifies.
    """
    with torch.no_grad():
        conf, label = torch.softmax(logits.detach(), 1).max(1)
        use = (target == IGNORE) & (conf >= threshold)
    if not bool(use.any()):
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits, label, reduction="none")
    terms = [ce[use & (label == k)].mean() for k in torch.unique(label[use]).tolist()]
    return torch.stack(terms).mean()
