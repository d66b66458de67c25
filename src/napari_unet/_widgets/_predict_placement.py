"""The Predict widget's result layers: a finished prediction's results added (or updated)
one layer per turn of the event loop, and the result layers of the last prediction found."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QTimer

from napari_unet._widgets._inputs import input_layers
from napari_unet._widgets._jobs import explain
from napari_unet._widgets._layers import put_layer
from napari_unet._widgets._results import result_info, result_specs


class ResultPlacement:
    """Result layers placed and found (mixed into the Predict widget); uses its ``viewer``,
    ``status``, ``progress``, ``objects``, ``stores``, ``worker``, the job state (``_job_info``,
    ``_last``, ``_pending``, ``_placing``, ``_busy_store``, ``_returned``) and its
    ``_set_running``, ``_update_actions`` and ``_measure_objects``."""

    def _on_return(self, results: dict) -> None:
        info = self._job_info
        self._returned = True
        self._results = results
        self._placed: list[str] = []
        self._updated: list[str] = []
        try:
            layer = input_layers(self.viewer, info["like"])[0]
        except ValueError as err:
            self.status.setText(f"finished, but {explain(err)}")
            return
        sel = self.viewer.layers.selection
        self._selection = list(sel)  # results never take it (the next stroke paints on)
        out_axes = info["axes"].replace("C", "")
        self._pending = result_specs(info["name"], results, info["model"], info["shape"], info={
            "axes": out_axes, "store": None if info["store"] is None else str(info["store"]),
            "image": info["name"], "model_dims": info["model"].dims,
            "source": layer.metadata.get("source")})
        self._placing = True
        self._place_next(layer, info["index"])

    def _place_next(self, like, index) -> None:
        """Add or update one result layer per turn of the event loop.

        Creating a napari layer costs up to about a second of main-thread time (its vispy
        visual); one per turn keeps the viewer answering between them.
        """
        if not self._pending:
            self._placing = False
            self._last = {**self._job_info, "results": self._results}
            self._busy_store = None
            self.stores.sweep(self.viewer.layers)
            self._set_running(self.worker is not None)
            self._update_actions()
            self.progress.setValue(self.progress.maximum())
            text = "; ".join(f"{verb} " + ", ".join(names) for verb, names in
                             (("updated", self._updated), ("added", self._placed)) if names)
            self.status.setText(f"done: {text}")
            if "instances" in self._results:
                self._measure_objects()
            else:
                self.objects.clear_table()
            return
        layer_name, data, full_shape, kind, kwargs = self._pending.pop(0)
        try:
            added = self._place(like, layer_name, data, full_shape, index, kind, **kwargs)
        except (ValueError, TypeError, RuntimeError) as err:
            self._pending, self._placing = [], False
            self._set_running(self.worker is not None)
            self.status.setText(f"finished, but {layer_name!r} could not be shown: "
                                f"{explain(err)}")
            return
        finally:
            self._keep_selection()
        (self._placed if added else self._updated).append(layer_name)
        QTimer.singleShot(0, lambda: self._place_next(like, index))

    def _keep_selection(self) -> None:
        """Give the layer selection back to what it was before the results came."""
        sel = self.viewer.layers.selection
        chosen = [lyr for lyr in self._selection if lyr in self.viewer.layers]
        if set(sel) != set(chosen):
            sel.clear()
            sel.update(chosen)

    def _place(self, like, name: str, data, full_shape, index, kind, **kwargs) -> bool:
        """Put a whole result, or a region's result, into the layer called ``name``.

        A layer of that name is updated in place (no new layer, no camera change). A region
        of a numpy image is written into a full-size result; a region of a lazy image (too
        big to copy whole) becomes a region-sized layer placed over it, one pixel deep along
        the stack axes. True when the layer was added.
        """
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        n = len(full_shape)
        scale, translate = np.asarray(like.scale)[-n:], np.asarray(like.translate)[-n:]
        units = tuple(like.units)[-n:]
        existing = next((lyr for lyr in self.viewer.layers
                         if lyr.name == name and lyr._type_string == kind), None)
        if index and self._job_info.get("lazy"):
            starts = [i if isinstance(i, int) else i.start for i in index]
            data = np.asarray(data)[tuple(None if isinstance(i, int) else slice(None)
                                          for i in index)]
            translate = translate + scale * np.asarray(starts)
        elif index:
            old = existing.data if existing is not None else None
            same = isinstance(old, np.ndarray) and tuple(old.shape) == tuple(full_shape)
            whole = old if same else np.zeros(full_shape, np.asarray(data).dtype)
            whole[index] = np.asarray(data)
            data = whole
        layer = put_layer(self.viewer, name, data, kind, scale=tuple(scale),
                          translate=tuple(translate), units=units, **kwargs)
        if existing is not None:  # replaced: new metadata, shown (when by default), redrawn
            layer.metadata.update(kwargs.get("metadata", {}))
            if kwargs.get("visible", True):
                layer.visible = True
            layer.refresh()
        return existing is None

    def _result_layer(self, kind: str, image: str | None = None):
        """The result layer of ``kind`` of the last prediction (of ``image``), or None."""
        image = image or self._last.get("name")
        return next((lyr for lyr in self.viewer.layers
                     if result_info(lyr).get("result") == kind
                     and result_info(lyr).get("image") == image), None)
