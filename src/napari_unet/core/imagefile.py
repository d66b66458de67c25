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
large is allocated (:func:`~napari_unet.core.imagecheck.check_tiff_size`,
:func:`~napari_unet.core.imagecheck.check_stored_size`).

The pixels-only reader :func:`read_image` (re-exported by :mod:`napari_unet.core.io` with the
suffix rules) lives here too, so that there is one reader module and io imports it, not the
other way round.

This module keeps the entry points and the tif and bioio readers; the other parts live in
modules of their own, and every public name of theirs is re-exported here:

- :mod:`napari_unet.core.imageformats`: the suffixes read, zarr store detection, ``stem``
  and :func:`~napari_unet.core.imageformats.open_zarr`;
- :mod:`napari_unet.core.imagemeta`: the :class:`~napari_unet.core.imagemeta.ImageFile`
  record, unit names, ``file_spacing``, and the helpers every reader shares (scene choice,
  axis letters, the singleton rule);
- :mod:`napari_unet.core.imagezarr`: zarr and OME-Zarr stores as an ``ImageFile``;
- :mod:`napari_unet.core.imagecheck`: the size checks against truncated or forged headers;
- :mod:`napari_unet.core.imagelayers`: an opened file as napari layer data and options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.imagecheck import (
    MAX_COMPRESSION,
    check_in_memory,
    check_stored_size,
    check_tiff_size,
)
from napari_unet.core.imageformats import (
    BIOIO_READS,
    BIOIO_SUFFIXES,
    COMPOUND_SUFFIXES,
    IMAGE_SUFFIXES,
    holds_zarr,
    is_zarr,
    open_zarr,
    stem,
)
from napari_unet.core.imagelayers import channel_layers
from napari_unet.core.imagemeta import (
    ImageFile,
    file_spacing,
    finish_record,
    map_axes,
    normalize_unit,
    pick_scene,
)
from napari_unet.core.imagezarr import open_zarr_image

__all__ = [
    "BIOIO_READS",
    "BIOIO_SUFFIXES",
    "COMPOUND_SUFFIXES",
    "IMAGE_SUFFIXES",
    "LAZY_BYTES",
    "MAX_COMPRESSION",
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

#: Files bigger than this (declared pixel bytes) are opened lazily (dask).
LAZY_BYTES = 256 << 20
_FORMATS_HINT = 'pip install "napari-unet[formats]"'


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
            return open_zarr_image(path, scene)
        if name.endswith((".tif", ".tiff")):
            return _open_tiff(path, scene, lazy)
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".npy"):
            pick_scene(path, ("0",), scene)
            data = read_image(path)
            axes = "YX" if data.ndim == 2 else None
            return ImageFile(path, data, axes)
    except (OSError, KeyError, IndexError, TypeError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"image {str(path)!r} cannot be read: {err}") from err
    return _open_bioio(path, scene, lazy)


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


# ------------------------------------------------------------------------------ tiff
_TIFF_AXES = {"T": "T", "Z": "Z", "C": "C", "Y": "Y", "X": "X", "S": "C"}


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
        index = pick_scene(path, names, scene)
        s = series[index]
        check_tiff_size(path, s)
        axes = map_axes(s.axes, _TIFF_AXES)
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
    return finish_record(path, data, axes, scale, units, channels, names, index)


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
    index = pick_scene(path, scenes, scene)
    img.set_scene(index)
    dims = str(img.dims.order)
    data = img.dask_data
    axes = map_axes(dims, {"T": "T", "C": "C", "Z": "Z", "Y": "Y", "X": "X", "S": "S"})
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
    record = finish_record(path, data, axes, scale, units, channels, scenes, index)
    if record.axes and "S" in record.axes:  # samples per pixel (RGB): our channel axis
        axes2 = record.axes.replace("S", "C") if "C" not in record.axes else None
        record = ImageFile(record.path, record.data, axes2, record.scale, record.units,
                           record.channel_names, record.scene, record.scenes)
    if not lazy and int(record.data.nbytes) <= LAZY_BYTES:
        record = ImageFile(record.path, np.asarray(record.data.compute()), record.axes,
                           record.scale, record.units, record.channel_names, record.scene,
                           record.scenes)
    return record
