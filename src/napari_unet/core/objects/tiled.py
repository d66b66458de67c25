"""Objects block by block for volumes too big to hold: the same result as the untiled path.

:func:`instances_tiled` gives the same objects as
:func:`~napari_unet.core.objects.watershed.instances_from_probabilities`
(see there for the algorithm) block by block. It is a three-pass scheme in which labels are
global by construction, so nothing has to be stitched after the fact:

* pass 1 (block cores, no overlap): foreground and seeds are point-wise, so each block labels
  its seed and foreground components locally; components that touch across a block face are
  joined with a union-find over the face planes. This is exact: every seed and every
  foreground component gets one global id, whatever the block size. Seed sizes are summed over
  blocks before the ``min_seed_size`` filter.
* pass 2 (blocks with a halo): the watershed runs on each block plus ``halo`` pixels of real
  neighbours, with the global seed ids as markers, and only the block's core is kept. An object
  crossing a block border keeps the same id on both sides because its seed has one id. Results
  equal the untiled ones when the halo is wider than the objects' radius (the seed of every
  core pixel then lies inside the halo, and so does its nearest background pixel).
* pass 3: object sizes and first pixels are summed over blocks, small objects are removed and
  the rest renumbered 1..N in the same raster order as the untiled function.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from napari_unet.core.objects.watershed import (
    checked_options,
    face_structure,
    flood_from_seeds,
    foreground_seeds,
    size_in_pixels,
)
from napari_unet.core.progress import Progress


def _blocks(shape: tuple[int, ...], block: tuple[int, ...]) -> list[tuple[slice, ...]]:
    ranges = [range(0, s, b) for s, b in zip(shape, block, strict=True)]
    return [
        tuple(slice(o, min(o + b, s)) for o, b, s in zip(origin, block, shape, strict=True))
        for origin in itertools.product(*ranges)
    ]


def _scratch(shape: tuple[int, ...], block: tuple[int, ...], on_disk: str | None) -> Any:
    if on_disk is None:
        return np.zeros(shape, np.int64)
    import zarr

    return zarr.create_array(store=on_disk, shape=shape, chunks=block, dtype="int64", fill_value=0)


def instances_tiled(
    probabilities: Any,
    *,
    block_shape: Sequence[int],
    halo: Sequence[int] | int = 32,
    spacing: Sequence[float] | float | None = None,
    foreground_threshold: float = 0.5,
    seed_threshold: float = 0.5,
    min_seed_size: float = 0.0,
    min_size: float = 0.0,
    fill_holes: bool = True,
    max_hole_size: float | None = None,
    channels: tuple[int, int, int] = (0, 1, 2),
    out: Any = None,
) -> Generator[Progress, None, Any]:
    """Objects block by block, for probabilities too big to hold (numpy, zarr or dask).

    The same objects as :func:`instances_from_probabilities` (same numbering) whenever
    ``halo`` exceeds the objects' radius; see the module notes for the three passes.

    Parameters
    ----------
    probabilities : array-like
        ``(C, Y, X)`` or ``(C, Z, Y, X)``; read one block (plus halo) at a time by slicing.
    block_shape : sequence of int
        Core block size per spatial axis.
    halo : int or sequence of int
        Context pixels each side of a block for the watershed (per spatial axis).
    out : array-like, optional
        Where to write int32 labels (e.g. a zarr array of the spatial shape). When given, the
        intermediate labels live in a temporary zarr store on disk, not in memory.
    spacing, foreground_threshold, seed_threshold, min_seed_size, min_size, fill_holes,
    max_hole_size, channels
        As for :func:`instances_from_probabilities`.

    Yields
    ------
    Progress
        One record per block and pass.

    Returns
    -------
    array-like
        ``out`` when given, else a numpy int32 array.
    """
    opts, ndim, sp = checked_options(
        probabilities, spacing, foreground_threshold, seed_threshold, min_seed_size, min_size,
        fill_holes, max_hole_size, channels,
    )
    shape = tuple(int(s) for s in probabilities.shape[1:])
    block = per_axis(block_shape, ndim, "block_shape", minimum=1)
    hal = per_axis(halo, ndim, "halo", minimum=0)
    if out is not None and tuple(out.shape) != shape:
        raise ValueError(f"out: expected shape {shape}, found {tuple(out.shape)}")
    blocks = _blocks(shape, block)
    total = 3 * len(blocks)
    tmp = tempfile.TemporaryDirectory(prefix="napari-unet-instances-") if out is not None else None
    try:
        seeds_prov = _scratch(shape, block, None if tmp is None else tmp.name + "/seeds")
        fg_prov = _scratch(shape, block, None if tmp is None else tmp.name + "/fg")
        # ---- pass 1: local components with globally unique provisional ids
        n_seed, n_fg = 0, 0
        seed_sizes: list[np.ndarray] = [np.zeros(1, np.int64)]
        pairs: list[np.ndarray] = []
        structure = face_structure(ndim)
        for i, core in enumerate(blocks):
            p = np.asarray(probabilities[(slice(None), *core)], dtype=np.float32)
            fg, seed_mask = foreground_seeds(p, opts)
            s_lab, ns = ndi.label(seed_mask, structure=structure)
            f_lab, nf = ndi.label(fg, structure=structure)
            s_lab = np.where(s_lab > 0, s_lab + n_seed, 0).astype(np.int64)
            f_lab = np.where(f_lab > 0, f_lab + n_fg, 0).astype(np.int64)
            seed_sizes.append(np.bincount(s_lab[s_lab > 0] - n_seed, minlength=ns + 1)[1:])
            pairs.append(np.unique(np.stack([f_lab[s_lab > 0], s_lab[s_lab > 0]], 1), axis=0))
            seeds_prov[core] = s_lab
            fg_prov[core] = f_lab
            n_seed, n_fg = n_seed + ns, n_fg + nf
            yield Progress(i + 1, total, f"instances: components, block {i + 1}/{len(blocks)}")

        seed_comp = _join_faces(seeds_prov, shape, block, n_seed)
        fg_comp = _join_faces(fg_prov, shape, block, n_fg)
        sizes = np.bincount(seed_comp, weights=np.concatenate(seed_sizes), minlength=1)
        min_seed_pixels = size_in_pixels(opts.min_seed_size, sp) or 0.0
        alive = sizes >= max(min_seed_pixels, 1e-12)
        alive[seed_comp[0]] = False
        # surviving seeds are numbered in order of their component id, lone regions after them
        seed_rank = np.zeros(alive.size, np.int64)
        seed_rank[alive] = np.arange(1, int(alive.sum()) + 1)
        seed_lut = seed_rank[seed_comp]
        fg_has_seed = np.zeros(int(fg_comp.max()) + 1, bool)
        all_pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
        fg_has_seed[fg_comp[all_pairs[seed_lut[all_pairs[:, 1]] > 0, 0]]] = True
        lone = np.zeros(fg_has_seed.size, np.int64)
        lone_ids = np.flatnonzero(~fg_has_seed)
        lone_ids = lone_ids[lone_ids != fg_comp[0]]
        lone[lone_ids] = int(alive.sum()) + np.arange(1, lone_ids.size + 1)
        fg_lut = lone[fg_comp]
        fg_lut[0] = 0
        n_markers = int(alive.sum()) + lone_ids.size

        # ---- pass 2: watershed on block + halo with global markers, keep the core
        labels = np.zeros(shape, np.int32) if out is None else out
        counts = np.zeros(n_markers + 1, np.int64)
        first = np.full(n_markers + 1, np.iinfo(np.int64).max, np.int64)
        for i, core in enumerate(blocks):
            outer = tuple(
                slice(max(c.start - h, 0), min(c.stop + h, s))
                for c, h, s in zip(core, hal, shape, strict=True)
            )
            inner = tuple(
                slice(c.start - o.start, c.stop - o.start) for c, o in zip(core, outer, strict=True)
            )
            p = np.asarray(probabilities[(slice(None), *outer)], dtype=np.float32)
            fg, _ = foreground_seeds(p, opts)
            s_mark = seed_lut[np.asarray(seeds_prov[outer])]
            markers = np.where(s_mark > 0, s_mark, fg_lut[np.asarray(fg_prov[outer])])
            lab = flood_from_seeds(p, fg, markers.astype(np.int32), sp, opts)[inner]
            labels[core] = lab
            ids, idx, cnt = np.unique(lab.ravel(), return_index=True, return_counts=True)
            counts[ids] += cnt
            pos = np.unravel_index(idx, lab.shape)
            flat = np.ravel_multi_index(
                tuple(q + c.start for q, c in zip(pos, core, strict=True)), shape
            )
            first[ids] = np.minimum(first[ids], flat)
            yield Progress(len(blocks) + i + 1, total, f"instances: watershed, block {i + 1}")

        # ---- pass 3: size filter and raster-order numbering
        keep = counts >= (size_in_pixels(opts.min_size, sp) or 0.0)
        keep[0] = False
        keep &= counts > 0
        kept = np.flatnonzero(keep)
        final = np.zeros(n_markers + 1, np.int32)
        final[kept[np.argsort(first[kept], kind="stable")]] = np.arange(
            1, kept.size + 1, dtype=np.int32
        )
        if out is None:
            labels = final[labels]
            yield Progress(total, total, "instances: done")
        else:
            for i, core in enumerate(blocks):
                labels[core] = final[np.asarray(labels[core])]
                yield Progress(2 * len(blocks) + i + 1, total, f"instances: numbering {i + 1}")
        return labels
    finally:
        if tmp is not None:
            tmp.cleanup()


def per_axis(value: Sequence[int] | int, ndim: int, name: str, *, minimum: int) -> tuple:
    vals = (int(value),) * ndim if np.isscalar(value) else tuple(int(v) for v in value)  # type: ignore[union-attr]
    if len(vals) != ndim or any(v < minimum for v in vals):
        raise ValueError(
            f"{name}: expected {ndim} integers >= {minimum} (one per spatial axis), found {value!r}"
        )
    return vals


def _join_faces(prov: Any, shape: tuple[int, ...], block: tuple[int, ...], n: int) -> np.ndarray:
    """Union-find over block faces: component index of every provisional id (0 included)."""
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for ax, (s, b) in enumerate(zip(shape, block, strict=True)):
        for edge in range(b, s, b):
            lo = [slice(None)] * len(shape)
            hi = [slice(None)] * len(shape)
            lo[ax], hi[ax] = edge - 1, edge
            a = np.asarray(prov[tuple(lo)])
            c = np.asarray(prov[tuple(hi)])
            m = (a > 0) & (c > 0)
            rows.append(a[m])
            cols.append(c[m])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(n + 1, n + 1))
    _, comp = connected_components(graph, directed=False)
    return comp.astype(np.int64)
