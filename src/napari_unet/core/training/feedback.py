"""Honest feedback after training: what a user must know before trusting the model."""

from __future__ import annotations

from typing import Any

from napari_unet.core.training.validation import mean_iou, unet_matches

__all__ = ["training_warnings"]

#: A class whose held-out IoU is below this is "not learnt yet".
NOT_LEARNT_IOU = 0.1


def training_warnings(meta: dict[str, Any], out_channels: int,
                      preview_classes: set[int] | None = None) -> list[str]:
    """What a user must know before trusting a trained model (empty: nothing).

    Parameters
    ----------
    meta : dict
        The model's metadata (``model.meta``) as training filled it.
    out_channels : int
        The model's outputs (classes).
    preview_classes : set of int, optional
        The class values the last live preview showed.

    Returns
    -------
    list of str
        One sentence per problem, each saying what to do: no held-out strokes to score the
        model, a class whose held-out IoU is near 0, a preview that shows a single class, a
        U-Net that still scores below the live preview's shallow classifier on the held-out
        strokes (``meta["training"]["shallow_iou"]``, beyond :data:`~.validation.STROKE_TIE`):
        the preview looked better than what Predict will give.
    """
    if meta.get("task") == "regression":
        return []
    out = []
    validation = meta.get("validation") or {}
    iou = validation.get("iou") or {}
    if not validation:
        out.append("no validation yet: paint more strokes (some are held out to score the "
                   "model)")
    for name, value in iou.items():
        if value is not None and value < NOT_LEARNT_IOU:
            out.append(f"{name!r} is not learnt yet (held-out IoU {value:.2f}): paint more "
                       "of it where the preview is wrong, then Continue")
    shallow = (meta.get("training") or {}).get("shallow_iou")
    unet = mean_iou(iou.values())
    if shallow is not None and unet is not None and not unet_matches(unet, shallow):
        out.append(f"the quick classifier of the preview still beats the U-Net on the "
                   f"held-out strokes (mean IoU {shallow:.2f} against {unet:.2f}), and "
                   "Predict uses the U-Net: Continue training, or paint more where the "
                   "preview is wrong")
    if preview_classes is not None and len(preview_classes) == 1 and out_channels > 1:
        out.append("the preview shows a single class: paint the other classes where it "
                   "is wrong")
    return out
