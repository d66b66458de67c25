"""An OME-Zarr result store being written: :class:`ResultStore` creates the level-0 arrays
on disk for the predictor to fill tile by tile, in the predictor's own axis order, and
:meth:`ResultStore.finish` adds the pyramid and the NGFF metadata (multiscales, ``omero``
channels, label images with their colours and class names).

Part of the OME-Zarr writer :mod:`napari_unet.core.ngff` (which re-exports
:class:`ResultStore`; the layout is described there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.io import classes_dtype
from napari_unet.core.ngffaxes import PermutedArray, check_result_axes
from napari_unet.core.ngffmeta import CHUNK_KEYS, LABEL_KINDS, RESULT_KINDS, class_colors, ngff_unit
from napari_unet.core.ngffpyramid import add_pyramid

__all__ = ["ResultStore"]

_IMAGE_KINDS = ("probabilities", "uncertainty")
_TYPES = {"T": "time", "Z": "space", "Y": "space", "X": "space"}


def _stored_order(axes: str) -> str:
    """NGFF order: time first, then the space axes as given."""
    return ("T" if "T" in axes else "") + axes.replace("T", "")


def _default_chunks(axes: str, shape: Sequence[int]) -> tuple[int, ...]:
    size = {"T": 1, "Z": 32}
    return tuple(min(int(s), size.get(a, 256)) for a, s in zip(axes, shape))


class ResultStore:
    """An OME-Zarr result store being written: level-0 arrays now, pyramid and metadata at
    :meth:`finish`.

    Parameters
    ----------
    path : path
        Where to create the store (a new or replaceable path; callers stage it, see
        :func:`~napari_unet.core.outputs.staged`).
    kinds : sequence of str
        Results to hold: ``probabilities``, ``classes``, ``instances``, ``uncertainty``.
    axes : str
        Axes of the results without the class axis, letters of ``TZYX`` in the predictor's
        order (e.g. ``"ZYX"``, ``"TYX"``).
    shape : sequence of int
        Shape over ``axes``.
    n_classes : int
        K, the length of the class axis of the probabilities.
    scale, units : mapping, optional
        Physical size and unit per axis letter (only where known).
    class_names : sequence of str, optional
        Names of classes 1..K (default ``"class 1"`` ...).
    chunks : sequence of int, optional
        Level-0 chunks over ``axes`` (the class axis is chunked by 1); a distributed
        predictor passes its tile cores so that no two tasks write one chunk.
    dtypes : mapping, optional
        dtype per label kind (default: classes in :func:`~napari_unet.core.io.classes_dtype`,
        instances int32).

    Attributes
    ----------
    arrays : dict
        Per kind, an array to write into in the predictor's order: ``(K, *shape)`` for the
        probabilities, ``shape`` otherwise.
    locations : dict
        Per kind, ``(path of the level-0 zarr array, order)`` where ``order[i]`` is the stored
        axis of axis ``i`` of :attr:`arrays` (see
        :func:`~napari_unet.core.ngffaxes.write_block`), for workers that open the array
        themselves.
    """

    def __init__(self, path: str | os.PathLike, *, kinds: Sequence[str], axes: str,
                 shape: Sequence[int], n_classes: int,
                 scale: Mapping[str, float] | None = None,
                 units: Mapping[str, str] | None = None,
                 class_names: Sequence[str] | None = None,
                 chunks: Sequence[int] | None = None,
                 dtypes: Mapping[str, Any] | None = None) -> None:
        import zarr

        self.axes = check_result_axes(axes)
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != len(self.axes):
            raise ValueError(f"shape {self.shape}: expected one size per axis of {self.axes}")
        kinds = tuple(dict.fromkeys(kinds))
        bad = [k for k in kinds if k not in RESULT_KINDS]
        if bad or not kinds:
            raise ValueError(f"kinds: expected some of {RESULT_KINDS}, found {list(kinds)}")
        self.kinds = kinds
        self.n_classes = int(n_classes)
        self.class_names = self._names(class_names)
        self.scale = self._scale(scale)
        self.units = {a: u for a, u in ((a, ngff_unit((units or {}).get(a)))
                                        for a in self.axes) if u}
        self.path = Path(path)
        self.stored = _stored_order(self.axes)
        self.order = tuple(self.stored.index(a) for a in self.axes)
        ch = tuple(int(c) for c in chunks) if chunks is not None else _default_chunks(
            self.axes, self.shape)
        self.chunks = {a: max(1, min(c, s)) for a, c, s in zip(self.axes, ch, self.shape)}
        dtypes = dict(dtypes or {})
        self.root = zarr.open_group(str(self.path), mode="w", zarr_format=2)
        self.groups: dict[str, Any] = {}
        self.arrays: dict[str, Any] = {}
        self.locations: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.image_kind = next((k for k in ("probabilities", "uncertainty", *LABEL_KINDS)
                                if k in kinds), kinds[0])
        for kind in kinds:
            group = self._group(kind)
            if kind == "probabilities":
                dtype, order = np.dtype(np.float32), self._with_c_order()
            elif kind == "uncertainty":
                dtype, order = np.dtype(np.float32), self.order
            else:
                default = classes_dtype(self.n_classes) if kind == "classes" else np.int32
                dtype, order = np.dtype(dtypes.get(kind, default)), self.order
            stored_axes = self._stored_axes(kind)
            stored_shape = tuple(self.n_classes if a == "C" else self.shape[self.axes.index(a)]
                                 for a in stored_axes)
            stored_chunks = tuple(1 if a == "C" else self.chunks[a] for a in stored_axes)
            array = group.create_array("0", shape=stored_shape, chunks=stored_chunks,
                                       dtype=dtype, fill_value=0,
                                       chunk_key_encoding=CHUNK_KEYS)
            self.groups[kind] = group
            identity = tuple(order) == tuple(range(len(order)))
            self.arrays[kind] = array if identity else PermutedArray(array, order)
            self.locations[kind] = (str((self.path / self._rel(kind) / "0").resolve()),
                                    tuple(order))

    # -- layout ------------------------------------------------------------------------------
    def _names(self, names: Sequence[str] | None) -> tuple[str, ...]:
        if names is None:
            return tuple(f"class {i}" for i in range(1, self.n_classes + 1))
        names = tuple(str(n) for n in names)
        if len(names) != self.n_classes:
            raise ValueError(f"class_names: expected {self.n_classes} names (one per class), "
                             f"found {len(names)}: {list(names)}")
        return names

    def _scale(self, scale: Mapping[str, float] | None) -> dict[str, float]:
        out = {}
        for a, v in (scale or {}).items():
            if a.upper() not in self.axes:
                continue
            value = float(v)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"scale[{a!r}]: expected a positive size, found {v!r}")
            out[a.upper()] = value
        return out

    def _with_c_order(self) -> tuple[int, ...]:
        """Stored position of (K, *axes): c after t."""
        stored = self._stored_axes("probabilities")
        return tuple(stored.index(a) for a in "C" + self.axes)

    def _stored_axes(self, kind: str) -> str:
        if kind != "probabilities":
            return self.stored
        return ("T" if "T" in self.axes else "") + "C" + self.axes.replace("T", "")

    def _rel(self, kind: str) -> str:
        if kind == self.image_kind:
            return "."
        if kind in LABEL_KINDS:
            return f"labels/{kind}"
        return kind

    def _group(self, kind: str) -> Any:
        rel = self._rel(kind)
        return self.root if rel == "." else self.root.require_group(rel)

    # -- pyramid and metadata ----------------------------------------------------------------
    def _datasets(self, kind: str, levels: int) -> list[dict[str, Any]]:
        axes = self._stored_axes(kind)
        out = []
        for level in range(levels):
            factor = {"Y": 2 ** level, "X": 2 ** level}
            scale = [1.0 if a == "C" else self.scale.get(a, 1.0) * factor.get(a, 1)
                     for a in axes]
            transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
            if level and kind in _IMAGE_KINDS:  # a mean of 2^l pixels is centred between them
                shift = [0.0 if a not in factor else self.scale.get(a, 1.0) * (factor[a] - 1) / 2
                         for a in axes]
                transforms.append({"type": "translation", "translation": shift})
            out.append({"path": str(level), "coordinateTransformations": transforms})
        return out

    def _axes_meta(self, kind: str) -> list[dict[str, str]]:
        out = []
        for a in self._stored_axes(kind):
            entry = {"name": a.lower(), "type": "channel" if a == "C" else _TYPES[a]}
            if a in self.units:
                entry["unit"] = self.units[a]
            out.append(entry)
        return out

    def finish(self) -> Path:
        """Write the pyramids and the NGFF metadata; returns the store's path."""
        from ome_zarr.format import FormatV04
        from ome_zarr.writer import write_label_metadata, write_multiscales_metadata

        fmt = FormatV04()
        labels = [k for k in LABEL_KINDS if k in self.kinds]
        targets = [(self.groups[k] if k not in labels else self._label_group(k), k)
                   for k in self.kinds]
        if self.image_kind in LABEL_KINDS:  # the root image holds the first labels' values
            self._copy_root_labels()
            targets.insert(0, (self.root, self.image_kind))
        for group, kind in targets:
            levels = add_pyramid(group, self._stored_axes(kind), mean=kind in _IMAGE_KINDS)
            meta: dict[str, Any] = {}
            if kind == "probabilities":
                colors = class_colors(self.n_classes)
                meta["omero"] = {"channels": [
                    {"label": name, "color": "".join(f"{round(255 * v):02X}" for v in rgb),
                     "window": {"min": 0.0, "max": 1.0, "start": 0.0, "end": 1.0},
                     "active": i > 0} for i, (name, rgb) in enumerate(zip(self.class_names,
                                                                           colors))]}
            write_multiscales_metadata(group, self._datasets(kind, levels), fmt=fmt,
                                       axes=self._axes_meta(kind), name=kind,
                                       metadata=meta)
        if labels:
            holder = self.root.require_group("labels")
            for kind in labels:
                colors = properties = None
                if kind == "classes":
                    colors = [{"label-value": i, "rgba": [round(255 * v) for v in rgb] + [255]}
                              for i, rgb in enumerate(class_colors(self.n_classes), 1)]
                    properties = [{"label-value": i, "class": name}
                                  for i, name in enumerate(self.class_names, 1)]
                write_label_metadata(holder, kind, colors=colors, properties=properties,
                                     fmt=fmt, source={"image": "../../"})
        return self.path

    def _label_group(self, kind: str) -> Any:
        return self.root.require_group(f"labels/{kind}")

    def _copy_root_labels(self) -> None:
        """Without probabilities or uncertainty, the root image holds the first labels'
        values (written there by the predictor); copy them to ``labels/<kind>``."""
        import dask.array as da

        kind = self.image_kind
        source = self.root["0"]
        target_group = self._label_group(kind)
        copy = target_group.create_array("0", shape=source.shape, chunks=source.chunks,
                                         dtype=source.dtype, fill_value=0,
                                         chunk_key_encoding=CHUNK_KEYS)
        da.store(da.from_zarr(source), copy, lock=False, scheduler="threads")
