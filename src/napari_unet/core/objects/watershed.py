"""Objects from boundary-aware probabilities by a seeded watershed, in memory.

An instance model is a 3-class semantic model: background, object interior and object boundary
(painting values 1, 2, 3; probability channels 0, 1, 2). Objects are made in four steps:

1. foreground = ``1 - p_background >= foreground_threshold``; seeds = foreground pixels with
   ``p_interior >= seed_threshold``, grouped into connected components (face connectivity);
   seeds smaller than ``min_seed_size`` are dropped. A foreground component that holds no seed
   becomes one object by itself, so no foreground is lost.
2. A seeded watershed floods the foreground from the seeds over the landscape
   ``floor(255 * (1 - p_interior)) + 1 / (1 + d)``, where ``d`` is the distance (in physical
   units) to the nearest background pixel: the interior probability decides, and where it is
   flat (saturated interiors) the seeds grow from the object's middle outwards, so the split
   between touching objects falls where they are narrowest.
3. Holes (background regions enclosed by a single object, optionally up to ``max_hole_size``)
   are filled; objects smaller than ``min_size`` are removed.
4. Objects are numbered 1..N in the order of their first pixel in C (raster) order.

Sizes (``min_seed_size``, ``min_size``, ``max_hole_size``) are areas or volumes in the units of
``spacing`` (the pixel/voxel size per axis); without a spacing they are counted in pixels.

The tiled variant lives in :mod:`napari_unet.core.objects.tiled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

_LEVELS = 255  # interior-probability resolution of the watershed landscape


@dataclass(frozen=True)
class InstanceOptions:
    """How probabilities become objects; the same object serves the untiled and tiled paths.

    Parameters
    ----------
    foreground_threshold : float
        A pixel is foreground when ``1 - p_background`` reaches this value.
    seed_threshold : float
        A foreground pixel is a seed when ``p_interior`` reaches this value.
    min_seed_size : float
        Seeds smaller than this (area/volume in units of ``spacing``) are dropped.
    min_size : float
        Objects smaller than this (area/volume in units of ``spacing``) are removed.
    fill_holes : bool
        Fill background regions enclosed by a single object.
    max_hole_size : float or None
        Fill only holes up to this size (units of ``spacing``); ``None`` fills all.
    channels : tuple of int
        Probability channels of (background, interior, boundary).
    """

    foreground_threshold: float = 0.5
    seed_threshold: float = 0.5
    min_seed_size: float = 0.0
    min_size: float = 0.0
    fill_holes: bool = True
    max_hole_size: float | None = None
    channels: tuple[int, int, int] = (0, 1, 2)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstanceOptions:
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"InstanceOptions: unknown keys {sorted(unknown)}")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(int(c) for c in d["channels"])
        return cls(**d)


# ---------------------------------------------------------------------------------- checks


def _check_probabilities(probabilities: Any, channels: Sequence[int]) -> int:
    shape = tuple(getattr(probabilities, "shape", ()))
    if len(shape) not in (3, 4):
        raise ValueError(
            "probabilities: expected an array (channels, Y, X) or (channels, Z, Y, X), "
            f"found shape {shape}"
        )
    if max(channels) >= shape[0] or min(channels) < 0:
        raise ValueError(
            f"probabilities: channels {tuple(channels)} (background, interior, boundary) do not "
            f"fit the {shape[0]} channels of an array of shape {shape}"
        )
    return len(shape) - 1


def check_spacing(spacing: Sequence[float] | float | None, ndim: int) -> tuple[float, ...]:
    """Per-axis pixel size as a tuple of positive floats (1.0 each when ``None``)."""
    if spacing is None:
        return (1.0,) * ndim
    if np.isscalar(spacing):
        spacing = (float(spacing),) * ndim  # type: ignore[arg-type]
    sp = tuple(float(s) for s in spacing)  # type: ignore[union-attr]
    if len(sp) != ndim or not all(np.isfinite(s) and s > 0 for s in sp):
        raise ValueError(
            f"spacing: expected {ndim} positive numbers (one per spatial axis), found {spacing!r}"
        )
    return sp


def checked_options(
    probabilities: Any, spacing: Sequence[float] | float | None, *fields: Any
) -> tuple[InstanceOptions, int, tuple[float, ...]]:
    """Options from the fields of :class:`InstanceOptions` (in order), checked against the input.

    Returns the options, the number of spatial axes and the spacing per axis.
    """
    *values, channels = fields
    opts = InstanceOptions(*values, tuple(channels))  # type: ignore[arg-type]
    ndim = _check_probabilities(probabilities, opts.channels)
    return opts, ndim, check_spacing(spacing, ndim)


def face_structure(ndim: int) -> np.ndarray:
    return ndi.generate_binary_structure(ndim, 1)


# ------------------------------------------------------------------------ per-block steps


def foreground_seeds(p: np.ndarray, opts: InstanceOptions) -> tuple[np.ndarray, np.ndarray]:
    bg, interior, _ = opts.channels
    fg = (1.0 - p[bg]) >= opts.foreground_threshold
    seeds = fg & (p[interior] >= opts.seed_threshold)
    return fg, seeds


def _landscape(p_interior: np.ndarray, fg: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    level = np.floor((1.0 - np.clip(p_interior, 0.0, 1.0)) * _LEVELS)
    if fg.all():
        return level  # no background in sight: the distance term is 0 everywhere
    dist = ndi.distance_transform_edt(fg, sampling=spacing)
    return level + 1.0 / (1.0 + dist)


def fill_enclosed_holes(labels: np.ndarray, max_pixels: float | None) -> np.ndarray:
    """Give each background region enclosed by exactly one object to that object."""
    holes, n = ndi.label(labels == 0, structure=face_structure(labels.ndim))
    if n == 0:
        return labels
    # regions touching the array border are not holes
    border = np.zeros(n + 1, bool)
    for ax in range(labels.ndim):
        for idx in (0, -1):
            border[np.take(holes, idx, axis=ax)] = True
    # the objects next to each region, from face-adjacent pixel pairs
    pairs = []
    for ax in range(labels.ndim):
        a = [slice(None)] * labels.ndim
        b = [slice(None)] * labels.ndim
        a[ax], b[ax] = slice(None, -1), slice(1, None)
        for h, lab in ((holes[tuple(a)], labels[tuple(b)]), (holes[tuple(b)], labels[tuple(a)])):
            m = (h > 0) & (lab > 0)
            pairs.append(np.stack([h[m], lab[m]], axis=1))
    pairs_arr = np.unique(np.concatenate(pairs), axis=0)
    n_neighbours = np.bincount(pairs_arr[:, 0], minlength=n + 1)
    owner = np.zeros(n + 1, labels.dtype)
    single = n_neighbours[pairs_arr[:, 0]] == 1
    owner[pairs_arr[single, 0]] = pairs_arr[single, 1]
    owner[border] = 0
    if max_pixels is not None:
        owner[np.bincount(holes.ravel(), minlength=n + 1) > max_pixels] = 0
    owner[0] = 0
    if not owner.any():
        return labels
    return np.where(holes > 0, owner[holes], labels)


def size_in_pixels(size: float | None, spacing: tuple[float, ...]) -> float | None:
    return None if size is None else float(size) / float(np.prod(spacing))


def drop_small_and_renumber(labels: np.ndarray, min_pixels: float) -> np.ndarray:
    """Remove small objects and number the rest 1..N in raster order of their first pixel."""
    ids, first, counts = np.unique(labels.ravel(), return_index=True, return_counts=True)
    keep = (ids > 0) & (counts >= min_pixels)
    lut = np.zeros(int(ids.max()) + 1 if ids.size else 1, np.int32)
    order = np.argsort(first[keep], kind="stable")
    lut[ids[keep][order]] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lut[labels]


# ------------------------------------------------------------------------------- untiled


def instances_from_probabilities(
    probabilities: Any,
    *,
    spacing: Sequence[float] | float | None = None,
    foreground_threshold: float = 0.5,
    seed_threshold: float = 0.5,
    min_seed_size: float = 0.0,
    min_size: float = 0.0,
    fill_holes: bool = True,
    max_hole_size: float | None = None,
    channels: tuple[int, int, int] = (0, 1, 2),
) -> np.ndarray:
    """Objects from (background, interior, boundary) probabilities, in memory.

    Parameters
    ----------
    probabilities : array-like
        ``(C, Y, X)`` or ``(C, Z, Y, X)`` class probabilities, class axis first (the output of
        ``predict(..., output="probabilities")`` for an instance model).
    spacing : float or sequence of float, optional
        Pixel/voxel size per spatial axis (e.g. micrometres, ZYX order). Distances and sizes
        are measured in these units; ``None`` means 1 per axis (pixels).
    foreground_threshold, seed_threshold, min_seed_size, min_size, fill_holes, max_hole_size,
    channels
        See :class:`InstanceOptions`.

    Returns
    -------
    numpy.ndarray
        int32 labels with the spatial shape: 0 background, objects 1..N.
    """
    opts, ndim, sp = checked_options(
        probabilities, spacing, foreground_threshold, seed_threshold, min_seed_size, min_size,
        fill_holes, max_hole_size, channels,
    )
    p = np.asarray(probabilities, dtype=np.float32)
    structure = face_structure(ndim)
    fg, seed_mask = foreground_seeds(p, opts)

    seeds, n_seeds = ndi.label(seed_mask, structure=structure)
    min_seed_pixels = size_in_pixels(opts.min_seed_size, sp) or 0.0
    if n_seeds and min_seed_pixels > 0:
        small = np.bincount(seeds.ravel(), minlength=n_seeds + 1) < min_seed_pixels
        small[0] = False
        seeds[small[seeds]] = 0
    markers = markers_with_lone_components(seeds, fg, structure)
    labels = flood_from_seeds(p, fg, markers, sp, opts)
    return drop_small_and_renumber(labels, size_in_pixels(opts.min_size, sp) or 0.0)


def markers_with_lone_components(
    seeds: np.ndarray, mask: np.ndarray, structure: np.ndarray
) -> np.ndarray:
    """Watershed markers: ``seeds`` (labels 1..n), plus one marker for each component of
    ``mask`` that holds no seed (covering the whole component), so no masked pixel is lost."""
    seeds, _, _ = _relabel(seeds)
    n_seeds = int(seeds.max()) if seeds.size else 0
    comps, n_comps = ndi.label(mask, structure=structure)
    has_seed = np.zeros(n_comps + 1, bool)
    has_seed[comps[seeds > 0]] = True
    lone = np.zeros(n_comps + 1, np.int64)
    lone_ids = np.flatnonzero(~has_seed[1:]) + 1
    lone[lone_ids] = n_seeds + np.arange(1, lone_ids.size + 1)
    return np.where(seeds > 0, seeds, lone[comps]).astype(np.int32)


def _relabel(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, np.int32)
    lut[ids] = np.arange(1, ids.size + 1, dtype=np.int32)
    return lut[labels], ids, lut


def flood_from_seeds(
    p: np.ndarray,
    fg: np.ndarray,
    markers: np.ndarray,
    sp: tuple[float, ...],
    opts: InstanceOptions,
) -> np.ndarray:
    if not markers.any():
        return np.zeros(fg.shape, np.int32)
    land = _landscape(p[opts.channels[1]], fg, sp)
    labels = watershed(land, markers, mask=fg, connectivity=1).astype(np.int32)
    if opts.fill_holes:
        labels = fill_enclosed_holes(labels, size_in_pixels(opts.max_hole_size, sp))
    return labels
