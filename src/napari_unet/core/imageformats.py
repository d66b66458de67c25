"""Image file formats: the suffixes napari-unet reads, zarr store detection, input names
without their suffix, and the image array of a zarr store.

Part of the reader :mod:`napari_unet.core.imagefile` (which re-exports every name here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "BIOIO_READS",
    "BIOIO_SUFFIXES",
    "COMPOUND_SUFFIXES",
    "IMAGE_SUFFIXES",
    "holds_zarr",
    "is_zarr",
    "open_zarr",
    "stem",
]

#: File suffixes read by :func:`~napari_unet.core.imagefile.read_image`, lower case.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy", ".zarr",
                  ".czi", ".nd2", ".lif")
#: Compound suffixes recognised in names (``a.ome.tif`` has stem ``a``).
COMPOUND_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr")
#: Suffixes read through bioio, with the plugin that reads them.
BIOIO_SUFFIXES = {".czi": "bioio_czi", ".nd2": "bioio_nd2", ".lif": "bioio_lif"}
#: Suffixes :func:`~napari_unet.core.imagefile.read_image` hands to bioio.
BIOIO_READS = tuple(BIOIO_SUFFIXES)


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
