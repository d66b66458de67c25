"""Checks of an image file before anything large is allocated: images whose header declares
more pixels than the file or store holds are refused (truncated or forged tif headers, sparse
zarr stores read whole).

Part of the reader :mod:`napari_unet.core.imagefile` (which re-exports every name here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from napari_unet.core.imageformats import is_zarr, open_zarr

__all__ = ["MAX_COMPRESSION", "check_in_memory", "check_stored_size", "check_tiff_size"]

#: Compressed image data is refused when it declares more than this many times its stored
#: bytes (zlib tops out near 1000:1; the bound leaves room for zstd and LZW on empty images).
MAX_COMPRESSION = 1 << 16
#: Below this many declared bytes no size check is worth its cost.
_CHECK_BYTES = 64 << 20


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
