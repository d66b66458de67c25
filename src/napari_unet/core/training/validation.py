"""Validation on held-out painted regions: loss and per-class IoU of the network as it is now."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from napari_unet.core.metrics import confusion_counts, iou_from_confusion

#: Most held-out blocks evaluated per validation (dense masks give hundreds).
MAX_VAL_TILES = 32
#: Held-out IoUs closer than this are a tie, and a tie goes to the U-Net. Strokes lie inside
#: objects and background, where a shallow classifier is right (1.0 on the DSB strokes) and so
#: is a good starting model (0.98-0.99, 0.93 on the images nobody painted against the shallow
#: one's 0.77, benchmarks/RESULTS.md): the strokes cannot rank two answers this close, and
#: the U-Net is what Train saves and Predict uses.
STROKE_TIE = 0.03

__all__ = ["STROKE_TIE", "evaluate", "mean_iou", "padded_forward", "unet_matches"]


def mean_iou(values: Any) -> float | None:
    """The mean of the per-class IoUs that exist (None entries: classes absent); None
    without any."""
    vals = [float(v) for v in (values or []) if v is not None]
    return float(np.mean(vals)) if vals else None


def unet_matches(unet: float, shallow: float) -> bool:
    """Whether the U-Net's mean held-out IoU matches the shallow classifier's: reaches it
    less :data:`STROKE_TIE` (the one rule of the preview and the end-of-training warning)."""
    return unet >= shallow - STROKE_TIE


def padded_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run the model on ``x`` padded to a shape it accepts; return logits at ``x``'s shape.

    The input is mirrored (or, when too small to mirror, replicated) at its far end for
    'same' models, and by the network's halo on every side for 'valid' models.
    """
    shape = tuple(int(s) for s in x.shape[2:])
    if getattr(model, "padding", "same") == "valid":
        halo = tuple(model.halo)
        ok = model.valid_input_shape(tuple(s + 2 * h for s, h in zip(shape, halo)))
        pads = [(h, w - s - h) for s, h, w in zip(shape, halo, ok)]
    else:
        ok = model.valid_input_shape(shape)
        pads = [(0, w - s) for s, w in zip(shape, ok)]
    flat = [p for pair in reversed(pads) for p in pair]
    if any(flat):
        small = any(max(p) >= s for p, s in zip(pads, shape))
        x = torch.nn.functional.pad(x, flat, mode="replicate" if small else "reflect")
    y = model(x)
    return y[(slice(None), slice(None), *(slice(0, s) for s in shape))]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    tiles: list,
    *,
    task: str,
    n_classes: int,
    device: torch.device,
    loss_fn,
    amp: bool = False,
) -> tuple[float, list | None]:
    """Validation loss and per-class IoU on held-out tiles (model in eval mode).

    ``tiles`` come from :func:`napari_unet.core.training.sampling.validation_tiles`. Returns
    ``(loss, ious)``; ``ious`` is None for regression.
    """
    was_training = model.training
    model.eval()
    total, weight = 0.0, 0
    cm = np.zeros((n_classes, n_classes), np.int64)
    try:
        for img, tgt, w, _inner in tiles:
            x = torch.from_numpy(img[None]).to(device)
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                out = padded_forward(model, x).float()
            t = torch.from_numpy(tgt[None]).to(device)
            pw = torch.from_numpy(w[None]).to(device) if w is not None else None
            n = int(np.sum(~np.isnan(tgt))) if task == "regression" else int(np.sum(tgt >= 0))
            if n == 0:
                continue
            total += float(loss_fn(out, t, pw)) * n
            weight += n
            if task != "regression":
                pred = out.argmax(1)[0].cpu().numpy()
                cm += confusion_counts(pred, tgt, n_classes)
    finally:
        model.train(was_training)
    if weight == 0:
        return float("nan"), None
    return total / weight, (None if task == "regression" else iou_from_confusion(cm))
