"""The Model dock widget."""

from __future__ import annotations

from ._base import DockWidget


class ModelWidget(DockWidget):
    """Save, load and export U-Net models and show their model card."""

    TITLE = "Model"
    DESCRIPTION = (
        "Saves and loads models (safetensors weights and a JSON config, never pickles), exports "
        "them for bioimage.io, and shows the model card: classes, axes, normalisation, training "
        "data, validation metrics, device and date."
    )
