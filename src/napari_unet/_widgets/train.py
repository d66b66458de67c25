"""The Train dock widget: (image, paint) pairs in, a U-Net trained in the background out."""

from __future__ import annotations

import copy
import threading
import time
from typing import TYPE_CHECKING

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QWidget,
)

from napari_unet._widgets._inputs import input_layers
from napari_unet._widgets._jobs import Activity, explain, start_job
from napari_unet._widgets._layers import get_layer
from napari_unet._widgets._live import PaintForwarder
from napari_unet._widgets._preview import LivePreview
from napari_unet._widgets._state import state_for
from napari_unet._widgets._train_controls import TrainControls
from napari_unet._widgets._train_inputs import TrainingInputs
from napari_unet._widgets._training_job import (
    PreviewResult,
    PreviewSlot,
    TrainerReady,
    training_job,
)
from napari_unet.core.model import UNet
from napari_unet.core.training.feedback import training_warnings
from napari_unet.core.training.train import TrainConfig

if TYPE_CHECKING:
    import napari

PREVIEW_EVERY_MS = 3000


def _import_lazy_torch_modules() -> None:
    """Import what PyTorch would otherwise import lazily in the training thread.

    Creating the first optimiser imports ``torch._dynamo`` (about 2 s); done in a worker while
    the GUI runs it stalled the main thread for up to a second (measured), so it is done here,
    once, when the widget docks.
    """
    import sklearn.ensemble  # noqa: F401  (the first answer's classifier: ~1 s to import)
    import torch._dynamo  # noqa: F401


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d} left"


class TrainWidget(TrainingInputs, LivePreview, TrainControls):
    """Train a U-Net in the background from (image, paint) layer pairs."""

    TITLE = "Train"
    DESCRIPTION = (
        "Trains a U-Net in the background from one or more (image, paint) layer pairs: a few "
        "strokes per class are enough to start. Shows progress, a loss and validation curve and "
        "a live preview on the current slice; Stop and Continue at any time."
    )

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        _import_lazy_torch_modules()
        self.state = state_for(napari_viewer)
        self.worker = None
        self._stop: threading.Event | None = None
        self._previews: PreviewSlot | None = None
        self._preview_target: tuple | None = None  # (image layer name, axes, shape)
        self._last_config: TrainConfig | None = None
        self._last_pairs: list[tuple[str, str]] = []
        self._used_layers: set[str] = set()  # names of the layers the run was copied from
        self._ready = False  # the worker checked the data and built its trainer
        self._note = ""  # a warning about this run, kept in front of its progress lines
        #: this run's entry in napari's activity dock (its cancel button stops the run)
        self.activity = Activity("napari-unet training", on_cancel=self.stop)
        self.trainer = None  # the run's Trainer: Continue goes on with it
        self._trainer_model = None  # the model the trainer last returned
        self._painting = PaintForwarder()
        self._preview = None  # the preview layer of this run
        self._preview_source = ""
        self._preview_classes: set[int] = set()
        self._build()
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._layer_removed)
        self._refresh_layers()
        self._preview_timer = QTimer(self)
        self._preview_timer.setInterval(PREVIEW_EVERY_MS)
        self._preview_timer.timeout.connect(self._request_preview)
        self._set_running(False)
        self.bind_shortcuts({"Shift-T": lambda: self.start(resume=False), "Shift-S": self.stop})

    # ---------------------------------------------------------------- layers
    def _layer_removed(self, event) -> None:
        if self.worker is None:
            return
        name = event.value.name
        used = set(self._used_layers)
        if name in used:
            self._note = (f"layer {name!r} was removed while training; training goes on with "
                          "the copy taken at the start, but the live preview stops")
            self.status.setText(self._note)
            self._preview_target = None

    # ---------------------------------------------------------------- run
    def start(self, *, resume: bool = False) -> None:
        """Start training (``resume``: Continue the current run, or the current model)."""
        if self.worker is not None:
            return
        try:
            pairs, names, axes, facts = self._gather()
            config = self.make_config(axes)
            if facts["class_names"] and config.task == "semantic":
                config.class_names = facts["class_names"]
            trainer = self._continuable(config, names) if resume else None
            model = None if trainer is not None else self._start_model(config, pairs,
                                                                        resume=resume)
        except (ValueError, TypeError, FileNotFoundError) as err:
            from napari.utils.notifications import show_error

            text = explain(err, pairs=self.pair_names())
            show_error(text)
            self.status.setText(f"not started: {text}")
            return
        if trainer is None:
            self.plot.clear_curves()
        self._last_config, self._last_pairs = config, names
        self._used_layers = {target for _, target in names} | {
            layer.name for image, _ in names for layer in input_layers(self.viewer, image)}
        self._ready = trainer is not None
        self._note = ""
        self._stop = threading.Event()
        self._previews = PreviewSlot()
        self._preview_target = (names[0][0], axes, facts["shape"])
        self._painting.attach([(i, get_layer(self.viewer, target, "labels"))
                               for i, (_, target) in enumerate(names)
                               if any(layer.name == target and layer._type_string == "labels"
                                      for layer in self.viewer.layers)])
        self.progress.setValue(0)
        self.status.setText("continuing the run…" if trainer is not None
                            else "preparing the training data…")
        self._started = time.perf_counter()
        budget = {} if trainer is None else {
            "max_steps": config.max_steps, "max_seconds": config.max_seconds}
        self.worker = start_job(
            training_job(config, pairs, model=model, device="auto", stop=self._stop,
                         previews=self._previews, trainer=trainer, **budget),
            on_yield=self._on_yield,
            on_return=self._on_return,
            on_error=self._on_error,
            on_finish=self._on_finish,
        )
        self._set_running(True)
        # napari builds the activity dock's bar at once (~0.15 s): after this click returns
        QTimer.singleShot(0, self._open_activity)
        if self.preview_combo.currentIndex() == 0:
            self._preview_layer()  # added now: adding a layer costs the main thread ~0.5 s
            self._request_preview()  # the first answer comes as soon as the data are ready
        self._preview_timer.start()

    def _continuable(self, config: TrainConfig, names: list[tuple[str, str]]):
        """The run to Continue: the last trainer, when it trained the current model on the
        same layers with the same task and dimensions; else None (a new run from the
        current model)."""
        tr = self.trainer
        if tr is None or self.state.model is not self._trainer_model:
            return None
        if names != self._last_pairs or (tr.config.task, tr.config.dims, tr.config.axes) != (
                config.task, config.dims, config.axes):
            return None
        return tr

    def _start_model(self, config: TrainConfig, pairs, *, resume: bool) -> UNet | None:
        choice = "current model" if resume else self.start_combo.currentText()
        if choice == "current model":
            if self.state.model is None:
                raise ValueError("there is no current model yet: train one first, or load one")
            return copy.deepcopy(self.state.model)
        if choice == "model file":
            from napari_unet.core.modelfile import load_model

            path = self.start_file.text().strip()
            if not path:
                raise ValueError("'start from model file' needs a model file: choose one")
            return load_model(path)
        return None  # a new network, or a shipped starting model when the data look alike

    def stop(self) -> None:
        """Ask training to end after the current step; the model trained so far is kept."""
        if self._stop is not None:
            self._stop.set()
            self.status.setText("stopping after this step…")

    def dock_closed(self) -> None:
        """The dock was closed: training stops after this step (the model so far is kept)."""
        self.stop()

    def _on_yield(self, record) -> None:
        if isinstance(record, PreviewResult):
            self._show_preview(record)
            return
        if isinstance(record, TrainerReady):
            self._ready = True
            self.trainer = record.trainer
            self._painting.set_trainer(record.trainer)
            net = record.trainer.net
            self.arch_label.setText(
                f"trains: depth {net.depth} × {net.base_channels} channels, from "
                f"{record.trainer.start}")
            return
        fraction = record.fraction if record.total else 0.0
        if record.eta is not None and record.elapsed:
            fraction = record.elapsed / (record.elapsed + record.eta)
        percent = int(100 * fraction)
        if percent != self.progress.value():  # a repaint costs ~20 ms: only on change
            self.progress.setValue(percent)
        self.activity.update(percent, f"step {record.step}" if record.phase == "train" else "")
        self.plot.add_record(record)
        text = record.message or ""
        if record.phase == "train" and record.loss is not None:
            self.speed[self.dims_combo.currentText()] = record.steps_per_s
            text = (f"step {record.step}  loss {record.loss:.3f}  "
                    f"{record.steps_per_s:.1f} steps/s  {_eta(record.eta)}")
        elif record.phase == "validate" and record.val_iou:
            ious = ", ".join("–" if v is None else f"{v:.2f}" for v in record.val_iou)
            text = f"held-out strokes: loss {record.val_loss:.3f}, IoU per class {ious}"
        if text and self._preview_source:
            text += f"  · preview: {self._preview_source}"
        if text and self._note:  # a warning of this run stays in sight until it ends
            text = f"{self._note}  · {text}"
        if text:
            self.status.setText(text)

    def _on_return(self, model) -> None:
        if model is None:
            return
        self.show_preset()  # with the speed just measured: "about N s" on this machine
        self._trainer_model = model
        self.state.set_model(model, "trained in this session")
        warnings = training_warnings(model.meta, model.out_channels, self._preview_classes)
        iou = (model.meta.get("validation") or {}).get("iou") or {}
        scores = ", ".join(f"{name} {v:.2f}" for name, v in iou.items() if v is not None)
        if warnings:
            from napari.utils.notifications import show_warning

            text = "trained, but: " + "; ".join(warnings)
            show_warning(text)
        else:
            text = ("done: the model is ready to Predict and to save"
                    + (f" (held-out IoU: {scores})" if scores else ""))
        self.status.setText(text)
        self.progress.setValue(self.progress.maximum())

    @property
    def busy(self) -> bool:
        """Whether training runs."""
        return self.worker is not None

    def _on_error(self, err: BaseException) -> None:
        """The worker's checks refused the data (not started) or training failed."""
        words = explain(err, pairs=self._last_pairs)
        self.status.setText(f"stopped by an error: {words}" if self._ready
                            else f"not started: {words}")

    def _open_activity(self) -> None:
        if self.worker is not None:  # not ended already
            self.activity.open()

    def _on_finish(self) -> None:
        self.activity.close()
        self.worker = None
        self._preview_timer.stop()
        self._painting.detach()
        self._set_running(False)
        if self._preview is not None and self._preview in self.viewer.layers:
            self._preview.visible = False  # it showed a model of the moment, not the result

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.continue_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
