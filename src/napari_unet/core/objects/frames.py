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
* :func:`objects_per_frame`: the one dispatcher that builds a model's objects over an image
  with loop axes, for the CLI and the widgets alike. The rule: objects are built per time
  point (and per sample), never per slice: every other non-channel axis (Z, Y, X) belongs to
  one object volume, so a 2D model run slice by slice over Z still gives 3D objects, and
  ``spacing`` has one value per axis of that volume.
* :func:`object_table`: one row per object (size in pixels and physical units, centroid, mean
  probability), as a dict of numpy columns that a widget can show or save as CSV.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from napari_unet.core.arguments import check_real
from napari_unet.core.io import classes_dtype, create_zarr
from napari_unet.core.objects.semantic import class_objects, structure_objects
from napari_unet.core.objects.tiled import instances_tiled
from napari_unet.core.objects.tuning import model_instance_options
from napari_unet.core.objects.watershed import (
    InstanceOptions,
    check_spacing,
    instances_from_probabilities,
)
from napari_unet.core.progress import Progress, run

__all__ = [
    "FRAME_AXES",
    "INSTANCE_BLOCK",
    "InstanceOptions",
    "class_objects",
    "instances",
    "instances_from_probabilities",
    "instances_tiled",
    "object_table",
    "objects_for_model",
    "objects_per_frame",
    "probabilities_to_classes",
    "structure_objects",
    "volume_spacing",
]

#: Axes along which objects are built frame by frame (time, samples); every other non-channel
#: axis (Z, Y, X) belongs to one object volume.
FRAME_AXES = "TS"
#: Block size of the watershed on probabilities kept on disk (zarr/dask), per spatial axis.
INSTANCE_BLOCK = {2: (1024, 1024), 3: (128, 256, 256)}


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
    check_real(probabilities, what="probabilities")
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f"meta: expected a model's meta (a dict, e.g. model.meta) or None, "
                        f"found {type(meta).__name__}")
    task = (meta or {}).get("task", "semantic")
    if task == "semantic":
        return structure_objects(probabilities, spacing=spacing)
    if task != "instances":
        raise ValueError(f"objects need a segmentation model; this model's task is {task!r}")
    options = model_instance_options(meta, spacing, np.ndim(probabilities) - 1)
    return instances(probabilities, spacing=spacing, **options)


def _frame_axes(axes: str, ndim: int | None = None) -> tuple[str, str]:
    """``axes`` without ``C``, upper case, and its object-volume axes (image order)."""
    if not isinstance(axes, str):
        raise ValueError(f"axes must be a string such as 'ZYX' or 'TYX'; found {axes!r}")
    name = axes.upper().replace("C", "")
    known = FRAME_AXES + "ZYX"
    unknown = sorted(set(name) - set(known))
    if unknown or len(set(name)) != len(name) or "Y" not in name or "X" not in name:
        raise ValueError(
            f"axes={axes!r}: expected distinct letters from {known!r} (C is ignored) "
            f"including Y and X"
        )
    if ndim is not None and len(name) != ndim:
        raise ValueError(
            f"axes={axes!r} names {len(name)} non-channel axes, but the probabilities have "
            f"{ndim} after the class axis"
        )
    return name, "".join(a for a in name if a not in FRAME_AXES)


def volume_spacing(
    axes: str, spacing: Sequence[float] | float | None
) -> tuple[float, ...] | None:
    """Check ``spacing`` against the object-volume axes of ``axes`` (see :data:`FRAME_AXES`).

    Parameters
    ----------
    axes : str
        Non-channel axes of an image or its probabilities, e.g. ``"ZYX"`` or ``"TZYX"`` (a
        ``C`` is ignored).
    spacing : float or sequence of float or None
        Physical pixel size per axis of the object volume (Z, Y, X: every axis but T and S),
        in the order of ``axes``; a single number stands for every axis.

    Returns
    -------
    tuple of float or None
        One positive value per volume axis (``None`` when ``spacing`` is ``None``: 1 each).

    Raises
    ------
    ValueError
        If the number of values does not match the volume axes, or a value is not positive.
    """
    _, vol = _frame_axes(axes)
    if spacing is None:
        return None
    if np.isscalar(spacing):
        spacing = (spacing,) * len(vol)  # type: ignore[assignment]
    values = tuple(spacing)  # type: ignore[arg-type]
    if len(values) != len(vol):
        raise ValueError(
            f"spacing: expected {len(vol)} values (one per axis of {vol}), found "
            f"{len(values)}: {values}"
        )
    return check_spacing(values, len(vol))


def objects_per_frame(
    probabilities: Any,
    meta: dict[str, Any] | None,
    *,
    axes: str,
    spacing: Sequence[float] | float | None = None,
    out: Any = None,
    block_shape: Sequence[int] | None = None,
    halo: Sequence[int] | int = 32,
) -> Generator[Progress, None, Any]:
    """A model's objects over a whole prediction, frame by frame; the CLI and Predict use it.

    The rule: objects are built per time point (``T``, and ``S`` for samples) only. Every other
    non-channel axis (Z, Y, X) is part of one object volume, so a 2D model run slice by slice
    over a Z stack gives 3D objects. Each frame is numbered 1..N on its own, the volume in
    raster order of its axes sorted as Z, Y, X (whatever their order in ``axes``).

    Instance models whose probabilities are lazy (zarr, dask) and hold one frame are
    processed block by block (:func:`instances_tiled`, :data:`INSTANCE_BLOCK`) into ``out``
    when it is given, so memory stays bounded; otherwise each frame is done in memory by
    :func:`objects_for_model` (written into ``out`` frame by frame when given).

    Parameters
    ----------
    probabilities : array-like
        ``(K, ...)`` class probabilities (numpy, zarr or dask), class axis first, then the
        axes named by ``axes``.
    meta : dict or None
        The model's ``meta``: ``task`` picks the objects (``"instances"``: seeded watershed
        with the fitted options; ``"semantic"`` or none: :func:`structure_objects`).
    axes : str
        The non-channel axes of the probabilities after the class axis, e.g. ``"TZYX"`` (a
        ``C`` is ignored).
    spacing : float or sequence of float, optional
        Physical pixel size per axis of the object volume, in the order of ``axes`` (see
        :func:`volume_spacing`); sizes are in its units. ``None``: 1 each.
    out : path or array-like, optional
        A path (a zarr store is created there) or an array of shape
        ``probabilities.shape[1:]`` to write the int32 labels into.
    block_shape : sequence of int, optional
        Block size of the tiled path (default :data:`INSTANCE_BLOCK`).
    halo : int or sequence of int
        Halo of the tiled path (see :func:`instances_tiled`).

    Yields
    ------
    Progress
        One record per frame (per block and pass on the tiled path).

    Returns
    -------
    numpy.ndarray or array-like
        int32 labels of shape ``probabilities.shape[1:]`` (``out`` when given).

    Raises
    ------
    ValueError
        For a model that is not a segmentation model, axes that do not fit the
        probabilities, or a spacing with the wrong number of values.
    """
    task = (meta or {}).get("task", "semantic")
    if task not in ("semantic", "instances"):
        raise ValueError(f"objects need a segmentation model; this model's task is {task!r}")
    shape = tuple(int(s) for s in getattr(probabilities, "shape", ()))
    name, vol = _frame_axes(axes, len(shape) - 1)
    sp = volume_spacing(name, spacing)
    loop = [i for i, a in enumerate(name) if a in FRAME_AXES]
    inside = [i for i in range(len(name)) if i not in loop]  # a frame's axes, image order
    order = [inside.index(name.index(a)) for a in "ZYX" if a in vol]  # frame -> Z, Y, X
    canonical = tuple(a for a in "ZYX" if a in vol)
    sp_zyx = None if sp is None else tuple(sp[vol.index(a)] for a in canonical)
    block = tuple(block_shape or INSTANCE_BLOCK[len(vol)])
    if isinstance(out, (str, os.PathLike)):
        chunks = [1 if a in FRAME_AXES else block[canonical.index(a)] for a in name]
        out = create_zarr(out, shape=shape[1:], dtype=np.int32,
                          chunks=[min(c, s) for c, s in zip(chunks, shape[1:])])
    if out is not None and tuple(out.shape) != shape[1:]:
        raise ValueError(f"out: expected shape {shape[1:]}, found {tuple(out.shape)}")
    if (task == "instances" and out is not None and not loop and vol == "".join(canonical)
            and not isinstance(probabilities, np.ndarray)):
        options = model_instance_options(meta, sp, len(vol))
        return (yield from instances_tiled(probabilities, block_shape=block, halo=halo,
                                           spacing=sp, out=out, **options))
    labels = np.zeros(shape[1:], np.int32) if out is None else out
    frames = list(np.ndindex(*(shape[1 + i] for i in loop)))
    for n, frame in enumerate(frames, 1):
        index: list[int | slice] = [slice(None)] * len(name)
        for pos, value in zip(loop, frame):
            index[pos] = value
        p = np.asarray(probabilities[(slice(None), *index)])
        objects = objects_for_model(np.transpose(p, [0, *(o + 1 for o in order)]), meta, sp_zyx)
        labels[tuple(index)] = np.transpose(objects.astype(np.int32), np.argsort(order))
        yield Progress(n, len(frames), f"objects: frame {n}/{len(frames)}")
    return labels


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
