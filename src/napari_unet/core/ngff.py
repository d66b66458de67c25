"""Results as one OME-Zarr (NGFF) store: probabilities as an image, classes and objects as
label images, with the input's physical scale and units.

Layout of a store ``<stem>.ome.zarr`` (NGFF 0.4, zarr format 2):

* the root is a multiscale image: the probabilities, axes ``[t,] c, [z,] y, x``; the channel
  axis is named after the classes (``omero`` channel labels, window 0..1);
* ``labels/classes`` and ``labels/instances``: label images (``image-label`` metadata; the
  classes carry a colour and a name per value), axes without ``c``;
* ``uncertainty``: a second multiscale image (no ``c`` axis) in a child group of the root.

NGFF 0.4 rather than 0.5, because 0.4 (zarr format 2) is what the readers of our users read
today: ome-zarr-py 0.18 reads both but writes 0.5 as "not supported yet"
(``FormatV05``), napari-ome-zarr, Fiji (MoBIE/BigDataViewer, n5-zarr), QuPath and bioio
read 0.4; 0.5 needs zarr format 3, which several of them do not read yet.

NGFF images need an image at the root: when no probabilities are written, the root image is
the uncertainty when there is one, else the first label image (its values, no ``c`` axis) and
the label images are under ``labels/`` as always.

Big results are never held whole: :class:`ResultStore` creates the level-0 arrays on disk for
the predictor to fill tile by tile (:attr:`ResultStore.arrays` take writes in the
predictor's own axis order, ``(K, *axes)``), and :meth:`ResultStore.finish` adds the pyramid
(2x in Y and X per level while a side is over :data:`PYRAMID_SIDE`: the mean for
probabilities and uncertainty, every second pixel for labels) chunk by chunk with dask, then
the metadata. :func:`write_results` does the same for arrays already in memory or dask,
staged (a temporary sibling moved into place when complete).

This module keeps :func:`write_results`; the other parts live in modules of their own, and
the names this module exported are re-exported here:

* :mod:`napari_unet.core.ngffmeta`: NGFF version, result kinds, chunk key encoding, units
  (:func:`~napari_unet.core.ngffmeta.ngff_unit`) and class colours;
* :mod:`napari_unet.core.ngffaxes`: the result axes check and the stored axis order
  (:func:`~napari_unet.core.ngffaxes.write_block`);
* :mod:`napari_unet.core.ngffpyramid`: the pyramid
  (:func:`~napari_unet.core.ngffpyramid.add_pyramid`, :data:`PYRAMID_SIDE`);
* :mod:`napari_unet.core.ngffstore`: :class:`~napari_unet.core.ngffstore.ResultStore`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.ngffaxes import PermutedArray, check_result_axes, write_block
from napari_unet.core.ngffmeta import (
    LABEL_KINDS,
    NGFF_VERSION,
    RESULT_KINDS,
    class_colors,
    ngff_unit,
)
from napari_unet.core.ngffpyramid import PYRAMID_SIDE, add_pyramid
from napari_unet.core.ngffstore import ResultStore

__all__ = [
    "LABEL_KINDS",
    "NGFF_VERSION",
    "PYRAMID_SIDE",
    "ResultStore",
    "add_pyramid",
    "class_colors",
    "ngff_unit",
    "write_block",
    "write_results",
]


def _spec(kind: str, value: Any, axes: str) -> tuple[int, ...]:
    shape = tuple(int(s) for s in getattr(value, "shape", ()))
    want = len(axes) + (1 if kind == "probabilities" else 0)
    if len(shape) != want:
        head = "(K, " if kind == "probabilities" else "("
        raise ValueError(f"arrays[{kind!r}]: expected {want} axes {head}{', '.join(axes)}), "
                         f"found shape {shape}")
    if kind in LABEL_KINDS and not np.issubdtype(np.dtype(value.dtype), np.integer):
        raise TypeError(f"arrays[{kind!r}]: expected integer labels, found dtype "
                        f"{value.dtype}")
    return shape[1:] if kind == "probabilities" else shape


def write_results(path: str | os.PathLike, arrays: Mapping[str, Any], *, axes: str,
                  scale: Mapping[str, float] | None = None,
                  units: Mapping[str, str] | None = None,
                  class_names: Sequence[str] | None = None) -> Path:
    """Write results (numpy, dask or zarr arrays) as one OME-Zarr store at ``path``.

    Parameters
    ----------
    path : path
        The store to write, e.g. ``cells.ome.zarr``; written to a temporary sibling and moved
        into place when complete. An existing store is replaced then; a file or a folder that
        is not a zarr store is refused before anything is written.
    arrays : mapping
        Some of ``probabilities`` (``(K, *shape)``), ``classes``, ``instances`` (integer,
        ``shape``) and ``uncertainty`` (``shape``). See the module notes for the layout.
    axes : str
        Axes of ``shape`` (no class axis), letters of ``TZYX``.
    scale, units : mapping, optional
        Physical size and unit per axis letter, only where known.
    class_names : sequence of str, optional
        Names of classes 1..K, for the probability channels and the class labels.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError, TypeError
        For unknown kinds, shapes that disagree with ``axes`` or with each other, or
        non-integer labels.
    """
    import dask.array as da

    from napari_unet.core.outputs import staged

    name = check_result_axes(axes)
    bad = sorted(set(arrays) - set(RESULT_KINDS))
    if bad or not arrays:
        raise ValueError(f"arrays: expected some of {RESULT_KINDS}, found {sorted(arrays)}")
    shapes = {k: _spec(k, v, name) for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"arrays: expected one shape over axes {name} for every result, "
                         f"found {shapes}")
    shape = next(iter(shapes.values()))
    n_classes = int(arrays["probabilities"].shape[0]) if "probabilities" in arrays else (
        len(class_names) if class_names is not None else None)
    if n_classes is None:  # the largest class value (read chunk by chunk when lazy)
        n_classes = int(da.asarray(arrays["classes"]).max().compute(scheduler="threads")
                        ) if "classes" in arrays else 1
    dtypes = {k: np.dtype(arrays[k].dtype) for k in LABEL_KINDS if k in arrays}
    if Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"output {str(path)!r}: expected a new path or an OME-Zarr store to "
                         f"replace, found a file; choose another name")
    with staged(path) as tmp:
        store = ResultStore(tmp, kinds=tuple(arrays), axes=name, shape=shape,
                            n_classes=n_classes, scale=scale, units=units,
                            class_names=class_names, dtypes=dtypes)
        for kind, value in arrays.items():
            target = store.arrays[kind]
            stored = target.array if isinstance(target, PermutedArray) else target
            order = store.locations[kind][1]
            lazy = value if isinstance(value, da.Array) else da.from_array(value, chunks=(
                stored.chunks if not isinstance(target, PermutedArray) else "auto"))
            lazy = da.transpose(lazy, [int(i) for i in np.argsort(order)]).astype(stored.dtype)
            da.store(lazy.rechunk(stored.chunks), stored, lock=False, scheduler="threads")
        store.finish()
    return Path(path)
