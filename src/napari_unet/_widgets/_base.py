"""Shared look of the napari-unet dock widgets: a scrolling body, a fixed footer, shortcuts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import napari

#: The smallest height of a dock's scrolling part (its settings), in pixels.
SCROLL_MIN_HEIGHT = 90


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


class _Scroll(QScrollArea):
    """A vertical scroll area as wide as its content and only a few lines tall at least."""

    def minimumSizeHint(self) -> QSize:
        inner = self.widget()
        width = inner.minimumSizeHint().width() if inner is not None else 0
        return QSize(width + self.verticalScrollBar().sizeHint().width() + 2, SCROLL_MIN_HEIGHT)

    def sizeHint(self) -> QSize:
        inner = self.widget()
        if inner is None:
            return super().sizeHint()
        hint = inner.sizeHint()
        return QSize(hint.width() + self.verticalScrollBar().sizeHint().width() + 2,
                     hint.height() + 2)


class DockWidget(QWidget):
    """A dock widget with a one-paragraph description of what it does at the top.

    Subclasses set ``TITLE`` and ``DESCRIPTION`` and add their controls to ``self.body``, which
    scrolls when the screen is short (a laptop), and the controls that must stay in sight (run
    buttons, progress, status) to ``self.footer``, which does not. ``dock_closed`` runs when
    the user closes the dock (its job should stop then); ``bind_shortcuts`` binds viewer keys
    for as long as the dock is open.
    """

    TITLE = ""
    DESCRIPTION = ""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self._docked = parent is not None
        self._shortcuts: dict[str, Callable] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        content = QWidget()
        content.setObjectName("napari_unet_content")
        layout = QVBoxLayout(content)
        self.description = QLabel(f"<b>{self.TITLE}</b><br>{self.DESCRIPTION}")
        self.description.setWordWrap(True)
        self.description.setObjectName("napari_unet_description")
        layout.addWidget(self.description)
        self.body = QVBoxLayout()
        layout.addLayout(self.body)
        layout.addStretch(1)
        self.scroll = _Scroll()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)
        outer.addWidget(self.scroll, 1)
        self.footer = QVBoxLayout()
        self.footer.setContentsMargins(9, 0, 9, 6)
        outer.addLayout(self.footer)

    # ---------------------------------------------------------------- closing
    def event(self, event: QEvent) -> bool:
        """Notice when napari takes the widget out of its dock (the dock's close button)."""
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:
                self._docked = False
                self._closed()
        return super().event(event)

    def _closed(self) -> None:
        self.unbind_shortcuts()
        self.dock_closed()

    def dock_closed(self) -> None:
        """The user closed the dock: stop what runs (subclasses override)."""

    # ---------------------------------------------------------------- keys
    def bind_shortcuts(self, keys: dict[str, Callable[[], None]]) -> None:
        """Bind viewer keys (napari's notation, e.g. ``"Shift-T"``) to actions of this dock.

        The keys work wherever the active layer does not use them itself (napari asks the
        active layer first, then the viewer); they are unbound when the dock closes.
        """
        for key, action in keys.items():
            def run(_viewer, action=action):
                action()

            self.viewer.bind_key(key, run, overwrite=True)
            self._shortcuts[key] = run

    def unbind_shortcuts(self) -> None:
        """Unbind the keys this dock bound (those another dock re-bound meanwhile stay)."""
        keymap = getattr(self.viewer, "keymap", {})
        for run in self._shortcuts.values():
            for bound_key, bound in list(keymap.items()):
                if bound is run:
                    del keymap[bound_key]
        self._shortcuts = {}
