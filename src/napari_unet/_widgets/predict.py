"""The Predict dock widget."""

from __future__ import annotations

from ._base import DockWidget


class PredictWidget(DockWidget):
    """Run seam-free tiled prediction and add probability, class and instance layers."""

    TITLE = "Predict"
    DESCRIPTION = (
        "Runs the current or a saved U-Net over an image layer of any size (2D, 3D, time, "
        "channels) with seam-free tiling, and adds class probabilities, classes, instances and "
        "an uncertainty map that shows where to paint next."
    )
