"""One image file with what its metadata says: axes, physical pixel sizes, units, channels, scenes.

:func:`open_image` is the one reader of image files with metadata, used by the command line,
the Load widget and the napari reader contribution:

- ``.tif``/``.tiff`` (OME-TIFF and ImageJ hyperstacks included) through tifffile: the series'
  axes mapped to our alphabet (tifffile's ``S``, samples per pixel, is our ``C``), OME
  ``PhysicalSize*``/``TimeIncrement`` with their units and channel names, ImageJ ``spacing``,
  ``finterval``, ``unit`` and the resolution tags; one scene per tifffile series;
- zarr and OME-Zarr stores through zarr: NGFF ``multiscales`` axes, the scale of the first
  (full-resolution) dataset from its ``coordinateTransformations``, units, ``omero`` channel
  labels;
- ``.png``/``.jpg``/``.npy`` as :func:`napari_unet.core.io.read_image` reads them (no metadata);
- everything else (``.czi``, ``.nd2``, ``.lif``, ...) through bioio and its plugins (the
  ``formats`` extra): ``dims``, ``physical_pixel_sizes`` (micrometres), ``channel_names``,
  ``scenes``.

Lazy: zarr stores and bioio files are dask arrays; tif files bigger than :data:`LAZY_BYTES`
are dask arrays over tifffile's zarr store (read page by page); smaller files are numpy arrays.

Singleton rule: an axis of length 1 that is not Y or X (T, C, Z, and bioio's S) carries no
pixel information and is dropped, with its scale and unit (channel names are kept).

Images whose header declares more pixels than the file can hold are refused before anything
large is allocated (:func:`check_tiff_size`, :func:`check_stored_size`).

The pixels-only reader :func:`read_image` (re-exported by :mod:`napari_unet.core.io` with the
suffix rules) lives here too, so that there is one reader module and io imports it, not the
other way round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.axes import AXIS_LETTERS

__all__ = [
    "BIOIO_READS",
    "BIOIO_SUFFIXES",
    "COMPOUND_SUFFIXES",
    "IMAGE_SUFFIXES",
    "LAZY_BYTES",
    "ImageFile",
    "channel_layers",
    "check_in_memory",
    "check_stored_size",
    "check_tiff_size",
    "file_spacing",
    "holds_zarr",
    "is_zarr",
    "normalize_unit",
    "open_image",
    "open_zarr",
    "read_image",
    "stem",
]

#: File suffixes read by :func:`read_image`, lower case.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy", ".zarr",
                  ".czi", ".nd2", ".lif")
#: Compound suffixes recognised in names (``a.ome.tif`` has stem ``a``).
COMPOUND_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr")
#: Files bigger than this (declared pixel bytes) are opened lazily (dask).
LAZY_BYTES = 256 << 20
#: Suffixes read through bioio, with the plugin that reads them.
BIOIO_SUFFIXES = {".czi": "bioio_czi", ".nd2": "bioio_nd2", ".lif": "bioio_lif"}
#: Suffixes :func:`read_image` hands to bioio.
BIOIO_READS = tuple(BIOIO_SUFFIXES)
#: Compressed image data is refused when it declares more than this many times its stored
#: bytes (zlib tops out near 1000:1; the bound leaves room for zstd and LZW on empty images).
MAX_COMPRESSION = 1 << 16
#: Below this many declared bytes no size check is worth its cost.
_CHECK_BYTES = 64 << 20
_FORMATS_HINT = 'pip install "napari-unet[formats]"'

_UNITS = {
    "µm": "micrometer", "um": "micrometer", "micron": "micrometer", "microns": "micrometer",
    "\\u00b5m": "micrometer", "μm": "micrometer", "micrometre": "micrometer",
    "nm": "nanometer", "nanometre": "nanometer", "mm": "millimeter", "millimetre": "millimeter",
    "cm": "centimeter", "m": "meter", "å": "angstrom", "a": "angstrom",
    "s": "second", "sec": "second", "seconds": "second", "ms": "millisecond",
    "min": "minute", "minutes": "minute", "h": "hour", "hours": "hour",
}


@dataclass(frozen=True)
class ImageFile:
    """An opened image file (contract C1).

    Attributes
    ----------
    path : Path
        The file or store.
    data : array
        Dask array for big files and stores, numpy for small files; dims in ``axes`` order.
    axes : str or None
        Letters of :data:`napari_unet.core.axes.AXIS_LETTERS`, None when the file does not say.
    scale : dict
        Physical size per axis letter, only for axes where the file says so.
    units : dict
        Unit per axis letter (``"micrometer"``, ``"second"``), same keys as ``scale``.
    channel_names : tuple of str
        Empty when unknown.
    scene : str or None
        The scene opened (None for single-scene files).
    scenes : tuple of str
        All scenes/series of the file (one entry for single-scene files).
    """

    path: Path
    data: Any
    axes: str | None
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channel_names: tuple[str, ...] = ()
    scene: str | None = None
    scenes: tuple[str, ...] = ("0",)

    def describe(self, *, axes: bool = True, scale: bool = True) -> str:
        """What the file says, in words (for progress lines and status bars); ``axes`` and
        ``scale`` False leave those out (when the user gave them). Empty when nothing."""
        parts = [f"axes {self.axes}"] if axes and self.axes else []
        if scale and self.scale:
            parts.append("pixel size " + ", ".join(
                f"{a} {v:g}{' ' + self.units[a] if a in self.units else ''}"
                for a, v in self.scale.items()))
        if self.channel_names:
            parts.append("channels " + ", ".join(self.channel_names))
        if self.scene is not None:
            parts.append(f"scene {self.scene!r}")
        return "; ".join(parts)


def normalize_unit(unit: object) -> str | None:
    """A unit as napari/pint names it (``"µm"`` -> ``"micrometer"``); None when absent."""
    if unit is None:
        return None
    text = str(unit).strip()
    if not text or text.lower() in ("pixel", "pixels", "none"):
        return None
    return _UNITS.get(text.lower(), _UNITS.get(text, text))


def open_image(path: str | os.PathLike, *, scene: str | int | None = None,
               lazy: bool | None = None) -> ImageFile:
    """Open an image file or store with its metadata (see the module docstring).

    Parameters
    ----------
    path : str or PathLike
        A tif/OME-TIFF, zarr/OME-Zarr, png/jpg, npy file, or any file bioio reads.
    scene : str or int, optional
        The scene (series) to open, by name or index (a string of digits that names no scene
        is an index); default the first.
    lazy : bool, optional
        True: tif and bioio files as dask arrays whatever their size (the Load widget: no
        full read on napari's main thread); None: lazy above :data:`LAZY_BYTES`. Zarr stores
        are always lazy.

    Returns
    -------
    ImageFile

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read, the scene is unknown (the message lists the scenes), the
        header declares more pixels than the file holds, or the bioio plugin for the format is
        not installed (the message names ``pip install "napari-unet[formats]"``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    name = path.name.lower()
    try:
        if is_zarr(path):
            return _open_zarr_image(path, scene)
        if name.endswith((".tif", ".tiff")):
            return _open_tiff(path, scene, lazy)
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".npy"):
            _pick_scene(path, ("0",), scene)
            data = read_image(path)
            axes = "YX" if data.ndim == 2 else None
            return ImageFile(path, data, axes)
    except (OSError, KeyError, IndexError, TypeError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"image {str(path)!r} cannot be read: {err}") from err
    return _open_bioio(path, scene, lazy)


def file_spacing(image: ImageFile, axes: str) -> tuple[float, ...] | None:
    """The file's physical pixel sizes for the Z/Y/X axes of ``axes``, in their order.

    None unless the file gives a size for every one of them (a partial spacing would be a
    wrong anisotropy) and ``axes`` are the file's own axes.
    """
    volume = [a for a in axes.upper() if a in "ZYX"]
    if image.axes is None or axes.upper() != image.axes or not all(
            a in image.scale for a in volume):
        return None
    return tuple(image.scale[a] for a in volume)


# ------------------------------------------------------------------------------ plain files
def is_zarr(path: Path) -> bool:
    """Whether ``path`` is a zarr store (named ``*.zarr`` or holding zarr metadata)."""
    if path.suffix.lower() == ".zarr":
        return True
    return holds_zarr(path)


def holds_zarr(path: Path) -> bool:
    """Whether ``path`` is a folder with zarr metadata (a store napari-unet may replace)."""
    return path.is_dir() and any(
        (path / name).exists() for name in ("zarr.json", ".zarray", ".zgroup")
    )


def stem(path: str | os.PathLike) -> str:
    """The name of an input without its image suffix (``a.ome.tif`` -> ``a``)."""
    name = Path(path).name
    for suffix in (*COMPOUND_SUFFIXES, *IMAGE_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def open_zarr(path: Path) -> Any:
    """The image array of a zarr store: the store itself, or a group's array "0" (the full
    resolution of an OME-Zarr), or its first array by name."""
    import zarr

    node = zarr.open(str(path), mode="r")
    if hasattr(node, "shape"):
        return node
    # a group: an OME-Zarr multiscale ("0" is full resolution) or the first array inside
    if "0" in node:
        first = node["0"]
        if hasattr(first, "shape"):
            return first
    arrays = sorted(name for name, _ in node.arrays())
    if not arrays:
        raise ValueError(f"zarr store {str(path)!r} holds no array")
    return node[arrays[0]]


def read_image(path: str | os.PathLike, *, lazy: bool = False) -> Any:
    """Read one image file.

    Parameters
    ----------
    path : str or PathLike
        A ``.tif``/``.tiff``, ``.png``, ``.jpg``/``.jpeg``, ``.npy`` file or a zarr store; any
        other file is read through bioio (:func:`napari_unet.core.imagefile.open_image`, first
        scene, singleton axes dropped).
    lazy : bool
        Also keep tif files lazy: a read-only zarr view of the file, read page by page.

    Returns
    -------
    numpy.ndarray or zarr.Array
        numpy for files (``.npy`` memory-mapped, read-only); a lazy zarr array for zarr stores
        (for a group: the array ``"0"``, as in OME-Zarr, or the first array by name) and, with
        ``lazy=True``, for tif files.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the suffix is unknown or the file cannot be decoded, or a tif header declares more
        pixels than the file holds.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if is_zarr(path):
            return open_zarr(path)
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(str(path)) as tif:
                if tif.series:
                    check_tiff_size(path, tif.series[0])
            if lazy:
                import zarr

                return zarr.open(tifffile.imread(str(path), aszarr=True), mode="r")
            return tifffile.imread(str(path))
        if suffix == ".npy":
            array = np.load(str(path), mmap_mode="r", allow_pickle=False)
            if array.dtype.kind not in "biuf":
                raise ValueError(f"dtype {array.dtype} is not numeric")
            return array
        if suffix in (".png", ".jpg", ".jpeg"):
            from skimage.io import imread

            return np.asarray(imread(str(path)))
        if suffix in BIOIO_READS:
            return open_image(path).data
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, FileNotFoundError) or (
                isinstance(err, ValueError) and str(path) in str(err)):
            raise
        raise ValueError(f"image {str(path)!r} cannot be read: {err}") from err
    raise ValueError(
        f"image {str(path)!r} has unknown suffix {path.suffix!r}; expected one of "
        f"{', '.join(IMAGE_SUFFIXES)}"
    )


# ------------------------------------------------------------------------------ helpers
def _pick_scene(path: Path, scenes: Sequence[str], scene: str | int | None) -> int:
    """Index of ``scene`` (name or index) among ``scenes``."""
    if scene is None:
        return 0
    if isinstance(scene, (int, np.integer)) and not isinstance(scene, bool):
        index = int(scene)
    elif isinstance(scene, str) and scene in scenes:
        return list(scenes).index(scene)
    elif isinstance(scene, str) and scene.strip().lstrip("-").isdigit():
        index = int(scene)
    else:
        index = -1 - len(scenes)
    if not -len(scenes) <= index < len(scenes):
        listed = ", ".join(f"{i}: {s!r}" for i, s in enumerate(scenes))
        raise ValueError(f"image {str(path)!r}: scene {scene!r} not found; expected a name or "
                         f"index of its {len(scenes)} scene(s): {listed}")
    return index % len(scenes)


def _finish(path: Path, data: Any, axes: str | None, scale: Mapping[str, float],
            units: Mapping[str, str], channel_names: Sequence[str], scenes: Sequence[str],
            index: int) -> ImageFile:
    """Apply the singleton rule, keep scale/units of the remaining axes, build the record."""
    if axes is not None and (len(axes) != data.ndim or any(a not in AXIS_LETTERS for a in axes)
                             or len(set(axes)) != len(axes)):
        axes = None
    if axes is not None:
        drop = [i for i, (a, n) in enumerate(zip(axes, data.shape)) if n == 1 and a in "TCZS"]
        if drop and len(axes) - len(drop) >= 2:
            index_tuple = tuple(0 if i in drop else slice(None) for i in range(data.ndim))
            data = data[index_tuple]
            axes = "".join(a for i, a in enumerate(axes) if i not in drop)
    if axes is not None:
        from napari_unet.core.axes import check_axes

        try:
            axes = check_axes(axes, ndim=data.ndim)
        except ValueError:  # e.g. no Y/X: the file's axes are of no use to us
            axes = None
    keep = axes or ""
    scale = {a: float(scale[a]) for a in keep
             if scale.get(a) and np.isfinite(scale[a]) and scale[a] > 0}
    units = {a: u for a, u in units.items() if a in scale and u}
    scenes = tuple(scenes) or ("0",)
    return ImageFile(path=path, data=data, axes=axes, scale=scale, units=units,
                     channel_names=tuple(str(c) for c in channel_names),
                     scene=scenes[index] if len(scenes) > 1 else None, scenes=scenes)


def _map_axes(axes: str, mapping: Mapping[str, str]) -> str | None:
    """Letters of another alphabet -> ours; None when a letter has no counterpart."""
    out = []
    for a in axes.upper():
        b = mapping.get(a)
        if b is None or b in out:
            return None
        out.append(b)
    return "".join(out)


# ------------------------------------------------------------------------------ tiff
_TIFF_AXES = {"T": "T", "Z": "Z", "C": "C", "Y": "Y", "X": "X", "S": "C"}


def check_tiff_size(path: str | os.PathLike, series: Any) -> None:
    """Refuse a tif series whose header declares more pixel bytes than the file can hold.

    Rule: every strip/tile of the first page lies inside the file; uncompressed data needs
    at least its declared bytes in the file; compressed data at least 1/:data:`MAX_COMPRESSION`
    of them.

    Raises
    ------
    ValueError
        Naming the file, the declared size and the file size.
    """
    path = Path(path)
    size = path.stat().st_size
    declared = int(series.nbytes)
    page = series.pages[0] if len(series.pages) else None
    compressed = page is not None and int(getattr(page, "compression", 1)) != 1
    if page is not None:
        ends = [int(o) + int(n) for o, n in zip(page.dataoffsets, page.databytecounts) if n]
        if ends and max(ends) > size:
            raise ValueError(
                f"image {str(path)!r}: its header places pixel data at byte {max(ends)}, but the "
                f"file has {size} bytes; the file is truncated or its header is wrong")
    need = declared // MAX_COMPRESSION if compressed else declared
    if declared > _CHECK_BYTES and size < need:
        shape = "x".join(str(s) for s in series.shape)
        raise ValueError(
            f"image {str(path)!r}: its header declares {shape} pixels ({declared / 2**30:.1f} "
            f"GiB{' compressed' if compressed else ''}), but the file has only {size} bytes; "
            f"expected a file that holds its pixels, found a truncated or forged header")


def check_stored_size(array: Any, *, what: str = "image") -> None:
    """Refuse reading a zarr array into memory when it declares far more than it stores.

    A sparse store (missing chunks read as the fill value) is fine lazily; read whole, a
    store declaring 200000 x 200000 pixels and holding nothing would allocate tens of GiB for
    nothing. Rule: above 64 MiB declared, the stored chunks must hold at least
    1/:data:`MAX_COMPRESSION` of the declared bytes.

    Raises
    ------
    ValueError
        Naming ``what``, the declared and the stored size.
    """
    declared = int(getattr(array, "nbytes", 0))
    stored_fn = getattr(array, "nbytes_stored", None)
    if declared <= _CHECK_BYTES or stored_fn is None:
        return
    stored = int(stored_fn())
    if stored * MAX_COMPRESSION < declared:
        shape = "x".join(str(s) for s in array.shape)
        raise ValueError(
            f"{what}: declares {shape} pixels ({declared / 2**30:.1f} GiB) but stores only "
            f"{stored} bytes; refusing to read it into memory (expected a store that holds its "
            f"pixels; open it lazily to read parts of a sparse store)")


def check_in_memory(path: str | os.PathLike, *, what: str | None = None) -> None:
    """Refuse a zarr store that is about to be read whole although it stores far less than
    it declares (:func:`check_stored_size`); other files pass (tif headers are checked when
    opened). Call it where a whole image is read into memory (training targets, results
    kept in memory); lazy, sparse use needs no check."""
    path = Path(path)
    if is_zarr(path):
        check_stored_size(open_zarr(path), what=what or f"image {str(path)!r}")


def _ome_image(tif: Any, index: int, name: str) -> dict:
    import tifffile

    try:
        images = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    except (KeyError, TypeError, ValueError):
        return {}
    images = images if isinstance(images, list) else [images]
    named = [im for im in images if name and im.get("Name") == name]
    if len(named) == 1:
        return named[0]
    return images[index] if index < len(images) else {}


def _ome_metadata(image: Mapping) -> tuple[dict, dict, list]:
    pixels = image.get("Pixels") or {}
    scale, units = {}, {}
    for a in "ZYX":
        if pixels.get(f"PhysicalSize{a}") is not None:
            scale[a] = float(pixels[f"PhysicalSize{a}"])
            units[a] = normalize_unit(pixels.get(f"PhysicalSize{a}Unit", "µm")) or "micrometer"
    if pixels.get("TimeIncrement") is not None:
        scale["T"] = float(pixels["TimeIncrement"])
        units["T"] = normalize_unit(pixels.get("TimeIncrementUnit", "s")) or "second"
    channels = pixels.get("Channel") or []
    channels = channels if isinstance(channels, list) else [channels]
    names = [str(c.get("Name") or "") for c in channels if isinstance(c, Mapping)]
    return scale, units, names if any(names) else []


def _imagej_metadata(tif: Any, page: Any) -> tuple[dict, dict]:
    meta = tif.imagej_metadata or {}
    unit = normalize_unit(meta.get("unit"))
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    for a, tag in (("X", "XResolution"), ("Y", "YResolution")):
        t = page.tags.get(tag)
        if t is not None and unit:
            num, den = t.value
            if num and den and num / den != 1:
                scale[a] = den / num
    if meta.get("spacing"):
        scale["Z"] = float(meta["spacing"])
    if unit:
        units.update({a: unit for a in scale})
    if meta.get("finterval"):
        scale["T"], units["T"] = float(meta["finterval"]), "second"
    return scale, units


def _open_tiff(path: Path, scene: str | int | None, lazy: bool | None = None) -> ImageFile:
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        series = list(tif.series)
        if not series:
            raise ValueError(f"image {str(path)!r} holds no image")
        names = [s.name or "" for s in series]
        if len(set(names)) != len(names) or not all(names):
            names = [f"series {i}" for i in range(len(series))]
        index = _pick_scene(path, names, scene)
        s = series[index]
        check_tiff_size(path, s)
        axes = _map_axes(s.axes, _TIFF_AXES)
        scale: dict[str, float] = {}
        units: dict[str, str] = {}
        channels: list[str] = []
        if tif.is_ome:
            scale, units, channels = _ome_metadata(_ome_image(tif, index, s.name))
        elif tif.is_imagej:
            scale, units = _imagej_metadata(tif, s.pages[0])
            labels = (tif.imagej_metadata or {}).get("Labels")
            if axes and "C" in axes and isinstance(labels, list):
                channels = [str(v) for v in labels[: s.shape[axes.index("C")]]]
        lazy = int(s.nbytes) > LAZY_BYTES if lazy is None else lazy
        if not lazy:
            data = s.asarray()
    if lazy:
        import dask.array as da
        import zarr

        store = tifffile.imread(str(path), aszarr=True, series=index, level=0)
        z = zarr.open(store, mode="r")
        data = da.from_zarr(z)
    return _finish(path, data, axes, scale, units, channels, names, index)


# ------------------------------------------------------------------------------ zarr
_NGFF_AXES = {"T": "T", "C": "C", "Z": "Z", "Y": "Y", "X": "X"}


def _multiscales(attrs: Mapping) -> list:
    if "multiscales" in attrs:
        return list(attrs["multiscales"])
    ome = attrs.get("ome")
    if isinstance(ome, Mapping) and "multiscales" in ome:
        return list(ome["multiscales"])
    return []


def _ngff_scale(transforms: Sequence[Mapping] | None) -> list[float] | None:
    for t in transforms or ():
        if t.get("type") == "scale" and "scale" in t:
            return [float(v) for v in t["scale"]]
    return None


def _open_zarr_image(path: Path, scene: str | int | None) -> ImageFile:
    import dask.array as da
    import zarr

    node = zarr.open(str(path), mode="r")
    attrs = dict(node.attrs)
    multiscales = [] if hasattr(node, "shape") else _multiscales(attrs)
    _pick_scene(path, ("0",), scene)
    if not multiscales:
        array = open_zarr(path)
        dims = dict(array.attrs).get("_ARRAY_DIMENSIONS")  # xarray's convention
        axes = _map_axes("".join(dims), _NGFF_AXES) if dims and all(
            isinstance(d, str) and len(d) == 1 for d in dims) else None
        return _finish(path, da.from_zarr(array), axes, {}, {}, (), ("0",), 0)
    ms = multiscales[0]
    dataset = ms["datasets"][0]
    array = node[dataset["path"]]
    names = [a["name"] if isinstance(a, Mapping) else str(a) for a in ms.get("axes", [])]
    axes = _map_axes("".join(n[:1] for n in names), _NGFF_AXES) if all(
        len(n) == 1 for n in names) and names else None
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    values = _ngff_scale(dataset.get("coordinateTransformations"))
    outer = _ngff_scale(ms.get("coordinateTransformations"))
    if axes and values and len(values) == len(axes):
        if outer and len(outer) == len(values):
            values = [v * o for v, o in zip(values, outer)]
        for a, v, spec in zip(axes, values, ms["axes"]):
            if a == "C":
                continue
            unit = normalize_unit(spec.get("unit")) if isinstance(spec, Mapping) else None
            if v != 1 or unit:
                scale[a] = v
                if unit:
                    units[a] = unit
    channels: list[str] = []
    omero = attrs.get("omero") or (attrs.get("ome") or {}).get("omero")
    if isinstance(omero, Mapping):
        channels = [str(c.get("label") or "") for c in omero.get("channels", [])]
        channels = channels if any(channels) else []
    return _finish(path, da.from_zarr(array), axes, scale, units, channels, ("0",), 0)


# ------------------------------------------------------------------------------ bioio
def _bioio_reader(path: Path) -> Any:
    """The bioio reader class for ``path``'s suffix (None: let bioio choose)."""
    import importlib

    module = BIOIO_SUFFIXES.get(path.suffix.lower())
    try:
        importlib.import_module("bioio")
        if module is None:
            return None
        return importlib.import_module(module).Reader
    except ImportError as err:
        kind = path.suffix.lstrip(".").upper() or "this"
        plugin = module.replace("_", "-") if module else "bioio"
        raise ValueError(
            f"image {str(path)!r}: reading {kind} files needs {plugin}, which is not installed; "
            f"install it with: {_FORMATS_HINT}") from err


def _open_bioio(path: Path, scene: str | int | None, lazy: bool | None = None) -> ImageFile:
    reader = _bioio_reader(path)
    from bioio import BioImage

    try:
        img = BioImage(str(path), reader=reader) if reader is not None else BioImage(str(path))
        scenes = tuple(str(s) for s in img.scenes)
    except Exception as err:  # bioio raises its own exception types per plugin
        raise ValueError(
            f"image {str(path)!r} cannot be read ({type(err).__name__}: "
            f"{str(err).split('. ')[0]}); expected one of "
            f"{', '.join(IMAGE_SUFFIXES)}; for microscope formats: {_FORMATS_HINT}") from err
    index = _pick_scene(path, scenes, scene)
    img.set_scene(index)
    dims = str(img.dims.order)
    data = img.dask_data
    axes = _map_axes(dims, {"T": "T", "C": "C", "Z": "Z", "Y": "Y", "X": "X", "S": "S"})
    sizes = img.physical_pixel_sizes
    scale = {a: getattr(sizes, a) for a in "ZYX" if getattr(sizes, a, None)}
    units = {a: "micrometer" for a in scale}
    interval = getattr(img, "time_interval", None)
    seconds = getattr(interval, "total_seconds", None)
    if callable(seconds) and seconds() > 0:
        scale["T"], units["T"] = seconds(), "second"
    try:
        channels = [str(c) for c in (img.channel_names or [])]
    except Exception:  # a plugin without channel metadata
        channels = []
    record = _finish(path, data, axes, scale, units, channels, scenes, index)
    if record.axes and "S" in record.axes:  # samples per pixel (RGB): our channel axis
        axes2 = record.axes.replace("S", "C") if "C" not in record.axes else None
        record = ImageFile(record.path, record.data, axes2, record.scale, record.units,
                           record.channel_names, record.scene, record.scenes)
    if not lazy and int(record.data.nbytes) <= LAZY_BYTES:
        record = ImageFile(record.path, np.asarray(record.data.compute()), record.axes,
                           record.scale, record.units, record.channel_names, record.scene,
                           record.scenes)
    return record


# ------------------------------------------------------------------------------ layers
def channel_layers(image: ImageFile, *, axes: str | None = None, name: str | None = None,
                   split_channels: bool = True) -> list[tuple[Any, dict[str, Any]]]:
    """Layer data and napari-free layer options for an opened file (contract C2).

    Parameters
    ----------
    image : ImageFile
    axes : str, optional
        Axes typed by the user; they win over the file's (checked against the data).
    name : str, optional
        Layer name (default: the file's stem, plus ``[scene]`` for multi-scene files).
    split_channels : bool
        One layer per channel when the axes have ``C`` (napari's channel_axis convention).

    Returns
    -------
    list of (data, options)
        ``options`` has ``name``, ``metadata`` (``axes``, ``source``; for channel layers
        ``image_group``, ``channel``, ``channel_names``), and ``scale``/``units`` (one per
        dimension of that layer's data) when the file or the user gives physical sizes.
    """
    from napari_unet.core.axes import check_axes

    data = image.data
    if axes:
        axes = check_axes(axes, ndim=data.ndim, what=f"axes for image {str(image.path)!r}")
    else:
        axes = image.axes
    group = name or stem(image.path) + (f" [{image.scene}]" if image.scene is not None else "")
    base_meta: dict[str, Any] = {"source": str(image.path)}

    def options(layer_axes: str | None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"metadata": {**base_meta, "axes": layer_axes, **extra}}
        if layer_axes and any(a in image.scale for a in layer_axes):
            out["scale"] = tuple(image.scale.get(a, 1.0) for a in layer_axes)
            if any(a in image.units for a in layer_axes):
                out["units"] = tuple(image.units.get(a, "pixel") for a in layer_axes)
        if out["metadata"]["axes"] is None:
            del out["metadata"]["axes"]
        return out

    if not (split_channels and axes and "C" in axes and data.ndim > 2):
        return [(data, {"name": group, **options(axes)})]
    c = axes.index("C")
    n = int(data.shape[c])
    names = list(image.channel_names) if len(image.channel_names) == n else [
        f"channel {i}" for i in range(n)]
    rest = axes.replace("C", "")
    layers = []
    for i in range(n):
        index = (slice(None),) * c + (i,)
        layers.append((data[index], {
            "name": names[i],
            **options(rest, image_group=group, channel=i, channel_names=tuple(names)),
        }))
    return layers
