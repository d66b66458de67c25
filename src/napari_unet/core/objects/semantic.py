"""Objects of the classes of a semantic model, split where their shape narrows.

A semantic model trained from strokes (1 = background, 2..K = structures) gives no boundary
class, so touching or nearly touching objects of a class come out as one connected blob. This
module splits them the classical way, by the shape of the class's pixels alone:

1. the class's pixels: ``p[channel] >= threshold`` (:func:`class_objects`) or the argmax
   (:func:`structure_objects`, so the objects agree with the classes output);
2. distance transform of those pixels (in the units of ``spacing``);
3. seeds = the domes of the distance transform that rise at least ``split`` above the saddle
   joining them to a higher dome (the regional maxima of its h-maxima reconstruction, each
   flat top one seed): a bridge between two nuclei is such a saddle, a nucleus's bumpy
   outline or an elongated object's ridge is not;
4. watershed of the negated distance from the seeds within the pixels; components without a
   seed (half-width, the largest distance to their edge, below ``split``) become objects of
   their own, so no pixel is lost;
5. optionally, background holes enclosed by a single object and smaller than it are filled (a
   nucleolus, not the inside of a ring); objects smaller than ``min_size`` are removed and the
   rest numbered 1..N in raster order.

Our own code (scikit-image and SciPy primitives), because it is where sparse 3D painting turns
into objects: measured on the 3D nuclei volume painted on 3 of its 100 slices
(``benchmarks/bench_train.py --cases nuclei3d``), see ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import watershed

from napari_unet.core.objects.watershed import (
    check_spacing,
    drop_small_and_renumber,
    face_structure,
    fill_enclosed_holes,
    markers_with_lone_components,
    size_in_pixels,
)


def _checked(probabilities: Any, spacing: Any, split: float | None,
             min_size: float) -> tuple[tuple[float, ...], float]:
    """Spacing per spatial axis and the split height, or a ValueError."""
    shape = tuple(getattr(probabilities, "shape", ()))
    if len(shape) not in (3, 4):
        raise ValueError(
            "probabilities: expected an array (channels, Y, X) or (channels, Z, Y, X), "
            f"found shape {shape}"
        )
    if split is not None and split < 0:
        raise ValueError(f"split must be >= 0 (0 = no splitting), got {split}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    sp = check_spacing(spacing, len(shape) - 1)
    return sp, 2.0 * min(sp) if split is None else float(split)


def _split(mask: np.ndarray, sp: tuple[float, ...], h: float) -> np.ndarray:
    """int32 objects of a boolean mask: connected components, cut at saddles of height >= h."""
    structure = face_structure(mask.ndim)
    if h == 0 or not mask.any():
        return ndi.label(mask, structure=structure)[0].astype(np.int32)
    dist = ndi.distance_transform_edt(mask, sampling=sp).astype(np.float32)
    # every dome of the distance cut flat h below its top; rounding keeps float noise from
    # making spurious maxima on the flat tops
    tops = np.round(reconstruction(dist - h, dist, method="dilation"), 4)
    top_mask = local_maxima(tops, connectivity=mask.ndim) & mask & (dist >= h)
    seeds = ndi.label(top_mask, structure=np.ones((3,) * mask.ndim, bool))[0]
    markers = markers_with_lone_components(seeds.astype(np.int32), mask, structure)
    return watershed(-dist, markers, mask=mask, connectivity=1).astype(np.int32)


def _fill_small_holes(labels: np.ndarray) -> np.ndarray:
    """Give each hole enclosed by exactly one object to it, when the hole is smaller than the
    object: a nucleolus in a nucleus is filled; the cell enclosed by a membrane segment, or the
    inside of a ring, is not."""
    filled = fill_enclosed_holes(labels, None)
    new = (labels == 0) & (filled > 0)
    if not new.any():
        return labels
    holes, n = ndi.label(new, structure=face_structure(labels.ndim))
    hole_size = np.bincount(holes.ravel(), minlength=n + 1)
    owner = np.zeros(n + 1, np.int64)
    owner[holes[new]] = filled[new]
    object_size = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)
    small = hole_size < object_size[owner]
    small[0] = False
    return np.where(small[holes], filled, labels)


def class_objects(
    probabilities: Any,
    channel: int,
    *,
    threshold: float = 0.5,
    spacing: Sequence[float] | float | None = None,
    split: float | None = None,
    min_size: float = 0.0,
    fill_holes: bool = False,
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
        Least height (a distance, in units of ``spacing``) of a dome of the distance transform
        above the saddle that joins it to a higher one for it to seed its own object. ``None``:
        two pixels of the finest axis. ``0``: no splitting (connected components).
    min_size : float
        Objects smaller than this (area/volume in units of ``spacing``) are removed.
    fill_holes : bool
        Give each hole enclosed by exactly one object, and smaller than it, to that object.
        Off by default: in a membrane network small cells look just like holes, and on nuclei
        it changed nothing measurable.

    Returns
    -------
    numpy.ndarray
        int32 labels with the spatial shape: 0 elsewhere, objects 1..N.
    """
    sp, h = _checked(probabilities, spacing, split, min_size)
    n_channels = int(probabilities.shape[0])
    if not 0 <= int(channel) < n_channels:
        raise ValueError(
            f"channel {channel} is not one of the {n_channels} probability channels "
            f"(0..{n_channels - 1}; painting value = channel + 1)"
        )
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    mask = np.asarray(probabilities[int(channel)], dtype=np.float32) >= float(threshold)
    labels = _split(mask, sp, h)
    if fill_holes:
        labels = _fill_small_holes(labels)
    return drop_small_and_renumber(labels, size_in_pixels(min_size, sp) or 0.0)


def structure_objects(
    probabilities: Any,
    *,
    spacing: Sequence[float] | float | None = None,
    split: float | None = None,
    min_size: float = 0.0,
    fill_holes: bool = False,
) -> np.ndarray:
    """Objects of every structure class of a semantic model, in one label image.

    By the painting convention (1 = background, 2..K = structures) channel 0 is the background.
    Each pixel's class is the argmax, as in the classes output, so every pixel of classes 2..K
    lies in exactly one object; each class is split on its own (see the module notes), and
    holes are filled only with background-class pixels, after all classes are placed.

    Parameters
    ----------
    probabilities : array-like
        ``(C, Y, X)`` or ``(C, Z, Y, X)`` with ``C >= 2``.
    spacing, split, min_size, fill_holes
        As for :func:`class_objects`.

    Returns
    -------
    numpy.ndarray
        int32 labels: 0 background, objects 1..N in raster order.
    """
    sp, h = _checked(probabilities, spacing, split, min_size)
    n_channels = int(probabilities.shape[0])
    if n_channels < 2:
        raise ValueError(
            "objects need a model with a background class and at least one structure class; "
            f"these probabilities have {n_channels} channel(s)"
        )
    classes = np.argmax(np.asarray(probabilities), axis=0)
    labels = np.zeros(classes.shape, np.int32)
    for channel in range(1, n_channels):
        objects = _split(classes == channel, sp, h)
        placed = objects > 0
        labels[placed] = objects[placed] + labels.max()
    if fill_holes:  # the unlabelled pixels are exactly the background class's
        labels = _fill_small_holes(labels)
    return drop_small_and_renumber(labels, size_in_pixels(min_size, sp) or 0.0)
