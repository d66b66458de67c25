"""Scores for segmentations, 2D or 3D: classes (IoU, Dice) and objects (matching, AP, Rand).

Class scores compare painting-style class images (values 1..K, with an ``ignore`` value in the
target for unpainted pixels). Object scores compare instance label images (0 = background,
1..N objects; ids need not be contiguous) the way StarDist and Cellpose report them:
a predicted and a true object match when their IoU reaches a threshold, at most one partner
each (an optimal assignment; for thresholds above 0.5 a match is unique anyway), and

* precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN),
* average precision AP = TP / (TP + FP + FN) (the "AP" of the DSB 2018 and of those papers).

The adapted Rand error follows the SNEMI3D definition (as ``skimage.metrics.adapted_rand_error``):
pairs of pixels counted over the target's non-ignored pixels, ``1 - F`` of Rand precision and
recall.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "MAX_CLASSES",
    "MatchScores",
    "adapted_rand_error",
    "check_class_count",
    "class_scores",
    "confusion_counts",
    "confusion_matrix",
    "iou_from_confusion",
    "match_dataset",
    "match_instances",
    "overlap_iou",
]


def _pair(prediction: Any, target: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(prediction), np.asarray(target)
    if pred.shape != true.shape:
        raise ValueError(
            f"prediction and target: expected the same shape for {what}, "
            f"found {pred.shape} and {true.shape}"
        )
    for name, a in (("prediction", pred), ("target", true)):
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise TypeError(f"{name}: expected integer {what}, found dtype {a.dtype}")
    return pred, true


# ----------------------------------------------------------------------------- classes

#: Most classes that class scores accept: a (K + 1)^2 confusion matrix stays small, and more
#: distinct values are almost always instance masks (objects 1..N) scored by mistake.
MAX_CLASSES = 256


def check_class_count(classes: Sequence[int] | int, *, what: str = "class images") -> None:
    """Refuse more than :data:`MAX_CLASSES` classes before any confusion matrix is allocated.

    Parameters
    ----------
    classes : sequence of int or int
        The classes (or their number) to be scored.
    what : str
        Names the inputs in the message.

    Raises
    ------
    ValueError
        Naming the count found and suggesting object scores for instance masks.
    """
    n = classes if isinstance(classes, int) else len(classes)
    if n > MAX_CLASSES:
        raise ValueError(
            f"{what}: expected at most {MAX_CLASSES} classes for class scores (IoU, Dice), "
            f"found {n} distinct values; these look like instance masks (objects 1..N): score "
            f"them as objects (match_instances, or `napari-unet evaluate --task instances`)"
        )



def confusion_matrix(
    prediction: Any, target: Any, *, classes: Sequence[int], ignore: int | None = 0
) -> np.ndarray:
    """Pixel counts ``m[i, j]``: target is ``classes[i]`` and prediction is ``classes[j]``.

    Pixels whose target equals ``ignore`` are left out. A last row counts the pixels whose
    target is some other value, a last column those whose prediction is some other value, so
    every row sums to the class's pixel count and every column to its predicted count.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(len(classes) + 1, len(classes) + 1)``.
    """
    pred, true = _pair(prediction, target, "class images")
    cls = np.asarray(list(classes), dtype=np.int64)
    check_class_count(int(cls.size))
    k = cls.size
    keep = np.ones(true.shape, bool) if ignore is None else true != ignore
    if k == 0:
        return np.array([[int(keep.sum())]], np.int64)
    order = np.argsort(cls)

    def index(values: np.ndarray) -> np.ndarray:  # position in ``classes``, k when absent
        pos = np.minimum(np.searchsorted(cls[order], values), k - 1)
        return np.where(cls[order][pos] == values, order[pos], k)

    row = index(true[keep].astype(np.int64))
    col = index(pred[keep].astype(np.int64))
    flat = row * (k + 1) + col
    return np.bincount(flat, minlength=(k + 1) ** 2).reshape(k + 1, k + 1).astype(np.int64)


def class_scores(
    prediction: Any,
    target: Any,
    *,
    classes: Sequence[int] | None = None,
    ignore: int | None = 0,
) -> dict[str, np.ndarray]:
    """IoU and Dice per class, over the pixels where the target is not ``ignore``.

    Parameters
    ----------
    prediction, target : array-like
        Integer class images of the same shape (painting values 1..K; 2D or 3D).
    classes : sequence of int, optional
        Classes to score; default: every value in target or prediction except ``ignore``.
    ignore : int or None
        Target value meaning "not painted / don't care" (0 by default); ``None`` scores all.

    Returns
    -------
    dict of str to numpy.ndarray
        Columns ``class``, ``iou``, ``dice``, ``support`` (target pixels of the class). IoU and
        Dice are NaN for a class absent from both target and prediction (over scored pixels).
    """
    pred, true = _pair(prediction, target, "class images")
    if classes is None:
        found = np.union1d(np.unique(true), np.unique(pred))
        classes = [int(c) for c in found if ignore is None or c != ignore]
    cls = np.asarray(list(classes), dtype=np.int64)
    m = confusion_matrix(pred, true, classes=cls, ignore=ignore)
    k = cls.size
    tp = np.diag(m)[:k].astype(np.float64)
    support = m[:k].sum(axis=1)
    fp_fn = support + m[:, :k].sum(axis=0) - 2 * tp
    iou = np.array([np.nan if v is None else v for v in iou_from_confusion(m)[:k]], np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(tp + fp_fn > 0, 2 * tp / (2 * tp + fp_fn), np.nan)
    return {"class": cls, "iou": iou, "dice": dice, "support": support}


def confusion_counts(pred: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """``k x k`` confusion counts (rows: truth, columns: prediction) over labelled pixels."""
    m = target >= 0
    return np.bincount(k * target[m].astype(np.int64) + pred[m], minlength=k * k).reshape(k, k)


def iou_from_confusion(cm: np.ndarray) -> list[float | None]:
    """Per-class intersection over union; None for classes absent from truth and prediction."""
    out: list[float | None] = []
    for c in range(cm.shape[0]):
        tp = cm[c, c]
        denom = cm[c, :].sum() + cm[:, c].sum() - tp
        out.append(None if denom == 0 else float(tp / denom))
    return out


# ----------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class MatchScores:
    """Object matching at one IoU threshold (counts may be summed over several images)."""

    threshold: float
    tp: int
    fp: int
    fn: int
    n_true: int
    n_pred: int
    precision: float
    recall: float
    f1: float
    average_precision: float
    mean_matched_iou: float

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for tables and JSON)."""
        return asdict(self)


def overlap_iou(prediction: Any, target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every overlapping (true, predicted) object pair, as sparse triplets.

    Returns
    -------
    (true_ids, pred_ids, iou) : tuple of numpy.ndarray
        One entry per pair of objects sharing at least one pixel.
    """
    pred, true = _pair(prediction, target, "label images")
    t_ids, t_inv = np.unique(true.ravel(), return_inverse=True)
    p_ids, p_inv = np.unique(pred.ravel(), return_inverse=True)
    t_size = np.bincount(t_inv, minlength=t_ids.size)
    p_size = np.bincount(p_inv, minlength=p_ids.size)
    key = t_inv.astype(np.int64) * p_ids.size + p_inv
    pairs, inter = np.unique(key, return_counts=True)
    ti, pi = pairs // p_ids.size, pairs % p_ids.size
    real = (t_ids[ti] != 0) & (p_ids[pi] != 0)
    ti, pi, inter = ti[real], pi[real], inter[real]
    iou = inter / (t_size[ti] + p_size[pi] - inter)
    return t_ids[ti], p_ids[pi], iou.astype(np.float64)


def _match_counts(
    t_idx: np.ndarray, p_idx: np.ndarray, iou: np.ndarray, threshold: float
) -> tuple[int, float]:
    """Number of matches and their summed IoU at one threshold (optimal one-to-one)."""
    ok = iou >= threshold
    t_idx, p_idx, iou = t_idx[ok], p_idx[ok], iou[ok]
    if iou.size == 0:
        return 0, 0.0
    if threshold > 0.5:
        return int(iou.size), float(iou.sum())  # IoU > 0.5 admits one partner at most
    rows, r_inv = np.unique(t_idx, return_inverse=True)
    cols, c_inv = np.unique(p_idx, return_inverse=True)
    n = min(rows.size, cols.size)
    weight = np.zeros((rows.size, cols.size))
    # maximise the number of matches first, their IoU second
    weight[r_inv, c_inv] = 1.0 + iou / (2.0 * n)
    r, c = linear_sum_assignment(weight, maximize=True)
    chosen = weight[r, c] > 0
    scores = np.zeros((rows.size, cols.size))
    scores[r_inv, c_inv] = iou
    return int(chosen.sum()), float(scores[r[chosen], c[chosen]].sum())


def _scores(threshold: float, tp: int, n_true: int, n_pred: int, iou_sum: float) -> MatchScores:
    fp, fn = n_pred - tp, n_true - tp

    def div(a: float, b: float) -> float:
        return float(a / b) if b > 0 else (1.0 if a == 0 else 0.0)

    return MatchScores(
        threshold=float(threshold),
        tp=tp,
        fp=fp,
        fn=fn,
        n_true=n_true,
        n_pred=n_pred,
        precision=div(tp, tp + fp),
        recall=div(tp, tp + fn),
        f1=div(2 * tp, 2 * tp + fp + fn),
        average_precision=div(tp, tp + fp + fn),
        mean_matched_iou=float(iou_sum / tp) if tp else 0.0,
    )


def _raw_matches(
    prediction: Any, target: Any, thresholds: Sequence[float]
) -> tuple[list[tuple[int, float]], int, int]:
    pred, true = _pair(prediction, target, "label images")
    t_ids, p_ids, iou = overlap_iou(pred, true)
    n_true = int(np.count_nonzero(np.unique(true)))
    n_pred = int(np.count_nonzero(np.unique(pred)))
    return [_match_counts(t_ids, p_ids, iou, float(t)) for t in thresholds], n_true, n_pred


def _thresholds(thresholds: float | Sequence[float]) -> list[float]:
    ts = [float(thresholds)] if np.isscalar(thresholds) else [float(t) for t in thresholds]  # type: ignore[union-attr]
    if not ts or not all(0.0 < t <= 1.0 for t in ts):
        raise ValueError(f"thresholds: expected IoU values in (0, 1], found {thresholds!r}")
    return ts


def match_instances(
    prediction: Any, target: Any, *, thresholds: float | Sequence[float] = 0.5
) -> list[MatchScores]:
    """Match predicted to true objects at each IoU threshold.

    Parameters
    ----------
    prediction, target : array-like
        Integer label images (0 = background), same shape, 2D or 3D.
    thresholds : float or sequence of float
        IoU thresholds in (0, 1]; a pair matches when IoU >= threshold.

    Returns
    -------
    list of MatchScores
        One per threshold, in the given order.
    """
    ts = _thresholds(thresholds)
    raw, n_true, n_pred = _raw_matches(prediction, target, ts)
    return [_scores(t, tp, n_true, n_pred, s) for t, (tp, s) in zip(ts, raw, strict=True)]


def match_dataset(
    predictions: Iterable[Any],
    targets: Iterable[Any],
    *,
    thresholds: float | Sequence[float] = 0.5,
) -> list[MatchScores]:
    """Like :func:`match_instances` over many images, with counts summed before the ratios."""
    ts = _thresholds(thresholds)
    tp = np.zeros(len(ts), np.int64)
    iou_sum = np.zeros(len(ts))
    n_true = n_pred = 0
    for pred, true in zip(predictions, targets, strict=True):
        raw, nt, npr = _raw_matches(pred, true, ts)
        tp += [r[0] for r in raw]
        iou_sum += [r[1] for r in raw]
        n_true += nt
        n_pred += npr
    return [_scores(t, int(tp[i]), n_true, n_pred, float(iou_sum[i])) for i, t in enumerate(ts)]


def adapted_rand_error(
    prediction: Any, target: Any, *, ignore: Sequence[int] = (0,)
) -> tuple[float, float, float]:
    """Adapted Rand error (SNEMI3D), with Rand precision and recall.

    Pixels whose target label is in ``ignore`` are left out; the prediction's labels are all
    counted (its 0 is one more segment).

    Returns
    -------
    (error, precision, recall) : tuple of float
        ``error = 1 - 2 P R / (P + R)``; 0 for identical segmentations.
    """
    pred, true = _pair(prediction, target, "label images")
    keep = ~np.isin(true, list(ignore))
    t_ids, t_inv = np.unique(true[keep], return_inverse=True)
    p_ids, p_inv = np.unique(pred[keep], return_inverse=True)
    _, counts = np.unique(t_inv.astype(np.int64) * max(p_ids.size, 1) + p_inv, return_counts=True)
    a = np.bincount(t_inv, minlength=t_ids.size).astype(np.float64)
    b = np.bincount(p_inv, minlength=p_ids.size).astype(np.float64)
    n = float(keep.sum())
    c = counts.astype(np.float64)
    sum_ab = float((c**2).sum() - n)
    sum_a = float((a**2).sum() - n)
    sum_b = float((b**2).sum() - n)
    precision = sum_ab / sum_b if sum_b > 0 else 1.0
    recall = sum_ab / sum_a if sum_a > 0 else 1.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return 1.0 - f, precision, recall
