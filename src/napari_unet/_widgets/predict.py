"""The Predict dock widget: seam-free tiled prediction into probability, class and object layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_unet._widgets._base import DockWidget, path_row
from napari_unet._widgets._jobs import explain, start_job
from napari_unet._widgets._layers import (
    copy_data,
    current_indices,
    get_layer,
    layer_names,
    put_layer,
    refill_combo,
)
from napari_unet._widgets._predict_job import OUTPUTS, is_lazy, prediction_job
from napari_unet._widgets._results import is_result, result_specs
from napari_unet._widgets._state import state_for
from napari_unet._widgets.model import MODEL_FILTERS
from napari_unet.core.io import guess_axes

if TYPE_CHECKING:
    import napari

SCOPES = ("whole stack", "current slice", "current view")


class PredictWidget(DockWidget):
    """Run seam-free tiled prediction and add probability, class and instance layers."""

    TITLE = "Predict"
    DESCRIPTION = (
        "Runs the current or a saved U-Net over an image layer of any size (2D, 3D, time, "
        "channels) with seam-free tiling, and adds class probabilities, classes, instances and "
        "an uncertainty map that shows where to paint next."
    )

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self.state = state_for(napari_viewer)
        self.worker = None
        self._pending: list = []
        self._file_model = None
        self._file_model_path = ""
        self._returned = self._placing = False
        form = QFormLayout()
        self.model_combo = QComboBox()
        self.model_combo.addItems(["current model", "model file"])
        self.model_file, row = path_row(
            "model file or bioimage.io package (for 'model file')", self._browse)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.image_combo = QComboBox()
        self.output_checks = {name: QCheckBox(name) for name in OUTPUTS}
        self.output_checks["classes"].setChecked(True)
        self.output_checks["instances"].setToolTip(
            "objects: an instance model's, or a semantic model's structure classes (2..K) "
            "split where touching objects narrow")
        self._shown_task: str | None = None
        outputs = QHBoxLayout()
        for check in self.output_checks.values():
            outputs.addWidget(check)
        self.scope_combo = QComboBox()
        self.scope_combo.addItems(SCOPES)
        self.tile_spin = QSpinBox(minimum=0, maximum=8192, singleStep=64)
        self.tile_spin.setSpecialValueText("automatic")
        form.addRow("model", self.model_combo)
        form.addRow(row)
        form.addRow(self.model_label)
        form.addRow("image", self.image_combo)
        form.addRow("outputs", outputs)
        form.addRow("scope", self.scope_combo)
        form.addRow("tile size", self.tile_spin)
        self.body.addLayout(form)
        buttons = QHBoxLayout()
        self.predict_button = QPushButton("Predict")
        self.cancel_button = QPushButton("Cancel")
        buttons.addWidget(self.predict_button)
        buttons.addWidget(self.cancel_button)
        self.predict_button.setToolTip("Predict (Shift+R: predict the current view)")
        self.footer.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(16)
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.footer.addWidget(self.progress)
        self.footer.addWidget(self.status)
        self.predict_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.state.model_changed.connect(self._show_model)
        self._refresh_layers()
        self._show_model()
        self._set_running(False)
        self.bind_shortcuts({"Shift-R": self.predict_view})

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file or package", "", MODEL_FILTERS)
        if path:
            self.model_file.setText(path)
            self.model_combo.setCurrentText("model file")

    def _refresh_layers(self, *_) -> None:
        results = {layer.name for layer in self.viewer.layers if is_result(layer)}
        names = [n for n in layer_names(self.viewer, "image")
                 if n not in results and not n.endswith(" preview")]
        refill_combo(self.image_combo, names)

    def _show_model(self, *_) -> None:
        model = self.state.model
        if model is None:
            self.model_label.setText("no current model: train one or load a file")
            return
        meta = model.meta
        task = meta.get("task", "semantic")
        if task != self._shown_task:  # objects by default for instance models only
            self.output_checks["instances"].setChecked(task == "instances")
            self._shown_task = task
        names = ", ".join(meta.get("class_names") or [])
        self.model_label.setText(
            f"current: {model.dims}D {task} model ({names}), "
            f"{self.state.source}"
        )

    def _model(self):
        if self.model_combo.currentText() == "current model":
            if self.state.model is None:
                raise ValueError("there is no current model: train one, or choose a model file")
            return self.state.model
        path = self.model_file.text().strip()
        if not path:
            raise ValueError("choose a model file to predict with")
        if path != self._file_model_path:
            from napari_unet.core.export.loading import load_any_model

            self._file_model, self._file_model_path = load_any_model(path), path
        return self._file_model

    # ---------------------------------------------------------------- run
    def _region(self, layer, axes: str, dims: int, scope: str) -> tuple[Any, tuple]:
        """The data to predict (a copy, or the lazy array) and its index in the whole output.

        The index holds one integer per stack axis for the current slice, then slices of the
        visible region for the current view; it is empty for the whole stack.
        """
        data = layer.data
        n_stack = len(axes.replace("C", "")) - dims
        if scope == "whole stack" or (n_stack == 0 and scope == "current slice"):
            return copy_data(layer), ()
        if axes.startswith("C"):
            raise ValueError("this image keeps its channels first: predict the whole stack")
        if is_lazy(data):
            raise ValueError(
                f"{layer.name!r} is a lazy (dask/zarr) image: predict the whole stack, "
                "which writes its results to zarr"
            )
        lead = current_indices(self.viewer, layer, n_stack)
        if scope == "current slice":
            return np.asarray(data[lead]).copy(), lead
        corners = np.asarray(layer.corner_pixels)[:, n_stack:n_stack + dims]
        lo = [int(max(0, c)) for c in corners[0]]
        hi = [int(min(s, c + 1)) for c, s in zip(corners[1], data.shape[n_stack:])]
        if any(h - low < 2 for low, h in zip(lo, hi)):
            raise ValueError("the current view shows too little of the image to predict it")
        view = tuple(slice(low, h) for low, h in zip(lo, hi))
        return np.asarray(data[lead + view]).copy(), lead + view

    def predict_view(self) -> None:
        """Predict the current view of the chosen image (the Shift+R shortcut)."""
        self.start(scope="current view")

    def start(self, scope: str | None = None) -> None:
        """Predict the chosen image with the chosen model in a worker thread.

        ``scope`` (one of :data:`SCOPES`) overrides the scope chosen in the widget.
        """
        if self.busy:
            return
        scope = scope or self.scope_combo.currentText()
        try:
            model = self._model()
            layer = get_layer(self.viewer, self.image_combo.currentText(), "image")
            axes = guess_axes(layer.data.shape, dims=model.dims, in_channels=model.in_channels)
            region, index = self._region(layer, axes, model.dims, scope)
            stats = None
            if index:  # a part of the image: normalise with the whole image's statistics
                stats = model.normalization.stats(layer.data, axes=axes)
            sub_axes = axes[sum(isinstance(i, int) for i in index):]
            outputs = tuple(n for n, c in self.output_checks.items() if c.isChecked())
            if not outputs:
                raise ValueError("tick at least one output")
        except (ValueError, TypeError, FileNotFoundError) as err:
            from napari.utils.notifications import show_error

            show_error(explain(err))
            self.status.setText(f"not started: {explain(err)}")
            return
        data_axes = axes[:-1] if layer.rgb else axes
        spacing = tuple(s for s, a in zip(layer.scale, data_axes) if a in "ZYX" and a in sub_axes)
        self._job_info = (layer.name, axes, index, model)
        self._returned = False
        self.progress.setValue(0)
        self.status.setText("predicting…")
        self.worker = start_job(
            prediction_job(model, region, axes=sub_axes, outputs=outputs, spacing=spacing,
                           tile_shape=self.tile_spin.value() or None, norm_stats=stats),
            on_yield=self._on_yield,
            on_return=self._on_return,
            on_error=lambda err: self.status.setText(f"stopped by an error: {explain(err)}"),
            on_finish=self._on_finish,
        )
        self.worker.aborted.connect(lambda: self.status.setText("cancelled"))
        self._set_running(True)

    def cancel(self) -> None:
        """Stop the running prediction after the current batch of tiles."""
        if self.worker is not None:
            self.worker.quit()
            self.status.setText("cancelling…")

    def dock_closed(self) -> None:
        """The dock was closed: cancel a running prediction."""
        self.cancel()

    def _on_yield(self, record) -> None:
        if self._returned:  # a record queued behind the result: the "done" status stays
            return
        self.progress.setMaximum(max(1, record.total))
        self.progress.setValue(record.step)
        if record.message:
            self.status.setText(record.message)

    @property
    def busy(self) -> bool:
        """Whether a prediction runs or its result layers are still being added."""
        return self.worker is not None or bool(self._pending) or self._placing

    def _on_finish(self) -> None:
        self.worker = None
        self._set_running(bool(self._pending))

    def _set_running(self, running: bool) -> None:
        self.predict_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    # ---------------------------------------------------------------- results
    def _on_return(self, results: dict) -> None:
        name, axes, index, model = self._job_info
        self._returned = True
        self._placed: list[str] = []
        self._updated: list[str] = []
        try:
            layer = get_layer(self.viewer, name, "image")
        except ValueError as err:
            self.status.setText(f"finished, but {explain(err)}")
            return
        shape = tuple(s for s, a in zip(layer.data.shape, axes) if a != "C")
        sel = self.viewer.layers.selection
        self._selection = list(sel)  # results never take it (the next stroke paints on)
        self._pending = result_specs(name, results, model, shape)
        self._placing = True
        self._place_next(layer, index)

    def _place_next(self, like, index) -> None:
        """Add or update one result layer per turn of the event loop.

        Creating a napari layer costs up to about a second of main-thread time (its vispy
        visual); one per turn keeps the viewer answering between them.
        """
        if not self._pending:
            self._placing = False
            self._set_running(self.worker is not None)
            self.progress.setValue(self.progress.maximum())
            text = "; ".join(f"{verb} " + ", ".join(names) for verb, names in
                             (("updated", self._updated), ("added", self._placed)) if names)
            self.status.setText(f"done: {text}")
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
        """Put a whole result, or a region's result into a full-size layer, updating a layer
        of that name in place (no new layer, no camera change); True when it was added."""
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        n = len(full_shape)
        scale, translate = tuple(like.scale)[-n:], tuple(like.translate)[-n:]
        units = tuple(like.units)[-n:]
        existing = next((lyr for lyr in self.viewer.layers
                         if lyr.name == name and lyr._type_string == kind), None)
        if index:  # a region of a numpy image: write it into the full-size result layer
            old = existing.data if existing is not None else None
            same = isinstance(old, np.ndarray) and tuple(old.shape) == tuple(full_shape)
            whole = old if same else np.zeros(full_shape, np.asarray(data).dtype)
            whole[index] = np.asarray(data)
            data = whole
        layer = put_layer(self.viewer, name, data, kind, scale=scale, translate=translate,
                          units=units, **kwargs)
        if existing is not None:  # replaced: show it (when shown by default) and redraw
            if kwargs.get("visible", True):
                layer.visible = True
            layer.refresh()
        return existing is None

