"""Brush strokes painted while training runs, forwarded to the trainer (main thread side).

The Train widget listens to the paint events of its paint layers; each stroke's bounding box
is copied (a small region, on the main thread, a moment later and several strokes at a
time) and posted to the running
:class:`~napari_unet.core.training.loop.Trainer`, which applies it between two steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from napari_unet._widgets._layers import painted_region

#: Strokes are copied this long after napari reports them, several at a time.
FLUSH_MS = 100


class PaintForwarder:
    """Forward paint events of the training pairs' label layers to a trainer."""

    def __init__(self) -> None:
        self._links: list[tuple[Any, Any]] = []  # (layer, callback)
        self._trainer = None
        self._waiting: list[tuple[int, tuple[slice, ...] | None, np.ndarray]] = []
        self._dirty: dict[int, tuple[Any, tuple[slice, ...] | None]] = {}
        self._flush_due = False
        #: Painted regions forwarded in this run.
        self.forwarded = 0

    def attach(self, layers: list[tuple[int, Any]]) -> None:
        """Listen to ``(pair index, labels layer)``; any earlier links are dropped."""
        self.detach()
        for index, layer in layers:
            def on_paint(event, index=index, layer=layer):
                self._on_paint(index, layer, event)

            layer.events.paint.connect(on_paint)
            self._links.append((layer, on_paint))

    def set_trainer(self, trainer: Any) -> None:
        """The trainer to post to (strokes painted before it was ready are posted now)."""
        self._trainer = trainer
        for item in self._waiting:
            trainer.update_labels(*item)
        self._waiting = []

    def detach(self) -> None:
        """Stop listening (the run ended); strokes not yet forwarded are dropped (the next
        Continue takes the whole painting anyway)."""
        for layer, callback in self._links:
            try:
                layer.events.paint.disconnect(callback)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._links = []
        self._trainer = None
        self._waiting = []
        self._dirty = {}

    def _on_paint(self, index: int, layer: Any, event: Any) -> None:
        """Note the stroke's bounding box; copy it a moment later (napari reports a paint
        before the last pixels of the stroke are written), merged with its neighbours."""
        shape = tuple(layer.data.shape)
        region = painted_region(getattr(event, "value", None), shape)
        old = self._dirty.get(index)
        if region is None or (old is not None and old[1] is None):
            self._dirty[index] = (layer, None)
        elif old is None:
            self._dirty[index] = (layer, region)
        else:
            self._dirty[index] = (layer, tuple(slice(min(a.start, b.start), max(a.stop, b.stop))
                                               for a, b in zip(old[1], region)))
        if not self._flush_due:
            self._flush_due = True
            QTimer.singleShot(FLUSH_MS, self.flush)

    def flush(self) -> None:
        """Copy the painted regions and post them (main thread)."""
        self._flush_due = False
        dirty, self._dirty = self._dirty, {}
        for index, (layer, region) in dirty.items():
            data = layer.data
            values = np.array(data if region is None else data[region])
            if self._trainer is None:
                self._waiting.append((index, region, values))
            else:
                self._trainer.update_labels(index, region, values)
            self.forwarded += 1
