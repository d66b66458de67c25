"""Axes of the results in an OME-Zarr store: the check of a result's axis letters, and
writing and reading blocks of an array stored in another axis order than the predictor's
(NGFF puts time first and the channel after it).

Part of the OME-Zarr writer :mod:`napari_unet.core.ngff` (which re-exports
:func:`write_block`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["PermutedArray", "check_result_axes", "write_block"]


def check_result_axes(axes: str) -> str:
    """``axes`` in upper case, checked: distinct letters of ``TZYX`` including Y and X."""
    name = str(axes).upper() if isinstance(axes, str) else ""
    bad = sorted(set(name) - set("TZYX"))
    if not name or bad or len(set(name)) != len(name) or "Y" not in name or "X" not in name:
        found = "S (samples), which NGFF has no axis for" if "S" in name else repr(axes)
        raise ValueError(f"axes: expected distinct letters from 'TZYX' including Y and X (the "
                         f"result's axes without the class axis), found {found}")
    return name


def write_block(array: Any, key: tuple, value: Any, order: Sequence[int]) -> None:
    """Write ``value`` at ``key`` (in view axis order) into ``array`` stored in another order.

    ``order[i]`` is the stored axis of view axis ``i``. Integer keys drop their axis, as in
    numpy; ``value`` has the kept axes in view order.
    """
    key = tuple(key) + (slice(None),) * (len(order) - len(key))
    stored: list[Any] = [slice(None)] * len(order)
    for i, k in enumerate(key):
        stored[order[i]] = k
    kept = [order[i] for i, k in enumerate(key) if not isinstance(k, (int, np.integer))]
    data = np.asarray(value)
    if data.ndim == len(kept) and kept != sorted(kept):
        data = np.transpose(data, np.argsort(kept))
    array[tuple(stored)] = data


class PermutedArray:
    """A stored array seen in another axis order (writes and reads by key)."""

    def __init__(self, array: Any, order: Sequence[int]) -> None:
        self.array, self.order = array, tuple(order)
        self.shape = tuple(int(array.shape[o]) for o in self.order)
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def __setitem__(self, key: Any, value: Any) -> None:
        write_block(self.array, key if isinstance(key, tuple) else (key,), value, self.order)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = (key if isinstance(key, tuple) else (key,))
        if key == (Ellipsis,):
            key = ()
        key = key + (slice(None),) * (self.ndim - len(key))
        stored: list[Any] = [slice(None)] * self.ndim
        for i, k in enumerate(key):
            stored[self.order[i]] = k
        kept = [self.order[i] for i, k in enumerate(key) if not isinstance(k, (int, np.integer))]
        data = np.asarray(self.array[tuple(stored)])
        return np.transpose(data, np.argsort(np.argsort(kept))) if data.ndim == len(kept) else data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[()]
        return data if dtype is None else data.astype(dtype)
