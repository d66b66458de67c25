"""The Load dock widget."""

from __future__ import annotations

from ._base import DockWidget


class LoadWidget(DockWidget):
    """Open images for segmentation and add a paint layer matched to an image."""

    TITLE = "Load"
    DESCRIPTION = (
        "Opens files or a folder (tif, png, jpg, npy, zarr) as image layers, lazily for large "
        "data, with axes, channel axis and voxel size; adds a paint layer (Labels) matched to an "
        "image, with named classes: 0 = not painted, 1 = background, 2.. = your structures."
    )
