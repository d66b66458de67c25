"""Shared look of the napari-unet dock widgets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qtpy.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

if TYPE_CHECKING:
    import napari


def path_row(placeholder: str, on_browse: Callable[[], None]) -> tuple[QLineEdit, QHBoxLayout]:
    """A path field with a small "…" button that opens a file dialog (``on_browse``)."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    browse = QPushButton("…")
    browse.setMaximumWidth(30)
    browse.clicked.connect(on_browse)
    row = QHBoxLayout()
    row.addWidget(edit)
    row.addWidget(browse)
    return edit, row


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
