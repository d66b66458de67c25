"""``napari-unet evaluate``: scores as JSON on stdout."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from napari_unet.cli._common import BadInput


def _num(v: Any) -> Any:
    v = float(v)
    return None if math.isnan(v) else round(v, 6)


def _semantic(pairs: list[tuple[str, np.ndarray, str, np.ndarray]]) -> dict[str, Any]:
    from napari_unet.core.metrics import check_class_count, class_scores, confusion_matrix

    values: set[int] = set()
    for _, p, _, t in pairs:
        values.update(int(c) for c in np.union1d(np.unique(p), np.unique(t)) if c)
        check_class_count(len(values), what="evaluate --task semantic: predictions and truths")
    classes = sorted(values)
    total = np.zeros((len(classes) + 1, len(classes) + 1), np.int64)  # + "other" row/column
    images = []
    for pname, pred, tname, true in pairs:
        s = class_scores(pred, true, classes=classes, ignore=0)
        total += confusion_matrix(pred, true, classes=classes, ignore=0)
        images.append({"prediction": pname, "truth": tname,
                       "iou": {str(c): _num(v) for c, v in zip(s["class"], s["iou"])},
                       "dice": {str(c): _num(v) for c, v in zip(s["class"], s["dice"])}})
    k = len(classes)
    tp = np.diag(total)[:k].astype(float)
    fp = total[:, :k].sum(axis=0) - tp
    fn = total[:k].sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
    return {
        "task": "semantic",
        "classes": classes,
        "iou": {str(c): _num(v) for c, v in zip(classes, iou)},
        "dice": {str(c): _num(v) for c, v in zip(classes, dice)},
        "mean_iou": _num(np.nanmean(iou)) if k and not np.isnan(iou).all() else None,
        "support": {str(c): int(v) for c, v in zip(classes, total[:k].sum(axis=1))},
        "images": images,
    }


def _instances(pairs: list[tuple[str, np.ndarray, str, np.ndarray]]) -> dict[str, Any]:
    from napari_unet.core.metrics import adapted_rand_error, match_dataset, match_instances

    thresholds = (0.5, 0.75, 0.9)
    images = []
    for pname, pred, tname, true in pairs:
        m = match_instances(pred, true, thresholds=0.5)[0].to_dict()
        err, _, _ = adapted_rand_error(pred, true)
        images.append({"prediction": pname, "truth": tname,
                       **{k: (_num(v) if isinstance(v, float) else v) for k, v in m.items()},
                       "adapted_rand_error": _num(err)})
    overall = match_dataset([p for _, p, _, _ in pairs], [t for _, _, _, t in pairs],
                            thresholds=thresholds)
    return {
        "task": "instances",
        "thresholds": list(thresholds),
        "overall": [{k: (_num(v) if isinstance(v, float) else v) for k, v in s.to_dict().items()}
                    for s in overall],
        "mean_adapted_rand_error": _num(np.mean([i["adapted_rand_error"] for i in images])),
        "images": images,
    }


def run(args: argparse.Namespace) -> None:
    """Print scores of predictions against truths as JSON."""
    from napari_unet.core.io import expand_inputs, read_image

    preds = expand_inputs(args.predictions, what="prediction")
    truths = expand_inputs(args.truth, what="truth")
    if len(preds) != len(truths):
        raise BadInput(f"{len(preds)} prediction(s) but {len(truths)} truth file(s); they "
                       f"pair in order, one each")
    pairs = []
    for p, t in zip(preds, truths):
        pred, true = np.asarray(read_image(p)), np.asarray(read_image(t))
        if pred.shape != true.shape:
            raise BadInput(f"prediction {str(p)!r} has shape {pred.shape} but truth {str(t)!r} "
                           f"has {true.shape}")
        for name, a in ((p, pred), (t, true)):
            if not np.issubdtype(a.dtype, np.integer):
                raise BadInput(f"{str(name)!r} has dtype {a.dtype}; expected integer labels "
                               f"(classes 1..K or objects 1..N)")
        pairs.append((str(p), pred, str(t), true))
    result = _semantic(pairs) if args.task == "semantic" else _instances(pairs)
    print(json.dumps(result, indent=1))
