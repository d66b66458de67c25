"""The Predict dock widget: seam-free tiled prediction into probability, class and object layers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    input_region,
    set_layer_axes,
)
from napari_unet._widgets._jobs import Activity, explain, start_job
from napari_unet._widgets._layers import (
    copy_data,
    current_indices,
    put_layer,
    refill_combo,
    visible_region,
)
from napari_unet._widgets._object_table import ObjectTable
from napari_unet._widgets._predict_job import OUTPUTS, is_lazy, prediction_job
from napari_unet._widgets._results import (
    ResultStores,
    is_result,
    ngff_path,
    physical_scale,
    result_info,
    result_specs,
)
from napari_unet._widgets._state import state_for
from napari_unet._widgets.model import MODEL_FILTERS
from napari_unet.core.axes import check_axes, spatial_letters
from napari_unet.core.prediction.uncertainty import most_uncertain_window
from napari_unet.core.progress import Progress

if TYPE_CHECKING:
    import napari

SCOPES = ("whole stack", "current slice", "current view")
#: The side, in pixels, of the region "Go to the most uncertain region" looks for.
UNCERTAIN_WINDOW = 64
#: The largest side, in pixels, of a "current view" prediction (a zoomed-out huge image).
VIEW_MAX_SIDE = 2048


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
    def _axes(self, data, choice: str, dims: int) -> str:
        """The axes in the axes field (or the image's own), checked, in GUI words."""
        text = self.axes_edit.text().strip()
        if not text:
            _, text, _, _ = image_input(self.viewer, choice, dims=dims)
        axes = check_axes(text, ndim=np.ndim(data), what=f"the axes of image {choice!r}")
        if dims == 3 and "Z" not in axes:
            if "T" in axes:
                raise ValueError(
                    f"image {choice!r} is a time series (axes {axes}), and a 3D model needs a "
                    "depth (Z) axis: predict it with a 2D model (each time point on its own), or "
                    "correct the axes field if that axis is depth"
                )
            raise ValueError(
                f"image {choice!r} has no depth (Z) axis (axes {axes}), and the model is 3D: "
                "predict it with a 2D model, or correct the axes field"
            )
        return axes

    def _region(self, layers: list, data, axes: str, dims: int, scope: str
                ) -> tuple[Any, tuple, str]:
        """The data to predict, its index in the whole output, and its axes.

        For the whole stack: a copy of numpy data (lazy data as it is) and an empty index.
        Otherwise the index holds one integer per stack axis (the viewer's current slice) and
        slices of the visible region ("current view") or of the whole plane, and the region
        is a copy (numpy) or a lazy slice that the worker reads: only that region is read, and
        not on the main thread. The channel axis is kept.
        """
        layer = layers[0]
        shown = axes.replace("C", "") if len(layers) > 1 or layer.rgb else axes
        spatial = spatial_letters(dims)
        n_lead = len(shown) - dims
        whole = scope == "whole stack" or (scope == "current slice" and not
                                           (set(shown[:n_lead]) - {"C"}))
        if whole:
            return (copy_data(layer) if len(layers) == 1 else data), (), axes
        if not shown.endswith(spatial):
            raise ValueError(
                f"image {layer.name!r} has its axes in the order {axes}, with {spatial} not "
                "last: predict the whole stack"
            )
        lead = current_indices(self.viewer, layer, n_lead)
        if scope == "current view":
            view = visible_region(layer, n_lead, max_side=VIEW_MAX_SIDE)
            if any(v.stop - v.start < 2 for v in view):
                raise ValueError("the current view shows too little of the image to predict it")
        else:
            view = tuple(slice(0, n) for n in np.shape(layer.data)[n_lead:n_lead + dims])
        where: dict[str, Any] = dict(zip(shown[:n_lead], lead))
        where.update(zip(spatial, view))
        where["C"] = slice(None)
        source = tuple(where[a] for a in axes)
        region = input_region(layers, axes, source)
        index = tuple(where[a] for a in axes if a != "C")
        sub_axes = "".join(a for a in axes if not isinstance(where[a], int))
        return region, index, sub_axes

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

    # ---------------------------------------------------------------- results
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

    # ---------------------------------------------------------------- where to paint next
    def _uncertainty_layer(self):
        """The uncertainty result of the chosen image (else the newest one), or None."""
        found = [lyr for lyr in self.viewer.layers
                 if result_info(lyr).get("result") == "uncertainty"]
        chosen = self.image_combo.currentText()
        for lyr in found:
            if result_info(lyr).get("image") in (chosen, chosen.rsplit(" (", 1)[0]):
                return lyr
        return found[-1] if found else None

    def go_to_uncertain(self) -> tuple[slice, ...] | None:
        """Move the view to the region where the model is least sure, so the user paints there.

        Searches the uncertainty result of the current stack (the current time point and
        sample; every slice of a depth stack) for the :data:`UNCERTAIN_WINDOW`-pixel window
        of highest mean uncertainty (:func:`~napari_unet.core.prediction.uncertainty.
        most_uncertain_window`), then moves the slice sliders and the camera's centre there.
        Returns the window (data indices of the uncertainty layer), or None when there is no
        uncertainty result.
        """
        layer = self._uncertainty_layer()
        if layer is None:
            self.status.setText("no uncertainty yet: predict with the 'uncertainty' output ticked")
            return None
        info = result_info(layer)
        axes = info.get("axes") or "ZYX"[-layer.ndim:]
        dims = int(info.get("model_dims", 2))
        here = current_indices(self.viewer, layer, layer.ndim)
        fixed = tuple(here[i] if a in "TS" else slice(None) for i, a in enumerate(axes))
        free = [a for a in axes if a not in "TS"]
        window = [UNCERTAIN_WINDOW if a in "YX" else (1 if dims == 2 else 8) for a in free]
        found = most_uncertain_window(layer.data[fixed], window)
        it = iter(found)
        full = tuple(f if isinstance(f, int) else next(it) for f in fixed)
        centre = [f if isinstance(f, int) else (f.start + f.stop - 1) / 2 for f in full]
        self._centre_on(layer, centre)
        parts = []
        for a, f in zip(axes, full):
            if isinstance(f, slice):
                span = f"{f.start}" if f.stop - f.start == 1 else f"{f.start}–{f.stop - 1}"
                parts.append(f"{a} {span}")
        where = ", ".join(parts)
        self.status.setText(f"least sure around {where}: paint there next")
        return full

    def _centre_on(self, layer, position) -> None:
        """Move the sliders and the camera's centre to ``position`` (data coordinates of
        ``layer``), keeping the zoom."""
        world = np.asarray(layer.data_to_world(position))
        offset = self.viewer.dims.ndim - layer.ndim
        displayed = set(self.viewer.dims.displayed)
        for i, value in enumerate(world):
            if offset + i not in displayed:
                self.viewer.dims.set_point(offset + i, float(value))
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else \
            self.viewer.camera
        camera.center = tuple(float(world[d - offset]) for d in self.viewer.dims.displayed
                              if d >= offset)

    # ---------------------------------------------------------------- objects
    def _result_layer(self, kind: str, image: str | None = None):
        """The result layer of ``kind`` of the last prediction (of ``image``), or None."""
        image = image or self._last.get("name")
        return next((lyr for lyr in self.viewer.layers
                     if result_info(lyr).get("result") == kind
                     and result_info(lyr).get("image") == image), None)

    def _object_coordinates(self) -> tuple[dict[str, int], dict[str, int]]:
        """How a table row maps to the instances layer's data coordinates: the fixed index of
        each axis the prediction did not cover (a slice, a lazy region's one-deep axes) and
        the offset of each spatial axis (a region of a numpy image)."""
        last = self._last
        axes, index = last["axes"].replace("C", ""), last["index"]
        fixed: dict[str, int] = {}
        offset: dict[str, int] = {}
        for a, i in zip(axes, index):
            if isinstance(i, int):
                fixed[a] = 0 if last["lazy"] else i
            elif not last["lazy"]:
                offset[a] = i.start
        return fixed, offset

    def _measure_objects(self) -> None:
        """Measure the objects of the last prediction in a worker, then show the table."""
        from napari_unet.core.objects.table import measure_objects

        last = self._last
        results, sub_axes = last["results"], last["sub_axes"]
        labels_axes = sub_axes.replace("C", "")
        scale, _ = last["scale"]
        spacing = {a: s for a, s in scale.items() if a in "ZYX"}
        probabilities = results.get("probabilities")
        if last["model"].meta.get("task") == "regression":
            probabilities = None

        def job():
            yield Progress(0, 1, "measuring the objects")
            return measure_objects(results["instances"], axes=labels_axes,
                                   image=last["region"], image_axes=sub_axes,
                                   probabilities=probabilities, spacing=spacing)

        def done(table) -> None:
            note = "; sizes in pixels (the image has no pixel size)" if not spacing else ""
            self.objects.show_table(table, note=note)

        self._table_worker = start_job(
            job(), on_return=done,
            on_error=lambda err: self.status.setText(
                f"objects shown, but not measured: {explain(err)}"),
            on_finish=self._table_finished)

    def _table_finished(self) -> None:
        self._table_worker = None

    def go_to_object(self, row: int) -> tuple[float, ...] | None:
        """Centre the view on the object of the table's ``row`` (and move to its slice and
        time point). Returns its position in the instances layer's data coordinates."""
        table = self.objects.table
        layer = self._result_layer("instances")
        if layer is None or not table or not 0 <= row < len(table.get("label", ())):
            return None
        axes = self._last["axes"].replace("C", "")
        fixed, offset = self._object_coordinates()
        frames = [a for a in axes if a in "TS" and a not in fixed]
        frame = int(table["frame"][row]) if "frame" in table else 0
        frame_index = dict(zip(frames, np.unravel_index(
            frame, [layer.data.shape[axes.index(a)] for a in frames]))) if frames else {}
        position = []
        for a in axes:
            if a in fixed:
                position.append(float(fixed[a]))
            elif a in frame_index:
                position.append(float(frame_index[a]))
            else:
                position.append(float(table[f"centroid_{a.lower()}"][row]) + offset.get(a, 0))
        self._centre_on(layer, position)
        label = table["label"][row]
        self.status.setText(f"object {label}")
        return tuple(position)

    def save_table(self, path: str, *, replace: bool = False):
        """Write the object table as CSV to ``path`` in a worker (an existing file is
        replaced only with ``replace``, as after the file dialog asked)."""
        from napari_unet.core.objects.table import write_csv

        try:
            if not self.objects.table:
                raise ValueError("there is no object table: predict with 'instances' ticked")
            target = Path(path).expanduser()
            if target.exists() and not replace:
                raise ValueError(f"{str(target)!r} exists already: choose a new file name")
            source = (self._source_of_last(),) if self._source_of_last() else ()
            table = dict(self.objects.table)
        except ValueError as err:
            self.status.setText(f"not saved: {explain(err)}")
            return None

        def job():
            yield Progress(0, 1, "saving the object table")
            return write_csv(target, table, inputs=source)

        return self._run_save(job(), "object table")

    # ---------------------------------------------------------------- saving results
    def _source_of_last(self) -> str | None:
        like = next((lyr for lyr in self.viewer.layers
                     if lyr.name == self._last.get("like")), None)
        return (like.metadata.get("source") or None) if like is not None else None

    def _saveable(self) -> dict:
        """The last prediction's results whose layers are still in the viewer, by kind."""
        results = self._last.get("results") or {}
        return {k: v for k, v in results.items() if self._result_layer(k) is not None}

    def _browse_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save results as OME-Zarr", f"{self._last.get('name', 'results')}.ome.zarr",
            "OME-Zarr (*.ome.zarr *.zarr)")
        if path:  # the dialog asked before replacing
            self.save_results(path, replace=True)

    def save_results(self, path: str, *, replace: bool = False):
        """Write the last prediction's results as one OME-Zarr store at ``path``, in a worker.

        Writes the results whose layers are still shown (probabilities of every class, classes,
        instances, uncertainty) with the image's pixel size and units
        (:func:`napari_unet.core.ngff.write_results`); ``.ome.zarr`` is added to a path
        without a ``.zarr`` suffix. An existing path is refused unless ``replace`` (the file
        dialog asked), and even then only an earlier zarr store is replaced, never a file or
        another folder. Returns the worker, or None when refused (the status says why).
        """
        from napari_unet.core.ngff import write_results

        try:
            arrays = self._saveable()
            if not arrays:
                raise ValueError("there are no results to save: predict first (and keep their "
                                 "layers)")
            if self._last["index"]:
                raise ValueError("the last prediction covers a slice or the view only: predict "
                                 "the whole stack to save its results")
            target = ngff_path(path)
            if target.exists() and not replace:
                raise ValueError(f"{str(target)!r} exists already: choose a new name")
            source = self._source_of_last()
            if source and Path(source).resolve() == target.resolve():
                raise ValueError(f"{str(target)!r} is the image's own file: choose a new name")
            model = self._last["model"]
            names = None if model.meta.get("task") == "regression" else \
                (model.meta.get("class_names") or None)
            scale, units = self._last["scale"]
            axes = self._last["axes"].replace("C", "")
        except ValueError as err:
            self.status.setText(f"not saved: {explain(err)}")
            return None

        def job():
            yield Progress(0, 1, f"saving the results to {target.name}")
            return write_results(target, arrays, axes=axes, scale=scale, units=units,
                                 class_names=names)

        return self._run_save(job(), "results")

    def _run_save(self, job, what: str):
        def saved(path) -> None:
            self.status.setText(f"saved the {what} to {path}")

        def failed(err) -> None:
            self.status.setText(f"not saved: {explain(err)}")

        def finished() -> None:
            self._save_worker = None
            self._update_actions()

        self.status.setText(f"saving the {what}…")
        self._save_worker = start_job(job, on_return=saved, on_error=failed,
                                      on_finish=finished)
        self.save_button.setEnabled(False)
        return self._save_worker
