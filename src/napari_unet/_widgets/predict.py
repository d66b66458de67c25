"""The Predict dock widget: seam-free tiled prediction into probability, class and object layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_unet._widgets._base import DockWidget, path_row
from napari_unet._widgets._inputs import (
    image_choices,
    image_input,
    input_layers,
    set_layer_axes,
)
from napari_unet._widgets._jobs import Activity, explain, start_job
from napari_unet._widgets._layers import refill_combo
from napari_unet._widgets._object_table import ObjectTable
from napari_unet._widgets._predict_job import OUTPUTS, is_lazy, prediction_job
from napari_unet._widgets._predict_objects import ObjectTableActions
from napari_unet._widgets._predict_placement import ResultPlacement
from napari_unet._widgets._predict_region import VIEW_MAX_SIDE, PredictRegion
from napari_unet._widgets._predict_saving import ResultSaving
from napari_unet._widgets._predict_uncertainty import UNCERTAIN_WINDOW, UncertaintyNavigation
from napari_unet._widgets._results import (
    ResultStores,
    is_result,
    physical_scale,
)
from napari_unet._widgets._state import state_for
from napari_unet._widgets.model import MODEL_FILTERS

if TYPE_CHECKING:
    import napari

SCOPES = ("whole stack", "current slice", "current view")

__all__ = ["SCOPES", "UNCERTAIN_WINDOW", "VIEW_MAX_SIDE", "PredictWidget"]


class PredictWidget(PredictRegion, ResultPlacement, UncertaintyNavigation, ObjectTableActions,
                    ResultSaving, DockWidget):
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
        self._job_info: dict = {}
        self._last: dict = {}  # the last prediction placed: results, where, how
        self._save_worker = self._table_worker = None
        self._busy_store = None
        self.stores = ResultStores()
        #: this prediction's entry in napari's activity dock (its cancel button cancels it)
        self.activity = Activity("napari-unet prediction", on_cancel=self.cancel)
        form = QFormLayout()
        self.model_combo = QComboBox()
        self.model_combo.addItems(["current model", "model file"])
        self.model_file, row = path_row(
            "model file or bioimage.io package (for 'model file')", self._browse)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.image_combo = QComboBox()
        self.axes_edit = QLineEdit()
        self.axes_edit.setPlaceholderText("e.g. YX, ZYX, TYX, CZYX")
        self.axes_edit.setToolTip(
            "the image's axes, one letter per dimension: T time, S samples, C channel, Z depth, "
            "Y rows, X columns; read from the file or guessed, kept with the layer when changed")
        self.output_checks = {name: QCheckBox(name) for name in OUTPUTS}
        self.output_checks["classes"].setChecked(True)
        self.output_checks["instances"].setToolTip(
            "objects: an instance model's, or a semantic model's structure classes (2..K) "
            "split where touching objects narrow")
        self._shown_task: str | None = None
        outputs = QGridLayout()  # two by two: the dock stays narrow
        for i, check in enumerate(self.output_checks.values()):
            outputs.addWidget(check, i // 2, i % 2)
        self.scope_combo = QComboBox()
        self.scope_combo.addItems(SCOPES)
        self.tile_spin = QSpinBox(minimum=0, maximum=8192, singleStep=64)
        self.tile_spin.setSpecialValueText("automatic")
        self.store_dir, store_row = path_row("system temp folder", self._browse_store)
        self.store_dir.setToolTip(
            "where the results of lazy (dask/zarr) images are written as zarr while they are "
            "shown; removed with their layers unless kept")
        self.keep_check = QCheckBox("keep them")
        self.keep_check.setToolTip("keep the zarr results of lazy images after their layers "
                                   "are removed and napari closes")
        form.addRow("model", self.model_combo)
        form.addRow(row)
        form.addRow(self.model_label)
        form.addRow("image", self.image_combo)
        form.addRow("axes", self.axes_edit)
        form.addRow("outputs", outputs)
        form.addRow("scope", self.scope_combo)
        form.addRow("tile size", self.tile_spin)
        form.addRow("lazy results in", store_row)
        form.addRow("", self.keep_check)
        self.body.addLayout(form)
        self.objects = ObjectTable(lambda row: self.go_to_object(row),
                                   lambda path: self.save_table(path, replace=True))
        self.body.addWidget(self.objects)
        buttons = QHBoxLayout()
        self.predict_button = QPushButton("Predict")
        self.cancel_button = QPushButton("Cancel")
        buttons.addWidget(self.predict_button)
        buttons.addWidget(self.cancel_button)
        self.predict_button.setToolTip("Predict (Shift+R: predict the current view)")
        self.footer.addLayout(buttons)
        more = QHBoxLayout()
        self.uncertain_button = QPushButton("Go to the most uncertain region")
        self.uncertain_button.setToolTip(
            "move the view (and the slice of a stack) to where the model is least sure: paint "
            "there next")
        self.save_button = QPushButton("Save results…")
        self.save_button.setToolTip(
            "write the last prediction (probabilities, classes, objects, uncertainty) as one "
            "OME-Zarr, with the image's pixel size, for napari, Fiji, QuPath and bioio")
        more.addWidget(self.save_button)
        more.addWidget(self.uncertain_button)
        self.footer.addLayout(more)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(16)
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.footer.addWidget(self.progress)
        self.footer.addWidget(self.status)
        self.predict_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)
        self.uncertain_button.clicked.connect(lambda: self.go_to_uncertain())
        self.save_button.clicked.connect(self._browse_save)
        self.image_combo.currentTextChanged.connect(self._show_axes)
        self.model_combo.currentTextChanged.connect(self._show_axes)
        self.axes_edit.editingFinished.connect(self._keep_axes)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._layers_removed)
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

    def _browse_store(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the results of lazy images")
        if path:
            self.store_dir.setText(path)

    def _refresh_layers(self, *_) -> None:
        results = {layer.name for layer in self.viewer.layers if is_result(layer)}
        names = [n for n in image_choices(self.viewer)
                 if n not in results and not n.endswith(" preview")]
        before = self.image_combo.currentText()
        refill_combo(self.image_combo, names)
        if self.image_combo.currentText() != before or not self.axes_edit.text():
            self._show_axes()
        self._update_actions()

    def _layers_removed(self, *_) -> None:
        self._refresh_layers()
        self.stores.sweep(self.viewer.layers, busy=[self._busy_store])

    def _model_dims(self) -> int:
        model = self.state.model if self.model_combo.currentText() == "current model" else \
            self._file_model
        return getattr(model, "dims", 2)

    def _show_axes(self, *_) -> None:
        """Show the chosen image's axes: from its layer metadata, else the core's guess."""
        try:
            _, axes, _, _ = image_input(self.viewer, self.image_combo.currentText(),
                                        dims=self._model_dims())
        except ValueError:
            axes = ""
        self.axes_edit.setText(axes)

    def _keep_axes(self) -> None:
        """Keep axes typed by the user with the chosen image's layers (metadata only)."""
        text = self.axes_edit.text().strip().upper()
        if not text:  # empty: the image's own axes (or the guess) are used
            return
        try:
            layers = input_layers(self.viewer, self.image_combo.currentText())
            if len(layers) == 1:
                set_layer_axes(layers[0], text)
            elif text.startswith("C"):
                for layer in layers:
                    set_layer_axes(layer, text[1:])
            self.axes_edit.setText(text)
        except ValueError as err:
            self.status.setText(explain(err))

    def _update_actions(self) -> None:
        """Enable the actions that need a result (e.g. an uncertainty layer) when one exists."""
        self.uncertain_button.setEnabled(self._uncertainty_layer() is not None)
        self.save_button.setEnabled(bool(self._saveable()) and self._save_worker is None)
        if self.objects.table and self._result_layer("instances") is None:
            self.objects.clear_table()  # its objects were removed

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
        self._show_axes()
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
    def predict_view(self) -> None:
        """Predict the current view of the chosen image (the Shift+R shortcut)."""
        self.start(scope="current view")

    def start(self, scope: str | None = None) -> None:
        """Predict the chosen image with the chosen model in a worker thread.

        ``scope`` (one of :data:`SCOPES`) overrides the scope chosen in the widget. A region
        of a numpy image is normalised with the whole image's statistics; a region of a lazy
        image with its own (measuring the whole image would read all of it).
        """
        if self.busy:
            return
        scope = scope or self.scope_combo.currentText()
        choice = self.image_combo.currentText()
        try:
            model = self._model()
            data, _, _, layers = image_input(self.viewer, choice, dims=model.dims)
            axes = self._axes(data, choice, model.dims)
            region, index, sub_axes = self._region(layers, data, axes, model.dims, scope)
            lazy = is_lazy(data)
            stats = None
            if index and not lazy:
                stats = model.normalization.stats(data, axes=axes)
            outputs = tuple(n for n, c in self.output_checks.items() if c.isChecked())
            if not outputs:
                raise ValueError("tick at least one output")
            store = None
            if is_lazy(region) and not index:
                store = self.stores.new(self.store_dir.text().strip() or None,
                                        keep=self.keep_check.isChecked())
        except (ValueError, TypeError, FileNotFoundError) as err:
            from napari.utils.notifications import show_error

            show_error(explain(err))
            self.status.setText(f"not started: {explain(err)}")
            return
        like = layers[0]
        shown = axes.replace("C", "") if len(layers) > 1 or like.rgb else axes
        spacing = tuple(s for s, a in zip(like.scale, shown) if a in "ZYX" and a in sub_axes)
        self._job_info = {
            "name": choice if len(layers) == 1 else choice.rsplit(" (", 1)[0],
            "like": like.name, "axes": axes, "index": index, "model": model,
            "lazy": lazy, "store": store, "region": region, "sub_axes": sub_axes,
            "scale": physical_scale(like, shown), "shape": tuple(
                s for s, a in zip(np.shape(data), axes) if a != "C"),
        }
        self._busy_store = store
        self._returned = False
        self.progress.setValue(0)
        self.status.setText("predicting…")
        self.worker = start_job(
            prediction_job(model, region, axes=sub_axes, outputs=outputs, spacing=spacing,
                           tile_shape=self.tile_spin.value() or None, norm_stats=stats,
                           store=None if store is None else str(store), in_memory=bool(index)),
            on_yield=self._on_yield,
            on_return=self._on_return,
            on_error=lambda err: self.status.setText(f"stopped by an error: {explain(err)}"),
            on_finish=self._on_finish,
        )
        self.worker.aborted.connect(lambda: self.status.setText("cancelled"))
        self._set_running(True)
        # napari builds the activity dock's bar at once (~0.15 s): after this click returns
        QTimer.singleShot(0, lambda: self.activity.open() if self.worker is not None else None)

    def cancel(self) -> None:
        """Stop the running prediction after the current batch of tiles."""
        if self.worker is not None:
            self._returned = True  # records still queued must not overwrite the words
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
        self.activity.update(int(100 * record.step / max(1, record.total)),
                             f"{record.step}/{record.total}" if record.total else "")
        if record.message:
            self.status.setText(record.message)

    @property
    def busy(self) -> bool:
        """Whether a prediction runs, its result layers are being added, its objects
        measured or its results saved."""
        return (self.worker is not None or bool(self._pending) or self._placing
                or self._table_worker is not None or self._save_worker is not None)

    def _on_finish(self) -> None:
        self.activity.close()
        self.worker = None
        self._set_running(bool(self._pending))
        if not self._placing:  # failed or cancelled: its store (if any) goes
            self._busy_store = None
            self.stores.sweep(self.viewer.layers)

    def _set_running(self, running: bool) -> None:
        self.predict_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
