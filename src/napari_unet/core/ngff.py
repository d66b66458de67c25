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
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.io import classes_dtype

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

NGFF_VERSION = "0.4"
#: A pyramid level is added while the last level's Y or X side is larger than this.
PYRAMID_SIDE = 1024
#: Results stored as label images.
LABEL_KINDS = ("classes", "instances")
_IMAGE_KINDS = ("probabilities", "uncertainty")
_KINDS = ("probabilities", "classes", "instances", "uncertainty")
#: Chunk files as NGFF 0.4 names them: ``0/3/2`` (nested folders).
_KEYS = {"name": "v2", "separator": "/"}
_TYPES = {"T": "time", "Z": "space", "Y": "space", "X": "space"}
#: Units written as NGFF (UDUNITS-2) names.
_UNITS = {
    "um": "micrometer", "µm": "micrometer", "μm": "micrometer", "micron": "micrometer",
    "microns": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
    "m": "meter", "pm": "picometer", "a": "angstrom", "å": "angstrom", "s": "second",
    "sec": "second", "ms": "millisecond", "us": "microsecond", "µs": "microsecond",
    "min": "minute", "h": "hour", "hr": "hour", "ns": "nanosecond",
}
_KNOWN_UNITS = {
    "angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot",
    "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer", "mile",
    "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter", "yard",
    "yoctometer", "yottameter", "zeptometer", "zettameter", "attosecond", "centisecond", "day",
    "decisecond", "exasecond", "femtosecond", "gigasecond", "hectosecond", "hour",
    "kilosecond", "megasecond", "microsecond", "millisecond", "minute", "nanosecond",
    "petasecond", "picosecond", "second", "terasecond", "yoctosecond", "yottasecond",
    "zeptosecond", "zettasecond",
}
_PALETTE = [(0.6, 0.6, 0.6), (0.9, 0.2, 0.2), (0.2, 0.7, 0.2), (0.2, 0.4, 0.95),
            (0.95, 0.8, 0.1), (0.8, 0.3, 0.9), (0.1, 0.8, 0.85), (0.95, 0.55, 0.1)]


def ngff_unit(unit: str | None) -> str | None:
    """The NGFF (UDUNITS-2) name of ``unit`` (``"µm"`` -> ``"micrometer"``), or ``None`` when
    it is empty, ``"pixel"`` or not a unit NGFF knows."""
    if not unit:
        return None
    text = str(unit).strip()
    name = _UNITS.get(text.lower(), _UNITS.get(text, text.lower()))
    return name if name in _KNOWN_UNITS else None


def class_colors(n_classes: int) -> list[tuple[float, float, float]]:
    """One RGB colour (0..1) per class 1..K: grey for background, then distinct colours."""
    return [_PALETTE[i % len(_PALETTE)] for i in range(int(n_classes))]


def _check_axes(axes: str) -> str:
    name = str(axes).upper() if isinstance(axes, str) else ""
    bad = sorted(set(name) - set("TZYX"))
    if not name or bad or len(set(name)) != len(name) or "Y" not in name or "X" not in name:
        found = "S (samples), which NGFF has no axis for" if "S" in name else repr(axes)
        raise ValueError(f"axes: expected distinct letters from 'TZYX' including Y and X (the "
                         f"result's axes without the class axis), found {found}")
    return name


def _stored_order(axes: str) -> str:
    """NGFF order: time first, then the space axes as given."""
    return ("T" if "T" in axes else "") + axes.replace("T", "")


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


class _Permuted:
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
                                    chunk_key_encoding=_KEYS)
        da.store(x.rechunk(chunks), target, lock=False, scheduler="threads")
    return level + 1


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
        axis of axis ``i`` of :attr:`arrays` (see :func:`write_block`), for workers that
        open the array themselves.
    """

    def __init__(self, path: str | os.PathLike, *, kinds: Sequence[str], axes: str,
                 shape: Sequence[int], n_classes: int,
                 scale: Mapping[str, float] | None = None,
                 units: Mapping[str, str] | None = None,
                 class_names: Sequence[str] | None = None,
                 chunks: Sequence[int] | None = None,
                 dtypes: Mapping[str, Any] | None = None) -> None:
        import zarr

        self.axes = _check_axes(axes)
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != len(self.axes):
            raise ValueError(f"shape {self.shape}: expected one size per axis of {self.axes}")
        kinds = tuple(dict.fromkeys(kinds))
        bad = [k for k in kinds if k not in _KINDS]
        if bad or not kinds:
            raise ValueError(f"kinds: expected some of {_KINDS}, found {list(kinds)}")
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
                                       chunk_key_encoding=_KEYS)
            self.groups[kind] = group
            identity = tuple(order) == tuple(range(len(order)))
            self.arrays[kind] = array if identity else _Permuted(array, order)
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
                                         chunk_key_encoding=_KEYS)
        da.store(da.from_zarr(source), copy, lock=False, scheduler="threads")


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

    name = _check_axes(axes)
    bad = sorted(set(arrays) - set(_KINDS))
    if bad or not arrays:
        raise ValueError(f"arrays: expected some of {_KINDS}, found {sorted(arrays)}")
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
            stored = target.array if isinstance(target, _Permuted) else target
            order = store.locations[kind][1]
            lazy = value if isinstance(value, da.Array) else da.from_array(value, chunks=(
                stored.chunks if not isinstance(target, _Permuted) else "auto"))
            lazy = da.transpose(lazy, [int(i) for i in np.argsort(order)]).astype(stored.dtype)
            da.store(lazy.rechunk(stored.chunks), stored, lock=False, scheduler="threads")
        store.finish()
    return Path(path)
