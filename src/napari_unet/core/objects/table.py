"""Tables of objects: one row per object (per time point), written as CSV.

:func:`measure_objects` measures labels over named axes: objects are measured per frame (time
point ``T``, sample ``S``) as :func:`~napari_unet.core.objects.frames.objects_per_frame` builds
them, with every other axis (Z, Y, X) one volume; :func:`write_csv` writes the table staged
(a temporary sibling moved into place), never over an input.

Columns: ``frame`` (only when ``axes`` has T or S: the frame's index, T major), ``label``,
``pixels``, ``area`` (2D) or ``volume`` (3D) in physical units (``spacing`` squared/cubed;
pixels when no spacing is known), ``centroid_<axis>`` in pixels of the image (``z``, ``y``,
``x``), ``mean_intensity`` (``mean_intensity_<c>`` per channel when the image has several)
and ``mean_probability`` (the mean of ``1 - P(background)``, or of the given map).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.objects.frames import FRAME_AXES, object_table

__all__ = ["measure_objects", "write_csv"]


def _axes(axes: str, ndim: int) -> str:
    name = str(axes).upper() if isinstance(axes, str) else ""
    bad = sorted(set(name) - set(FRAME_AXES + "ZYX"))
    if not name or bad or len(set(name)) != len(name) or len(name) != ndim:
        raise ValueError(f"axes={axes!r}: expected {ndim} distinct letters from "
                         f"{FRAME_AXES + 'ZYX'!r}, one per axis of the labels")
    vol = [a for a in name if a not in FRAME_AXES]
    if len(vol) not in (2, 3):
        raise ValueError(f"axes={axes!r}: expected 2 or 3 of Z, Y, X for the objects, found "
                         f"{''.join(vol) or 'none'}")
    return name


def _channels_first(image: Any, shape: tuple[int, ...], image_axes: str | None, axes: str,
                    ) -> np.ndarray | Any:
    """The image as ``(C, *shape)`` (lazy arrays stay lazy) or ``None``."""
    if image is None:
        return None
    ishape = tuple(int(s) for s in image.shape)
    if image_axes is not None:
        ia = str(image_axes).upper()
        if len(ia) != len(ishape) or sorted(ia.replace("C", "")) != sorted(axes):
            raise ValueError(f"image_axes={image_axes!r}: expected the axes {axes} of the "
                             f"labels (and C), one per axis of the image of shape {ishape}")
        order = ([ia.index("C")] if "C" in ia else []) + [ia.index(a) for a in axes]
        data = image.transpose(order) if hasattr(image, "transpose") else np.transpose(
            image, order)
        return data if "C" in ia else data[None]
    if ishape == shape:
        return image[None]
    if len(ishape) == len(shape) + 1 and ishape[1:] == shape:
        return image
    raise ValueError(f"image: expected the labels' shape {shape} or (C, *{shape}) (or give "
                     f"image_axes), found {ishape}")


def measure_objects(labels: Any, *, axes: str, image: Any = None, probabilities: Any = None,
                    spacing: Mapping[str, float] | None = None,
                    image_axes: str | None = None) -> dict[str, np.ndarray]:
    """One row per object (per frame): size in physical units, centroid, mean intensity and
    mean probability.

    Parameters
    ----------
    labels : array-like
        Integer objects, 0 = background (numpy, zarr or dask; read one frame at a time).
    axes : str
        Axes of ``labels``, letters of ``TSZYX`` (e.g. ``"YX"``, ``"ZYX"``, ``"TYX"``).
    image : array-like, optional
        Intensities: the labels' shape, ``(C, *labels shape)``, or any order named by
        ``image_axes``.
    probabilities : array-like, optional
        ``(K, *labels shape)`` class probabilities (the mean of ``1 - P(background)`` per
        object) or a map of the labels' shape.
    spacing : mapping, optional
        Physical size per axis letter (e.g. ``{"Z": 0.5, "Y": 0.1, "X": 0.1}``); axes not
        named count 1.
    image_axes : str, optional
        Axes of ``image`` when it is not laid out as above (e.g. ``"YXC"``, ``"ZCYX"``).

    Returns
    -------
    dict of str to numpy.ndarray
        Columns as described in the module notes, rows ordered by frame then label.

    Raises
    ------
    ValueError, TypeError
        For axes that do not fit, shapes that disagree or non-integer labels.
    """
    shape = tuple(int(s) for s in getattr(labels, "shape", np.shape(labels)))
    name = _axes(axes, len(shape))
    dtype = np.dtype(getattr(labels, "dtype", np.asarray(labels).dtype))
    if not np.issubdtype(dtype, np.integer):
        raise TypeError(f"labels: expected integer objects, found dtype {dtype}")
    img = _channels_first(image, shape, image_axes, name)
    prob = None
    if probabilities is not None:
        pshape = tuple(int(s) for s in probabilities.shape)
        if pshape == shape:
            prob = probabilities[None]
        elif len(pshape) == len(shape) + 1 and pshape[1:] == shape:
            prob = probabilities
        else:
            raise ValueError(f"probabilities: expected shape (K, *{shape}) or {shape}, found "
                             f"{pshape}")
    sp = {str(k).upper(): float(v) for k, v in (spacing or {}).items()}
    loop = [i for i, a in enumerate(name) if a in FRAME_AXES]
    vol = [a for a in name if a not in FRAME_AXES]
    vol_sp = tuple(sp.get(a, 1.0) for a in vol)
    columns: dict[str, list[np.ndarray]] = {}
    for frame in np.ndindex(*(shape[i] for i in loop)):
        index: list[Any] = [slice(None)] * len(name)
        for pos, value in zip(loop, frame):
            index[pos] = value
        key = tuple(index)
        lab = np.asarray(labels[key])
        pmap = None
        if prob is not None:
            p = np.asarray(prob[(slice(None), *key)], dtype=np.float64)
            pmap = p[0] if p.shape[0] == 1 else 1.0 - p[0]
        table = object_table(lab, probabilities=pmap, spacing=vol_sp)
        n = table["label"].size
        if loop:
            columns.setdefault("frame", []).append(
                np.full(n, int(np.ravel_multi_index(frame, [shape[i] for i in loop])),
                        np.int64))
        for col in ("label", "pixels", "area", "volume"):
            if col in table:
                columns.setdefault(col, []).append(table[col])
        for i, a in enumerate(vol):
            columns.setdefault(f"centroid_{a.lower()}", []).append(table[f"centroid-{i}"])
        if img is not None:
            block = np.asarray(img[(slice(None), *key)], dtype=np.float64)
            ids = table["label"]
            flat = lab.ravel()
            for c in range(block.shape[0]):
                sums = np.bincount(flat, weights=block[c].ravel(), minlength=int(flat.max()) + 1)
                col = "mean_intensity" if block.shape[0] == 1 else f"mean_intensity_{c}"
                columns.setdefault(col, []).append(sums[ids] / np.maximum(table["pixels"], 1))
        if pmap is not None:
            columns.setdefault("mean_probability", []).append(table["mean_probability"])
    return {k: np.concatenate(v) for k, v in columns.items()}


def write_csv(path: str | os.PathLike, table: Mapping[str, np.ndarray], *,
              inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Write a table (columns of equal length) as CSV with a header row, staged.

    Parameters
    ----------
    path : path
        The CSV file; replaced only when complete (a temporary sibling moved into place).
    table : mapping of str to array
        Columns, e.g. from :func:`measure_objects`.
    inputs : tuple of path
        Files the table must not replace (refused with a ``ValueError``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from napari_unet.core.outputs import check_not_an_input, staged

    target = Path(path)
    check_not_an_input(target, inputs, what="table", expected="a new .csv path")
    if target.is_dir():
        raise ValueError(f"table {str(target)!r}: expected a .csv file path, found a folder")
    cols = {str(k): np.asarray(v) for k, v in table.items()}
    lengths = {k: v.shape[0] if v.ndim else 1 for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"table: expected columns of one length, found {lengths}")
    n = next(iter(lengths.values()), 0)
    with staged(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(cols))
        for i in range(n):
            writer.writerow([_cell(v[i]) for v in cols.values()])
    return target


def _cell(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return repr(float(value)) if np.isfinite(value) else ""
    if isinstance(value, np.integer):
        return int(value)
    return value
