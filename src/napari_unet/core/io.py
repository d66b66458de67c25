"""Reading images and writing results: tif/tiff, png/jpg, npy and zarr files, and folders.

Used by the command line and the Load widget. Zarr inputs stay lazy (a zarr array is
returned; nothing is read until indexed); the other formats are read into memory (``.npy``
files are memory-mapped). Microscope formats (``.czi``, ``.nd2``, ``.lif``) are read through
bioio by :func:`napari_unet.core.imagefile.open_image`, which also gives every format's
metadata (axes, physical sizes, channel names, scenes). Outputs are written atomically where
the format allows it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.imagefile import (
    BIOIO_READS,
    COMPOUND_SUFFIXES,
    IMAGE_SUFFIXES,
    check_stored_size,
    holds_zarr,
    is_zarr,
    read_image,
    stem,
)

#: Output formats written by :func:`write_result`.
OUTPUT_FORMATS = ("tif", "zarr")

__all__ = [
    "BIOIO_READS",
    "COMPOUND_SUFFIXES",
    "IMAGE_SUFFIXES",
    "OUTPUT_FORMATS",
    "expand_inputs",
    "guess_axes",
    "output_path",
    "read_image",
    "stem",
    "write_result",
    "write_tif",
    "write_zarr",
]


def classes_dtype(n_classes: int) -> np.dtype:
    """The integer type of a class image whose values go up to ``n_classes`` (1..K, 0 unset).

    The one rule for paintings, class outputs and their stores: uint8 up to 255 classes,
    uint16 beyond.
    """
    return np.dtype(np.uint8 if int(n_classes) <= 255 else np.uint16)


def to_numpy(array: Any) -> np.ndarray:
    """``array`` in memory: dask arrays are computed, zarr and numpy arrays read.

    Raises
    ------
    ValueError
        If a zarr array declares far more pixels than its store holds
        (:func:`napari_unet.core.imagefile.check_stored_size`).
    """
    if hasattr(array, "nbytes_stored"):
        check_stored_size(array, what=f"zarr array {getattr(array, 'store_path', '')}".strip())
    return np.asarray(array.compute() if hasattr(array, "compute") else array)


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def expand_inputs(paths: Iterable[str | os.PathLike], *, what: str = "input") -> list[Path]:
    """Files and folders -> a list of image files; folders give their images, name-sorted.

    A zarr store (a folder named ``*.zarr`` or holding zarr metadata) counts as one image.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If a file has an unknown suffix, or a folder holds no image.
    """
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
        if is_zarr(path):
            out.append(path)
        elif path.is_dir():
            found = sorted(
                (c for c in path.iterdir()
                 if not c.name.startswith(".") and (_suffix(c) in IMAGE_SUFFIXES or is_zarr(c))),
                key=lambda c: c.name,
            )
            if not found:
                raise ValueError(
                    f"{what} folder {str(path)!r} holds no image; expected files ending in "
                    f"{', '.join(IMAGE_SUFFIXES)}"
                )
            out.extend(found)
        elif _suffix(path) in IMAGE_SUFFIXES:
            out.append(path)
        else:
            raise ValueError(
                f"{what} {str(path)!r} has unknown suffix {path.suffix!r}; expected one of "
                f"{', '.join(IMAGE_SUFFIXES)} or a folder"
            )
    return out


def guess_axes(shape: Sequence[int], *, dims: int = 2, in_channels: int = 1) -> str:
    """A best guess of an image's axes string for a model.

    ``(Y, X)`` -> ``"YX"``; ``(Y, X, 3)`` with a 3-channel model -> ``"YXC"``; a 2D model on
    ``(Z, Y, X)`` -> ``"ZYX"`` (slice by slice); a 3D model on ``(Z, Y, X)`` -> ``"ZYX"``;
    a leading or trailing axis equal to ``in_channels`` (> 1) is the channel axis; a further
    leading axis is time (``T``).

    Raises
    ------
    ValueError
        If no guess fits; pass the axes explicitly then.
    """
    shape = tuple(int(s) for s in shape)
    n = len(shape)
    spatial = "ZYX" if dims == 3 else "YX"
    if in_channels > 1:
        if n == len(spatial) + 1:
            if shape[-1] == in_channels:
                return spatial + "C"
            if shape[0] == in_channels:
                return "C" + spatial
        if n == len(spatial) + 2:
            if shape[1] == in_channels:
                return ("Z" if dims == 2 else "T") + "C" + spatial
            if shape[0] == in_channels:
                return "C" + ("Z" if dims == 2 else "T") + spatial
    else:
        if n == len(spatial):
            return spatial
        if n == len(spatial) + 1:
            return ("Z" if dims == 2 else "T") + spatial
        if n == 4 and dims == 2:
            return "TZYX"
    raise ValueError(
        f"cannot guess the axes of an image of shape {shape} for a {dims}D model with "
        f"{in_channels} input channel(s); give them explicitly (e.g. --axes ZYX or CYX)"
    )


def output_path(out_dir: str | os.PathLike, source: str | os.PathLike, output: str,
                fmt: str = "tif") -> Path:
    """``<out_dir>/<input stem>_<output>.<tif|zarr>``."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"format must be one of {OUTPUT_FORMATS}; found {fmt!r}")
    return Path(out_dir) / f"{stem(source)}_{output}.{fmt}"


def _temp_sibling(path: Path, *, folder: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        # only a container: the store inside is created with the usual permissions
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, public_mode())
    return Path(tmp)


def public_mode() -> int:
    """Permissions of a new file under the current umask (mkstemp makes files private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _replace(tmp: Path, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        if any(path.iterdir()) and not holds_zarr(path):
            raise ValueError(f"output {str(path)!r}: expected a new path or a zarr store to "
                             f"replace, found a folder with other files; choose another name")
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def write_tif(path: str | os.PathLike, array: Any, *, axes: str | None = None) -> Path:
    """Write an array (numpy, dask or zarr) to a tif file, atomically; big data as BigTIFF.

    ``axes`` (e.g. ``"CZYX"``) is stored as ImageJ-free metadata for readers that look.
    """
    import tifffile

    path = Path(path)
    data = to_numpy(array)
    tmp = _temp_sibling(path, folder=False)
    try:
        metadata = {"axes": axes} if axes else None
        tifffile.imwrite(str(tmp), data, bigtiff=data.nbytes > 2**31, metadata=metadata,
                         photometric="minisblack",
                         compression="zlib" if data.dtype.kind in "iub" else None)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def create_zarr(path: str | os.PathLike, *, shape: Sequence[int], dtype: Any,
                chunks: Sequence[int] | None = None) -> Any:
    """Create (or overwrite) a zarr array store on disk and return it open for writing.

    An existing zarr store at ``path`` is replaced; a non-empty folder that is not a zarr
    store is refused (``ValueError``), never removed.
    """
    import zarr

    shape = tuple(int(s) for s in shape)
    if chunks is None:
        chunks = tuple(min(s, 256 if i >= len(shape) - 2 else 1 if len(shape) > 3 else 64)
                       for i, s in enumerate(shape))
    path = Path(path)
    if path.is_dir() and any(path.iterdir()) and not holds_zarr(path):
        raise ValueError(f"zarr output {str(path)!r}: expected a new path or a zarr store to "
                         f"replace, found a folder with other files; choose another name")
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return zarr.open_array(str(path), mode="w", shape=shape,
                           chunks=tuple(max(1, int(c)) for c in chunks), dtype=np.dtype(dtype))


def write_zarr(path: str | os.PathLike, array: Any, *,
               chunks: Sequence[int] | None = None) -> Path:
    """Write an array (numpy, dask or zarr) to a zarr store, atomically (temporary folder,
    then rename). Dask arrays are written chunk by chunk without loading them whole."""
    path = Path(path)
    tmp = _temp_sibling(path, folder=True)
    try:
        target_path = tmp / "array.zarr"
        if chunks is None and hasattr(array, "chunksize"):
            chunks = array.chunksize
        elif chunks is None and hasattr(array, "chunks") and not hasattr(array, "dask"):
            chunks = array.chunks
        z = create_zarr(target_path, shape=array.shape, dtype=array.dtype, chunks=chunks)
        if hasattr(array, "dask"):
            import dask.array as da

            da.store(array.rechunk(z.chunks), z, lock=False)
        else:
            z[...] = np.asarray(array)
        _replace(target_path, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_result(path: str | os.PathLike, array: Any, *, axes: str | None = None) -> Path:
    """Write a result to ``path``; the suffix (``.tif``/``.tiff`` or ``.zarr``) picks the format."""
    path = Path(path)
    if _suffix(path) == ".zarr":
        return write_zarr(path, array)
    if _suffix(path) in (".tif", ".tiff"):
        return write_tif(path, array, axes=axes)
    raise ValueError(f"output {str(path)!r}: expected a .tif, .tiff or .zarr path")
