"""The outputs of a prediction: their shapes and types, and where they are allocated.

One rule for every caller (the ``predict`` generator, the CLI, the Predict widget, Dask
prediction): ``probabilities`` are float32 ``(K, *out_shape)``, ``classes`` hold painting
values 1..K in :func:`~napari_unet.core.io.classes_dtype`, both over the image's non-channel
axes (``AxesPlan.out_axes``); in memory (numpy) or as zarr stores on disk.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_unet.core.io import classes_dtype, create_zarr

__all__ = ["KINDS", "allocate_outputs", "output_spec"]

#: What a prediction can give.
KINDS = ("probabilities", "classes")


def output_spec(kind: str, n_out: int, out_shape: Sequence[int]
                ) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of output ``kind`` of a model with ``n_out`` outputs.

    Raises
    ------
    ValueError
        For an unknown ``kind``.
    """
    shape = tuple(int(s) for s in out_shape)
    if kind == "probabilities":
        return (int(n_out), *shape), np.dtype(np.float32)
    if kind == "classes":
        return shape, classes_dtype(n_out)
    raise ValueError(f"output: expected one of {KINDS}, found {kind!r}")


def allocate_outputs(
    kinds: Sequence[str],
    n_out: int,
    out_shape: Sequence[int],
    *,
    stores: dict[str, str | os.PathLike] | None = None,
    group: Any = None,
    chunks: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Arrays for ``kinds``: numpy zeros, or zarr stores (``stores``: one path per kind;
    ``group``: arrays named after the kinds in an open zarr group).

    ``chunks`` are the chunks over ``out_shape`` (probabilities add their class axis whole);
    default: the zarr helper's.
    """
    out = {}
    for kind in kinds:
        shape, dtype = output_spec(kind, n_out, out_shape)
        ch = None
        if chunks is not None:
            ch = tuple(chunks) if kind == "classes" else (int(n_out), *chunks)
        if stores is not None:
            out[kind] = create_zarr(stores[kind], shape=shape, dtype=dtype, chunks=ch)
        elif group is not None:
            ch = ch or tuple(min(s, 256) for s in shape)
            out[kind] = group.create_array(kind, shape=shape, chunks=ch, dtype=dtype)
        else:
            out[kind] = np.zeros(shape, dtype=dtype)
    return out
