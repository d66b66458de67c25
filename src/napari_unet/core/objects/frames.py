"""From probabilities to classes, objects and a table of objects.

* :func:`probabilities_to_classes`: argmax as painting values 1..K (or a threshold for a
  binary model).
* :func:`instances`: objects from an instance model's (background, interior, boundary)
  probabilities by a seeded watershed, in memory or block by block for big volumes (the
  algorithm is described in :mod:`napari_unet.core.objects.watershed` and
  :mod:`napari_unet.core.objects.tiled`).
* :func:`class_objects`, :func:`structure_objects`: objects of one class (or of every
  structure class) of a semantic model, which has no boundary class, split where their shape
  narrows by a distance-transform watershed (:mod:`napari_unet.core.objects.semantic`);
  :func:`objects_for_model` picks that or :func:`instances` by the model's task.
* :func:`object_table`: one row per object (size in pixels and physical units, centroid, mean
  probability), as a dict of numpy columns that a widget can show or save as CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_unet.core.io import classes_dtype
from napari_unet.core.objects.semantic import class_objects, structure_objects
from napari_unet.core.objects.tiled import instances_tiled
from napari_unet.core.objects.tuning import model_instance_options
from napari_unet.core.objects.watershed import (
    InstanceOptions,
    check_spacing,
    instances_from_probabilities,
)
from napari_unet.core.progress import run

__all__ = [
    "InstanceOptions",
    "class_objects",
    "instances",
    "instances_from_probabilities",
    "instances_tiled",
    "object_table",
    "objects_for_model",
    "probabilities_to_classes",
    "structure_objects",
]


def probabilities_to_classes(probabilities: Any, *, threshold: float | None = None) -> np.ndarray:
    """Class per pixel as painting values 1..K (1 = first channel, by convention background).

    Parameters
    ----------
    probabilities : array-like
        ``(K, *spatial)`` class probabilities (class axis first).
    threshold : float, optional
        Binary models only (K = 2, or K = 1 for a single foreground probability): class 2
        where the foreground probability reaches ``threshold``, else 1. ``None`` means argmax
        (and 0.5 for K = 1).

    Returns
    -------
    numpy.ndarray
        uint8 (uint16 when K > 254) painting values with the spatial shape.
    """
    shape = tuple(getattr(probabilities, "shape", ()))
    if len(shape) < 2:
        raise ValueError(
            f"probabilities: expected (classes, *spatial) with at least one spatial axis, "
            f"found shape {shape}"
        )
    k = shape[0]
    dtype = classes_dtype(k)
    p = np.asarray(probabilities)
    if k == 1 or threshold is not None:
        if k > 2:
            raise ValueError(
                f"threshold: only binary models (1 or 2 channels) take a threshold, "
                f"found {k} channels"
            )
        t = 0.5 if threshold is None else float(threshold)
        return np.where(p[-1] >= t, 2, 1).astype(dtype)
    return (np.argmax(p, axis=0) + 1).astype(dtype)


def instances(
    probabilities: Any,
    *,
    spacing: Sequence[float] | float | None = None,
    block_shape: Sequence[int] | None = None,
    halo: Sequence[int] | int = 32,
    out: Any = None,
    **options: Any,
) -> Any:
    """Objects from (background, interior, boundary) probabilities; blocking.

    Untiled when ``block_shape`` is ``None`` (and ``out`` too), else block by block via
    :func:`instances_tiled` (run it yourself to get progress records or to cancel).

    Parameters
    ----------
    probabilities : array-like
        ``(C, Y, X)`` or ``(C, Z, Y, X)``.
    spacing : float or sequence of float, optional
        Pixel/voxel size per spatial axis; sizes in ``options`` are in its units.
    block_shape, halo, out
        See :func:`instances_tiled`.
    **options
        Fields of :class:`InstanceOptions` (``foreground_threshold``, ``seed_threshold``,
        ``min_seed_size``, ``min_size``, ``fill_holes``, ``max_hole_size``, ``channels``).

    Returns
    -------
    numpy.ndarray or array-like
        int32 labels (``out`` when given).
    """
    InstanceOptions.from_dict(options)  # names the unknown keys
    if block_shape is None and out is None:
        return instances_from_probabilities(probabilities, spacing=spacing, **options)
    if block_shape is None:
        block_shape = tuple(probabilities.shape[1:])
    return run(instances_tiled(
        probabilities, block_shape=block_shape, halo=halo, spacing=spacing, out=out, **options
    ))


def objects_for_model(
    probabilities: Any, meta: dict[str, Any] | None,
    spacing: Sequence[float] | float | None = None,
) -> np.ndarray:
    """The objects a model's probabilities stand for, the way Predict and the CLI make them.

    Instance models: the seeded watershed (:func:`instances`) with the options
    fitted when the model was trained. Semantic models (also when ``meta`` names no task):
    :func:`structure_objects`.
    """
    task = (meta or {}).get("task", "semantic")
    if task == "semantic":
        return structure_objects(probabilities, spacing=spacing)
    if task != "instances":
        raise ValueError(f"objects need a segmentation model; this model's task is {task!r}")
    options = model_instance_options(meta, spacing, np.ndim(probabilities) - 1)
    return instances(probabilities, spacing=spacing, **options)


def object_table(
    labels: Any,
    *,
    probabilities: Any = None,
    channel: int | None = None,
    spacing: Sequence[float] | float | None = None,
) -> dict[str, np.ndarray]:
    """One row per object: label, size, centroid and mean probability.

    Parameters
    ----------
    labels : array-like
        Integer labels, 0 = background, 2D or 3D.
    probabilities : array-like, optional
        Either a map with the labels' shape, or ``(C, *spatial)`` class probabilities; then
        ``channel`` picks one, and ``None`` means ``1 - probabilities[0]`` (not background).
    channel : int, optional
        The probability channel to average.
    spacing : float or sequence of float, optional
        Pixel/voxel size per axis for the physical size column.

    Returns
    -------
    dict of str to numpy.ndarray
        Columns ``label``, ``pixels``, ``area`` (2D) or ``volume`` (3D and more) in units of
        ``spacing``, ``centroid-0`` .. ``centroid-{n-1}`` (pixel coordinates) and, when
        probabilities are given, ``mean_probability``.
    """
    lab = np.asarray(labels)
    if lab.ndim < 1 or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(
            f"labels: expected an integer array, found dtype {lab.dtype} and shape {lab.shape}"
        )
    sp = check_spacing(spacing, lab.ndim)
    ids, inverse = np.unique(lab.ravel(), return_inverse=True)
    counts = np.bincount(inverse, minlength=ids.size).astype(np.int64)
    fg = ids != 0
    table: dict[str, np.ndarray] = {
        "label": ids[fg].astype(np.int64),
        "pixels": counts[fg],
        "area" if lab.ndim == 2 else "volume": counts[fg] * float(np.prod(sp)),
    }
    safe = np.maximum(counts, 1)
    for ax in range(lab.ndim):
        coord = np.indices(lab.shape, sparse=True)[ax]
        coord = np.broadcast_to(coord, lab.shape).ravel()
        table[f"centroid-{ax}"] = (np.bincount(inverse, weights=coord) / safe)[fg]
    if probabilities is not None:
        prob = np.asarray(probabilities, dtype=np.float64)
        if prob.shape == lab.shape:
            pmap = prob
        elif prob.ndim == lab.ndim + 1 and prob.shape[1:] == lab.shape:
            pmap = 1.0 - prob[0] if channel is None else prob[channel]
        else:
            raise ValueError(
                f"probabilities: expected shape {lab.shape} or (C, *{lab.shape}), "
                f"found {prob.shape}"
            )
        table["mean_probability"] = (np.bincount(inverse, weights=pmap.ravel()) / safe)[fg]
    return table
