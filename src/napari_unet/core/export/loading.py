"""Open any model napari-unet can run: a model file or a bioimage.io package.

The one rule, shared by the command line and the widgets:

* a folder holding ``rdf.yaml`` or ``bioimageio.yaml``, or such a file itself, is a bioimage.io
  package;
* a zip archive is a package only when it holds ``rdf.yaml`` or ``bioimageio.yaml`` (by
  content, not by name) and is not named ``*.unet.safetensors``;
* everything else goes to :func:`~napari_unet.core.modelfile.load_model`, which refuses what is
  not a napari-unet model file with its own message.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from napari_unet.core.arguments import check_path
from napari_unet.core.export.packages import import_bioimageio
from napari_unet.core.model import UNet
from napari_unet.core.modelfile import SUFFIX, load_model

#: Names of a bioimage.io package's description file.
PACKAGE_DESCRIPTIONS = ("rdf.yaml", "bioimageio.yaml")

__all__ = ["PACKAGE_DESCRIPTIONS", "is_package", "load_any_model"]


def _zip_holds_description(path: Path) -> bool:
    """Whether ``path`` is a readable zip archive with a package description at its top."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return any(name in names for name in PACKAGE_DESCRIPTIONS)


def is_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a bioimage.io package (folder, zip, or its description file).

    Parameters
    ----------
    path : str or PathLike
        A file or folder; it need not exist (then it is not a package).

    Returns
    -------
    bool
        True for a folder holding ``rdf.yaml``/``bioimageio.yaml``, such a file, or a zip
        archive holding one that is not named ``*.unet.safetensors``.
    """
    p = Path(path)
    if p.is_dir():
        return any((p / name).is_file() for name in PACKAGE_DESCRIPTIONS)
    if not p.is_file():
        return False
    if p.name in PACKAGE_DESCRIPTIONS:
        return True
    if p.name.endswith(SUFFIX):
        return False
    return _zip_holds_description(p)


def load_any_model(path: str | os.PathLike) -> UNet:
    """A napari-unet model file, or a bioimage.io package exported by napari-unet.

    Parameters
    ----------
    path : str or PathLike
        A ``.unet.safetensors`` model file, or a package (see :func:`is_package`).

    Returns
    -------
    UNet
        The model in eval mode, on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is neither a napari-unet model file nor a package napari-unet can import.
    """
    check_path(path, what="model path")
    if is_package(path):
        return import_bioimageio(path)
    return load_model(path)
