"""Where to paint next: how unsure a model is, pixel by pixel."""

from __future__ import annotations

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
