"""Where to paint next: how unsure a model is, pixel by pixel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def uncertainty(probabilities: Any, *, chunk: int = 1 << 22) -> np.ndarray:
    """Normalised entropy of class probabilities: 0 = certain, 1 = all classes equally likely.

    Parameters
    ----------
    probabilities : array-like
        ``(K, ...)`` class probabilities (class axis first), K >= 2; numpy, dask or zarr.
    chunk : int
        Pixels handled at once, to bound the memory of big stacks.

    Returns
    -------
    numpy.ndarray
        float32 map with the probabilities' shape less the class axis.

    Raises
    ------
    ValueError
        If there are fewer than two classes.
    """
    shape = tuple(np.shape(probabilities))
    if len(shape) < 2 or shape[0] < 2:
        raise ValueError(
            f"probabilities: expected (classes >= 2, ...) with a class axis first, found shape "
            f"{shape}"
        )
    k, spatial = shape[0], shape[1:]
    out = np.empty(spatial, np.float32)
    flat_out = out.reshape(-1)
    rows = max(1, chunk // max(1, int(np.prod(spatial[1:], dtype=np.int64))))
    for start in range(0, spatial[0], rows):
        block = np.asarray(probabilities[:, start:start + rows], dtype=np.float32)
        p = np.clip(block, 1e-7, 1.0)
        entropy = -(p * np.log(p)).sum(axis=0) / np.log(k)
        n = entropy.size
        offset = start * (flat_out.size // spatial[0])
        flat_out[offset:offset + n] = np.clip(entropy, 0.0, 1.0).reshape(-1)
    return out


def _cell_sums(values: Any, cells: tuple[int, ...], *, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums and pixel counts of ``values`` over a grid of ``cells``-sized boxes.

    Reads ``values`` (numpy, dask or zarr) a slab of ``rows`` cells along the first axis at a
    time, so a huge lazy map never sits in memory whole.
    """
    shape = tuple(int(s) for s in np.shape(values))
    grid = tuple(-(-s // c) for s, c in zip(shape, cells))
    sums = np.zeros(grid, np.float64)
    counts = np.zeros(grid, np.float64)
    step = rows * cells[0]
    for start in range(0, shape[0], step):
        block = np.asarray(values[start:start + step], dtype=np.float64)
        block = np.nan_to_num(block, nan=0.0)
        pad = [(0, -(-n // c) * c - n) for n, c in zip(block.shape, cells)]
        ones = np.pad(np.ones(block.shape), pad)
        block = np.pad(block, pad)
        split = [x for n, c in zip(block.shape, cells) for x in (n // c, c)]
        inner = tuple(range(1, 2 * len(cells), 2))
        g0 = start // cells[0]
        sums[g0:g0 + split[0]] = block.reshape(split).sum(axis=inner)
        counts[g0:g0 + split[0]] = ones.reshape(split).sum(axis=inner)
    return sums, counts


def _box_sums(grid: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
    """Sums of ``grid`` over every ``box``-sized window that fits (an integral image)."""
    total = np.pad(grid, [(1, 0)] * grid.ndim)
    for axis in range(grid.ndim):
        total = np.cumsum(total, axis=axis)
    out = np.zeros(tuple(n - b + 1 for n, b in zip(grid.shape, box)), np.float64)
    for corner in np.ndindex(*(2,) * grid.ndim):
        sign = (-1) ** (grid.ndim - sum(corner))
        index = tuple(slice(b, b + n) if c else slice(0, n) for c, b, n in
                      zip(corner, box, out.shape))
        out += sign * total[index]
    return out


def most_uncertain_window(
    uncertainty_map: Any,
    window: Sequence[int],
    *,
    max_cells: int = 1 << 20,
) -> tuple[slice, ...]:
    """The window of ``uncertainty_map`` with the highest mean uncertainty: where to paint next.

    Parameters
    ----------
    uncertainty_map : array-like
        An uncertainty map (see :func:`uncertainty`) of one 2D image or 3D stack, numpy, dask
        or zarr; NaNs count as certain.
    window : sequence of int
        The window's size per axis (clipped to the map's shape), e.g. ``(64, 64)`` or
        ``(1, 64, 64)`` for the most uncertain region of a single slice of a stack.
    max_cells : int
        Bounds the work on huge maps: the map is first averaged over boxes of a few pixels
        (up to a quarter of the window per axis) so that at most about this many remain; the
        window found is then exact on that grid.

    Returns
    -------
    tuple of slice
        One slice per axis: the window, inside the map.

    Raises
    ------
    ValueError
        If ``window`` does not give one positive size per axis of the map.
    """
    shape = tuple(int(s) for s in np.shape(uncertainty_map))
    window = tuple(int(w) for w in window)
    if len(window) != len(shape) or any(w < 1 for w in window) or not all(shape):
        raise ValueError(
            f"window: expected one positive size per axis of the uncertainty map (shape "
            f"{shape}), found {window}"
        )
    window = tuple(min(w, s) for w, s in zip(window, shape))
    cells = [1] * len(shape)
    while np.prod([-(-s // c) for s, c in zip(shape, cells)], dtype=np.float64) > max_cells:
        grow = [i for i, (w, c) in enumerate(zip(window, cells)) if 2 * c <= max(1, w // 4)]
        if not grow:
            break
        for i in grow:
            cells[i] *= 2
    cells_t = tuple(cells)
    rows = max(1, int(max_cells // max(1, np.prod(shape[1:], dtype=np.float64)
                                       / np.prod(cells_t[1:], dtype=np.float64))))
    sums, counts = _cell_sums(uncertainty_map, cells_t, rows=rows)
    box = tuple(max(1, w // c) for w, c in zip(window, cells_t))
    means = _box_sums(sums, box) / np.maximum(_box_sums(counts, box), 1.0)
    best = np.unravel_index(int(np.argmax(means)), means.shape)
    out = []
    for b, c, w, s in zip(best, cells_t, window, shape):
        start = min(int(b) * c, s - w)
        out.append(slice(start, start + w))
    return tuple(out)
