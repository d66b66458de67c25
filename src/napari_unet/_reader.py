"""napari reader contribution: microscope files that no installed napari reader claims.

``*.czi``, ``*.nd2`` and ``*.lif`` (napari.yaml ``readers``) are read through
:func:`napari_unet.core.imagefile.open_image` (bioio and its plugins, the ``formats`` extra):
lazy dask data, the file's physical pixel sizes and units as the layers' ``scale`` and
``units``, one layer per channel named after the channel, and the layer metadata of contract
C2 (``axes``, ``source``; ``image_group``, ``channel``, ``channel_names`` for channel layers).
A multi-scene file opens its first scene; the Load widget picks others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: The suffixes this reader claims (keep in step with napari.yaml's filename_patterns).
SUFFIXES = (".czi", ".nd2", ".lif")

LayerData = tuple[Any, dict[str, Any], str]


def napari_get_reader(path: str | os.PathLike | Sequence[str | os.PathLike],
                      ) -> Callable[[Any], list[LayerData]] | None:
    """The reader function when every path is a file this plugin reads, else None."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if paths and all(Path(p).suffix.lower() in SUFFIXES for p in paths):
        return read_files
    return None


def read_files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[LayerData]:
    """Image layer data tuples for one or more files (first scene of each)."""
    from napari_unet.core.imagefile import channel_layers, open_image

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        image = open_image(p, lazy=True)
        layers += [(data, options, "image") for data, options in channel_layers(image)]
    return layers
