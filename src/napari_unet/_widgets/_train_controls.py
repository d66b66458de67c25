"""The controls of the Train dock widget (layout only; the behaviour is in train.py)."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_unet._widgets._base import DockWidget, path_row
from napari_unet._widgets._plot import TrainingPlot
from napari_unet.core.devices import describe_device
from napari_unet.core.training.presets import PRESETS, describe_preset, preset_settings
from napari_unet.core.training.train import TrainConfig

#: What "start from" offers; "new model" lets a shipped starting model begin when one fits.
STARTS = ("new model", "random weights", "current model", "model file")
TASKS = ("semantic", "instances", "regression")


class TrainControls(DockWidget):
    """Buttons, lists and fields of the Train widget, laid out once."""

    def _build(self) -> None:
        pairs = QGroupBox("Training data")
        form = QFormLayout(pairs)
        self.image_combo = QComboBox()
        self.labels_combo = QComboBox()
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(
            "The image's axes, one letter per dimension: T time, S samples, C channel, Z depth, "
            "Y rows, X columns (e.g. ZCYX). Prefilled from the layer (as Load or the reader "
            "named them) or guessed; an edit is kept with the layer (its data are untouched).")
        self.classes_label = QLabel("")
        self.classes_label.setWordWrap(True)
        self.classes_label.setToolTip("The classes the model learns: the paint layer's names "
                                      "(value 1 = the first), from Load's class list")
        form.addRow("image", self.image_combo)
        form.addRow("axes", self.axes_edit)
        form.addRow("paint / target", self.labels_combo)
        form.addRow("classes", self.classes_label)
        row = QHBoxLayout()
        self.add_pair_button = QPushButton("Add pair")
        self.remove_pair_button = QPushButton("Remove")
        row.addWidget(self.add_pair_button)
        row.addWidget(self.remove_pair_button)
        form.addRow(row)
        self.pair_list = QListWidget()
        self.pair_list.setMaximumHeight(70)
        self.pair_list.setToolTip("Pairs to train on; empty: the pair chosen above")
        self.pair_list.setVisible(False)  # shown once it holds a pair: no empty box
        for signal in (self.pair_list.model().rowsInserted, self.pair_list.model().rowsRemoved):
            signal.connect(lambda *_: self.pair_list.setVisible(self.pair_list.count() > 0))
        form.addRow(self.pair_list)
        self.image_combo.currentTextChanged.connect(self._show_axes)
        self.axes_edit.editingFinished.connect(self._axes_edited)
        self.labels_combo.currentTextChanged.connect(self._show_classes)
        self.add_pair_button.clicked.connect(self._add_pair)
        self.remove_pair_button.clicked.connect(self._remove_pair)
        self.body.addWidget(pairs)

        settings = QGroupBox("Model")
        form = QFormLayout(settings)
        self.task_combo = QComboBox()
        self.task_combo.addItems(TASKS)
        self.task_combo.currentTextChanged.connect(self._refresh_layers)
        self.dims_combo = QComboBox()
        self.dims_combo.addItems(["2D", "3D"])
        #: Steps per second of the last run here, by "2D"/"3D" (the preset's time estimate).
        self.speed: dict[str, float] = {}
        self.dims_combo.currentTextChanged.connect(
            lambda _: self._apply_preset(self.preset_combo.currentText()))
        self.dims_combo.currentTextChanged.connect(self._show_axes)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(PRESETS))
        self.preset_combo.currentTextChanged.connect(self._apply_preset)
        self.start_combo = QComboBox()
        self.start_combo.addItems(list(STARTS))
        self.start_combo.setToolTip(
            "new model: begins from a shipped starting model when one fits your images and "
            "strokes (the status says which), else from random weights; random weights: "
            "never from a starting model")
        self.start_file, file_row = path_row("model file (for 'model file')", self._browse_model)
        form.addRow("task", self.task_combo)
        form.addRow("dimensions", self.dims_combo)
        form.addRow("size", self.preset_combo)
        self.preset_label = QLabel()
        self.preset_label.setWordWrap(True)
        form.addRow(self.preset_label)
        form.addRow("start from", self.start_combo)
        form.addRow(file_row)
        self.device_label = QLabel(describe_device("auto"))
        form.addRow("device", self.device_label)
        self.body.addWidget(settings)

        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        self.advanced_body = QWidget()  # collapsed (hidden) while Advanced is unticked
        QVBoxLayout(self.advanced).addWidget(self.advanced_body)
        self.advanced.layout().setContentsMargins(0, 0, 0, 0)
        self.advanced_body.setVisible(False)
        self.advanced.toggled.connect(self.advanced_body.setVisible)
        form = QFormLayout(self.advanced_body)
        self.depth_spin = QSpinBox(minimum=1, maximum=6)
        self.width_spin = QSpinBox(minimum=2, maximum=128)
        self.patch_spin = QSpinBox(minimum=16, maximum=1024, singleStep=16)
        self.batch_spin = QSpinBox(minimum=0, maximum=256)
        self.batch_spin.setSpecialValueText("auto")
        self.lr_spin = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=1e-4)
        self.augment_combo = QComboBox()
        self.augment_combo.addItems(["on", "off"])
        self.budget_kind = QComboBox()
        self.budget_kind.addItems(["seconds", "steps"])
        self.budget_spin = QSpinBox(minimum=1, maximum=10_000_000)
        form.addRow("depth", self.depth_spin)
        form.addRow("base channels", self.width_spin)
        form.addRow("patch (pixels)", self.patch_spin)
        form.addRow("batch", self.batch_spin)
        form.addRow("learning rate", self.lr_spin)
        form.addRow("augmentation", self.augment_combo)
        budget = QHBoxLayout()
        budget.addWidget(self.budget_spin)
        budget.addWidget(self.budget_kind)
        form.addRow("budget", budget)
        self.arch_label = QLabel("trains: the settings above, or a starting model")
        self.arch_label.setWordWrap(True)
        form.addRow(self.arch_label)
        self.body.addWidget(self.advanced)
        self.lr_spin.setValue(TrainConfig().lr)
        self._apply_preset(self.preset_combo.currentText())

        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.continue_button = QPushButton("Continue")
        for button in (self.train_button, self.stop_button, self.continue_button):
            buttons.addWidget(button)
        self.train_button.clicked.connect(lambda: self.start(resume=False))
        self.continue_button.clicked.connect(lambda: self.start(resume=True))
        self.stop_button.clicked.connect(self.stop)
        self.train_button.setToolTip("Train (Shift+T)")
        self.stop_button.setToolTip("Stop after this step, keeping the model (Shift+S)")
        # what must stay in sight on a short screen sits below the scrolling settings
        self.preview_combo = QComboBox()
        self.preview_combo.addItems(["live preview on", "live preview off"])
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(16)
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.plot = TrainingPlot()
        self.curve_box = QGroupBox("Training curve")
        self.curve_box.setCheckable(True)
        self.curve_box.setChecked(True)
        QVBoxLayout(self.curve_box).addWidget(self.plot)
        self.curve_box.layout().setContentsMargins(2, 2, 2, 2)
        self.curve_box.toggled.connect(self.plot.setVisible)
        self.footer.addLayout(buttons)
        self.footer.addWidget(self.preview_combo)
        self.footer.addWidget(self.progress)
        self.footer.addWidget(self.status)
        self.footer.addWidget(self.curve_box)

    def _apply_preset(self, name: str, *_) -> None:
        """Set the architecture and the step budget of a size preset (core presets: steps,
        a time cap and early stopping) and say what it buys here."""
        dims = 3 if self.dims_combo.currentText() == "3D" else 2
        settings = preset_settings(name, dims)
        self.depth_spin.setValue(settings["depth"])
        self.width_spin.setValue(settings["base_channels"])
        self.patch_spin.setValue(PRESETS[name].patch)  # the 2D side; 3D derives its own
        self.budget_kind.setCurrentText("steps")
        self.budget_spin.setValue(settings["max_steps"])
        #: The preset's time cap and patience, used with a step budget (TrainConfig).
        self.preset_cap, self.patience = settings["max_seconds"], settings["patience"]
        self.show_preset()

    def show_preset(self, steps_per_s: float | None = None) -> None:
        """The preset's words; with the speed of the last run, about how long it takes."""
        kind = self.dims_combo.currentText()
        if steps_per_s:
            self.speed[kind] = steps_per_s
        dims = 3 if kind == "3D" else 2
        speed = self.speed.get(kind)
        self.preset_label.setText(describe_preset(self.preset_combo.currentText(), dims,
                                                  steps_per_s=speed))

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from model")
        if path:
            self.start_file.setText(path)
            self.start_combo.setCurrentText("model file")
