"""Losses that honour the ignore label: masked cross-entropy, soft Dice, L1/L2 regression.

Targets hold class indices with ``-1`` = not painted (ignored); regression targets hold NaN
where there is nothing to learn. Only labelled pixels count, so a few strokes train a model
the same way a dense mask does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

IGNORE = -1


def masked_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    class_weights: Sequence[float] | torch.Tensor | None = None,
    pixel_weights: torch.Tensor | None = None,
    ignore_index: int = IGNORE,
) -> torch.Tensor:
    """Cross-entropy over the labelled pixels.

    Parameters
    ----------
    logits : torch.Tensor
        ``(N, K, *spatial)``.
    target : torch.Tensor
        Integer ``(N, *spatial)``, ``ignore_index`` where not labelled.
    class_weights : sequence of float or None
        One weight per class.
    pixel_weights : torch.Tensor or None
        ``(N, *spatial)`` weights (e.g. the instance border map).

    Returns
    -------
    torch.Tensor
        Scalar: the weighted mean over labelled pixels (0 with a gradient when none are).
    """
    target = target.long()
    mask = target != ignore_index
    safe = torch.where(mask, target, torch.zeros_like(target))
    cw = None
    if class_weights is not None:
        cw = torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device)
    per = F.cross_entropy(logits.float(), safe, weight=None, reduction="none")
    w = mask.to(per.dtype)
    if cw is not None:
        w = w * cw.float()[safe]
    if pixel_weights is not None:
        w = w * pixel_weights.to(per.dtype)
    denom = w.sum()
    if denom <= 0:
        return logits.sum() * 0.0
    return (per * w).sum() / denom


def soft_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = IGNORE,
    smooth: float = 1.0,
    classes: Sequence[int] | None = None,
) -> torch.Tensor:
    """1 - mean soft Dice over classes, computed on labelled pixels only.

    The softmax probabilities and the one-hot target are both masked by the labelled pixels,
    so unpainted pixels neither add false positives nor missed pixels. Classes absent from
    the batch's labels and predictions contribute a Dice of 1 through ``smooth``.

    Returns
    -------
    torch.Tensor
        Scalar in [0, 1].
    """
    target = target.long()
    k = logits.shape[1]
    mask = (target != ignore_index).unsqueeze(1).to(torch.float32)
    if mask.sum() == 0:
        return logits.sum() * 0.0
    prob = torch.softmax(logits.float(), dim=1) * mask
    safe = torch.where(target == ignore_index, torch.zeros_like(target), target)
    onehot = F.one_hot(safe, k).movedim(-1, 1).to(torch.float32) * mask
    dims = (0, *range(2, logits.ndim))
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (denom + smooth)
    if classes is not None:
        dice = dice[list(classes)]
    return 1.0 - dice.mean()


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    dice_weight: float = 0.5,
    class_weights: Sequence[float] | torch.Tensor | None = None,
    pixel_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Masked cross-entropy plus ``dice_weight`` times the soft Dice loss."""
    loss = masked_cross_entropy(
        logits, target, class_weights=class_weights, pixel_weights=pixel_weights
    )
    if dice_weight > 0:
        loss = loss + dice_weight * soft_dice_loss(logits, target)
    return loss


def regression_loss(pred: torch.Tensor, target: torch.Tensor, *, kind: str = "l1") -> torch.Tensor:
    """L1 or L2 loss over the pixels where ``target`` is not NaN.

    Parameters
    ----------
    pred, target : torch.Tensor
        Same shape ``(N, C, *spatial)``.
    kind : str
        ``"l1"`` (mean absolute error) or ``"l2"`` (mean squared error).
    """
    if kind not in ("l1", "l2"):
        raise ValueError(f"regression loss kind must be 'l1' or 'l2', got {kind!r}")
    if pred.shape != target.shape:
        raise ValueError(
            f"regression: prediction shape {tuple(pred.shape)} and target shape "
            f"{tuple(target.shape)} differ"
        )
    mask = ~torch.isnan(target)
    if not mask.any():
        return pred.sum() * 0.0
    diff = pred.float()[mask] - target.float()[mask]
    return diff.abs().mean() if kind == "l1" else (diff * diff).mean()


def class_frequency_weights(counts: Sequence[int], *, power: float = 0.5) -> list[float]:
    """Class weights ``(mean count / count) ** power``, normalised to a mean of 1.

    ``power=1`` fully balances the classes, ``0.5`` (the default) halfway; absent classes get
    the largest weight given to a present one.
    """
    c = torch.as_tensor(list(counts), dtype=torch.float64)
    present = c > 0
    if not present.any():
        return [1.0] * len(c)
    w = torch.zeros_like(c)
    w[present] = (c[present].mean() / c[present]) ** power
    w[~present] = w[present].max()
    w = w / w.mean()
    return [float(v) for v in w]


def loss_function(config: Any, data: Any) -> Callable[[torch.Tensor, torch.Tensor, Any],
                                                    torch.Tensor]:
    """The loss of a run: ``loss(logits, target, pixel_weights)`` for its task and config."""
    if config.task == "regression":
        kind = config.regression_loss
        return lambda out, t, w: regression_loss(out, t, kind=kind)
    cw = config.class_weights
    if cw == "balanced":
        cw = class_frequency_weights(data.class_counts)
    elif isinstance(cw, str):
        raise ValueError(f"class_weights: expected a list, 'balanced' or None, found {cw!r}")
    if cw is not None and len(cw) != data.n_classes:
        raise ValueError(f"class_weights: expected {data.n_classes} values (one per class), "
                         f"found {len(cw)}")
    dice = config.dice_weight
    return lambda out, t, w: segmentation_loss(
        out, t, dice_weight=dice, class_weights=cw, pixel_weights=w
    )
