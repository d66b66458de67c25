"""Shared look of the napari-unet dock widgets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    import napari


class DockWidget(QWidget):
    """A dock widget with a one-paragraph description of what it does at the top.

    Subclasses set ``TITLE`` and ``DESCRIPTION`` and add their controls to ``self.body``.
    """

    TITLE = ""
    DESCRIPTION = ""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        layout = QVBoxLayout(self)
        self.description = QLabel(f"<b>{self.TITLE}</b><br>{self.DESCRIPTION}")
        self.description.setWordWrap(True)
        self.description.setObjectName("napari_unet_description")
        layout.addWidget(self.description)
        self.body = QVBoxLayout()
        layout.addLayout(self.body)
        layout.addStretch(1)
