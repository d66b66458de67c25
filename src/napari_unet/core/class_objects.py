"""Objects of one class of a semantic model, split where their shape narrows.

A semantic model trained from strokes (1 = background, 2..K = structures) gives no boundary
class, so touching or nearly touching objects of a class come out as one connected blob. This
module splits them the classical way, by the shape of the class's pixels alone:

1. mask = ``p[channel] >= threshold``;
2. distance transform of the mask (in the units of ``spacing``);
3. seeds = the maxima of the distance transform that stand at least ``split`` above the
   saddle to any higher maximum (h-maxima): a bridge between two nuclei is a saddle of the
   distance, a nucleus's bumpy outline is not;
4. watershed of the negated distance from the seeds within the mask; mask components without a
   seed (thinner than ``split``) become objects of their own;
5. holes enclosed by a single object are filled (after splitting, so the cells enclosed by a
   membrane network, which borders them with several pieces, stay empty); objects smaller than
   ``min_size`` are removed and the rest numbered 1..N in raster order.

Measured on the 3D nuclei volume painted with strokes on 3 of its 100 slices
(``benchmarks/bench_train.py --cases nuclei3d``): see ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from .instances import (
    _fill_holes,
    _finish,
    _pixels,
    _structure,
    check_spacing,
    markers_with_lone_components,
)


def class_objects(
    probabilities: Any,
    channel: int,
    *,
    threshold: float = 0.5,
    spacing: Sequence[float] | float | None = None,
    split: float | None = None,
    min_size: float = 0.0,
    fill_holes: bool = True,
) -> np.ndarray:
    """Objects of one class from a semantic model's probabilities, in memory.

    Parameters
    ----------
    probabilities : array-like
        ``(C, Y, X)`` or ``(C, Z, Y, X)`` class probabilities, class axis first.
    channel : int
        The class's probability channel (painting value ``channel + 1``).
    threshold : float
        A pixel belongs to the class when its probability reaches this value.
    spacing : float or sequence of float, optional
        Pixel/voxel size per spatial axis; ``split`` and ``min_size`` are in its units.
    split : float or None
        Least height (a distance, in units of ``spacing``) of a distance-transform maximum above
        the saddle that joins it to a higher one for it to seed its own object. ``None``: two
        pixels of the finest axis. ``0``: no splitting (connected components).
    min_size : float
        Objects smaller than this (area/volume in units of ``spacing``) are removed.
    fill_holes : bool
        Give each hole enclosed by exactly one object to that object.

    Returns
    -------
    numpy.ndarray
        int32 labels with the spatial shape: 0 elsewhere, objects 1..N.
    """
    shape = tuple(getattr(probabilities, "shape", ()))
    if len(shape) not in (3, 4):
        raise ValueError(
            "probabilities: expected an array (channels, Y, X) or (channels, Z, Y, X), "
            f"found shape {shape}"
        )
    if not 0 <= int(channel) < shape[0]:
        raise ValueError(
            f"channel {channel} is not one of the {shape[0]} probability channels "
            f"(0..{shape[0] - 1}; painting value = channel + 1)"
        )
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if split is not None and split < 0:
        raise ValueError(f"split must be >= 0 (0 = no splitting), got {split}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    ndim = len(shape) - 1
    sp = check_spacing(spacing, ndim)
    h = 2.0 * min(sp) if split is None else float(split)
    mask = np.asarray(probabilities[int(channel)], dtype=np.float32) >= float(threshold)
    structure = _structure(ndim)
    if h == 0 or not mask.any():
        labels = ndi.label(mask, structure=structure)[0].astype(np.int32)
    else:
        # float32: h-maxima (the costly step) runs ~1.6x faster than on float64, same seeds
        dist = ndi.distance_transform_edt(mask, sampling=sp).astype(np.float32)
        seeds = ndi.label(h_maxima(dist, h).astype(bool) & mask, structure=structure)[0]
        markers = markers_with_lone_components(seeds.astype(np.int32), mask, structure)
        labels = watershed(-dist, markers, mask=mask, connectivity=1).astype(np.int32)
    if fill_holes:  # after splitting: the cells inside a membrane network are not its holes
        labels = _fill_holes(labels, None)
    return _finish(labels, _pixels(min_size, sp) or 0.0)


def structure_objects(
    probabilities: Any, *, spacing: Sequence[float] | float | None = None, **options: Any
) -> np.ndarray:
    """Objects of every structure class of a semantic model, in one label image.

    By the painting convention (1 = background, 2..K = structures) channel 0 is the background;
    the objects of channels 1..K-1 (:func:`class_objects` with ``options``) are put together
    and numbered 1..N in raster order. Where two classes both reach the threshold (possible
    only at exactly 0.5), the earlier class keeps the pixel.

    Parameters
    ----------
    probabilities : array-like
        ``(C, Y, X)`` or ``(C, Z, Y, X)`` with ``C >= 2``.
    spacing : float or sequence of float, optional
        Pixel/voxel size per spatial axis.
    **options
        ``threshold``, ``split``, ``min_size``, ``fill_holes`` of :func:`class_objects`.

    Returns
    -------
    numpy.ndarray
        int32 labels: 0 background, objects 1..N.
    """
    n_channels = int(getattr(probabilities, "shape", (0,))[0])
    if n_channels < 2:
        raise ValueError(
            f"objects need a model with a background class and at least one structure class; "
            f"these probabilities have {n_channels} channel(s)"
        )
    labels: np.ndarray | None = None
    for channel in range(1, n_channels):
        objects = class_objects(probabilities, channel, spacing=spacing, **options)
        if labels is None:
            labels = objects
            continue
        free = (objects > 0) & (labels == 0)
        labels[free] = objects[free] + labels.max()
    assert labels is not None
    return _finish(labels, 0.0)
