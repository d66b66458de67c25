"""What the napari-unet widgets of one viewer share: the current model and its history."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal

if TYPE_CHECKING:
    import napari

    from napari_unet.core.model import UNet


class PluginState(QObject):
    """The model the widgets of one viewer work with.

    Train puts the model it trained here; Predict and Model read it. ``model_changed`` fires
    (on the main thread) whenever it is replaced.
    """

    model_changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.model: UNet | None = None
        self.source: str = ""
        self.history: list[Any] = []

    def set_model(self, model: UNet | None, source: str) -> None:
        """Replace the current model; ``source`` says where it came from, in words."""
        self.model = model
        self.source = source
        self.model_changed.emit(model)


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state_for(viewer: napari.viewer.Viewer) -> PluginState:
    """The one :class:`PluginState` of ``viewer`` (created on first use)."""
    state = _STATES.get(viewer)
    if state is None:
        state = _STATES[viewer] = PluginState()
    return state
