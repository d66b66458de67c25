"""Choose the instance post-processing options that fit a trained model, from labelled data.

The thresholds that turn (background, interior, boundary) probabilities into objects depend on
the model and the data: a model trained briefly gives soft interiors that bleed across the thin
boundaries of touching cells, so seeds taken at ``p_interior >= 0.5`` merge them; a longer
trained one gives sharp interiors. As StarDist does for its thresholds, the options are fitted
after training on labelled images: a coordinate search over the seed threshold, the smallest
seed (a fraction of the median true object size) and the foreground threshold that maximises
F1 at IoU 0.5 (:func:`napari_unet.core.metrics.match_dataset`). Written for this project.

A trained model keeps the result in ``model.meta["instance_options"]`` with sizes in pixels
(the trainer knows no voxel size); :func:`model_instance_options` turns it into options for an
image of a given spacing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_unet.core.metrics import match_dataset
from napari_unet.core.objects.watershed import (
    InstanceOptions,
    check_spacing,
    instances_from_probabilities,
)

#: Values tried, one option at a time, in this order; the defaults come first so ties keep them.
SEED_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
SEED_SIZE_FRACTIONS = (0.0, 0.02, 0.05, 0.1, 0.2)  # of the median true object size
FOREGROUND_THRESHOLDS = (0.5, 0.4, 0.6)


def median_object_size(truths: Sequence[np.ndarray], spacing: tuple[float, ...]) -> float:
    """Median area/volume of the labelled objects, in units of ``spacing``."""
    sizes = [np.bincount(np.asarray(t).ravel())[1:] for t in truths]
    counts = np.concatenate(sizes) if sizes else np.zeros(0)
    counts = counts[counts > 0]
    return float(np.median(counts)) * math.prod(spacing) if counts.size else 0.0


def tune_instance_options(
    probabilities: Sequence[Any],
    truths: Sequence[np.ndarray],
    *,
    spacing: Sequence[float] | float | None = None,
    min_size: float = 0.0,
    deadline: float | None = None,
) -> tuple[dict[str, Any], float, float]:
    """Fit ``seed_threshold``, ``min_seed_size`` and ``foreground_threshold`` to labelled data.

    Parameters
    ----------
    probabilities : sequence of array
        ``(3, *spatial)`` background/interior/boundary probabilities, one per labelled image.
    truths : sequence of numpy.ndarray
        Instance masks (0 = background, 1..N objects) of the same spatial shapes.
    spacing : float or sequence of float, optional
        Pixel/voxel size; ``min_seed_size`` and ``min_size`` are in its units.
    min_size : float
        Kept fixed: objects smaller than this are removed in every trial.
    deadline : float, optional
        A ``time.perf_counter()`` value after which no further trial starts (the best so far
        is returned).

    Returns
    -------
    options : dict
        :class:`~.instances.InstanceOptions` fields (JSON-serialisable), ready for
        :func:`napari_unet.core.objects.frames.instances`.
    f1 : float
        F1 at IoU 0.5 of these options on the given data.
    default_f1 : float
        F1 at IoU 0.5 of the default options, for comparison.
    """
    if len(probabilities) != len(truths) or not truths:
        raise ValueError(
            f"need one instance mask per probability map; found {len(probabilities)} maps and "
            f"{len(truths)} masks"
        )
    probs = [np.asarray(p, dtype=np.float32) for p in probabilities]
    masks = [np.asarray(t) for t in truths]
    for p, t in zip(probs, masks, strict=True):
        if p.ndim != t.ndim + 1 or p.shape[1:] != t.shape or p.shape[0] < 3:
            raise ValueError(
                f"probabilities {p.shape} do not fit instance mask {t.shape}: expected "
                "(3, *mask.shape)"
            )
    scale = check_spacing(spacing, masks[0].ndim)
    typical = median_object_size(masks, scale)
    current = InstanceOptions(min_size=min_size).to_dict()
    scores: dict[tuple, float] = {}

    def f1(options: dict[str, Any]) -> float:
        key = tuple(sorted((k, str(v)) for k, v in options.items()))
        if key not in scores:
            objects = [instances_from_probabilities(p, spacing=scale, **options) for p in probs]
            scores[key] = match_dataset(objects, masks, thresholds=0.5)[0].f1
        return scores[key]

    best = f1(current)
    default_f1 = best
    trials = (
        ("seed_threshold", SEED_THRESHOLDS),
        ("min_seed_size", tuple(f * typical for f in SEED_SIZE_FRACTIONS)),
        ("foreground_threshold", FOREGROUND_THRESHOLDS),
    )
    for name, values in trials:
        for value in values:
            if deadline is not None and time.perf_counter() > deadline:
                return current, best, default_f1
            trial = {**current, name: float(value)}
            score = f1(trial)
            if score > best + 1e-9:
                best, current = score, trial
    return current, best, default_f1


def fitted_options_meta(
    options: dict[str, Any], *, pixels: int, f1: float, default_f1: float
) -> dict[str, Any]:
    """What a model keeps in ``meta["instance_options"]`` (fitted in pixel units)."""
    return {
        "foreground_threshold": float(options["foreground_threshold"]),
        "seed_threshold": float(options["seed_threshold"]),
        "min_seed_pixels": float(options["min_seed_size"]),
        "fitted_on_pixels": int(pixels),
        "f1_at_0.5": round(float(f1), 4),
        "default_f1_at_0.5": round(float(default_f1), 4),
    }


def model_instance_options(
    meta: dict[str, Any] | None, spacing: Sequence[float] | float | None = None, ndim: int = 2
) -> dict[str, Any]:
    """Instance options fitted to a model (empty: the defaults) for an image's spacing.

    Parameters
    ----------
    meta : dict or None
        A model's ``meta``.
    spacing : float or sequence of float, optional
        The pixel/voxel size the options will be used with (``min_seed_size`` is scaled to it).
    ndim : int
        Spatial axes of the image.
    """
    fitted = (meta or {}).get("instance_options") or {}
    if not fitted:
        return {}
    scale = math.prod(check_spacing(spacing, ndim))
    return {
        "foreground_threshold": float(fitted.get("foreground_threshold", 0.5)),
        "seed_threshold": float(fitted.get("seed_threshold", 0.5)),
        "min_seed_size": float(fitted.get("min_seed_pixels", 0.0)) * scale,
    }
