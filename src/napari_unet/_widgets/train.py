"""The Train dock widget."""

from __future__ import annotations

from ._base import DockWidget


class TrainWidget(DockWidget):
    """Train a U-Net in the background from (image, paint) layer pairs."""

    TITLE = "Train"
    DESCRIPTION = (
        "Trains a U-Net in the background from one or more (image, paint) layer pairs: a few "
        "strokes per class are enough to start. Shows progress, a loss and validation curve and "
        "a live preview on the current slice; Stop and Continue at any time."
    )
