"""The resolution pyramid of an OME-Zarr result store: levels that halve Y and X (the mean
of 2 x 2 pixels for images, every second pixel for labels) while a side is over
:data:`PYRAMID_SIDE`, written chunk by chunk with dask.

Part of the OME-Zarr writer :mod:`napari_unet.core.ngff` (which re-exports every name here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_unet.core.ngffmeta import CHUNK_KEYS

__all__ = ["PYRAMID_SIDE", "add_pyramid"]

#: A pyramid level is added while the last level's Y or X side is larger than this.
PYRAMID_SIDE = 1024


def _halve_mean(block: np.ndarray, *, iy: int, ix: int) -> np.ndarray:
    """Mean of 2 x 2 pixels in Y and X (an odd last row/column is dropped)."""
    h, w = block.shape[iy] // 2, block.shape[ix] // 2
    index = [slice(None)] * block.ndim
    index[iy], index[ix] = slice(0, 2 * h), slice(0, 2 * w)
    shape = list(block.shape)
    shape[iy], shape[ix] = h, w
    moved = np.moveaxis(block[tuple(index)], (iy, ix), (-2, -1))
    pairs = moved.reshape(*moved.shape[:-2], h, 2, w, 2)
    return np.moveaxis(pairs.mean(axis=(-3, -1), dtype=np.float64), (-2, -1), (iy, ix)).astype(
        block.dtype)


def _halve_stride(block: np.ndarray, *, iy: int, ix: int) -> np.ndarray:
    """Every second pixel in Y and X (labels keep their values)."""
    index = [slice(None)] * block.ndim
    index[iy] = index[ix] = slice(None, None, 2)
    return block[tuple(index)]


def add_pyramid(group: Any, axes: str, *, mean: bool) -> int:
    """Add levels 1, 2, ... to the multiscale ``group`` (level ``"0"`` written), chunk by chunk.

    Each level halves Y and X of the one before (``mean``: the mean of 2 x 2 pixels, else
    every second pixel, as labels need) while its Y or X side is over :data:`PYRAMID_SIDE`.
    Blocks of twice the chunk are read and halved with one numpy reshape each (on local
    threads), so memory stays a few chunks per thread.

    Returns
    -------
    int
        The number of levels, level 0 included.
    """
    import dask.array as da

    iy, ix = axes.index("Y"), axes.index("X")
    level = 0
    while max(group[str(level)].shape[iy], group[str(level)].shape[ix]) > PYRAMID_SIDE:
        src = group[str(level)]
        read = [int(c) for c in src.chunks]  # even sizes, but the last block
        read[iy], read[ix] = 2 * read[iy], 2 * read[ix]
        x = da.from_zarr(src, chunks=tuple(read))
        out_chunks = tuple(
            tuple((c // 2 if mean else -(-c // 2)) for c in cs) if i in (iy, ix) else cs
            for i, cs in enumerate(x.chunks))
        x = x.map_blocks(_halve_mean if mean else _halve_stride, iy=iy, ix=ix,
                         chunks=out_chunks, dtype=src.dtype)
        chunks = tuple(min(int(c), int(n)) for c, n in zip(src.chunks, x.shape))
        level += 1
        target = group.create_array(str(level), shape=x.shape, chunks=chunks,
                                    dtype=src.dtype, fill_value=0,
                                    chunk_key_encoding=CHUNK_KEYS)
        da.store(x.rechunk(chunks), target, lock=False, scheduler="threads")
    return level + 1
