"""The Model dock widget: save, load, export, and the model card of the current model."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QWidget,
)

from napari_unet._widgets._base import DockWidget, path_row
from napari_unet._widgets._jobs import explain, start_job
from napari_unet._widgets._state import state_for
from napari_unet.core.devices import describe_device
from napari_unet.core.export.loading import load_any_model
from napari_unet.core.modelfile import SUFFIX, make_card, save_model

if TYPE_CHECKING:
    import napari

EXPORT_FORMATS = ("bioimageio", "onnx", "torchscript")
#: File dialog filters: model files, bioimage.io packages (zip, or the rdf.yaml of a folder).
MODEL_FILTERS = (f"models (*{SUFFIX} *.zip rdf.yaml bioimageio.yaml);;"
                 f"napari-unet model files (*{SUFFIX});;"
                 "bioimage.io packages (*.zip rdf.yaml bioimageio.yaml);;all files (*)")


def _call(fn: Callable[[], Any]):
    """A generator that runs ``fn`` in a worker and returns its value."""
    return fn()
    yield  # pragma: no cover - makes this a generator function


def _join(items: dict, fmt: str = "{:.2f}") -> str:
    return ", ".join(f"{k} {'–' if v is None else fmt.format(v)}" for k, v in items.items())


def card_rows(model) -> list[tuple[str, str]]:
    """The model card of an in-memory model as (what, value) rows, in words for people."""
    meta = model.meta
    training = meta.get("training") or {}
    card = make_card(model, train_config=training.get("config"),
                     training_data=meta.get("training_data") or training.get("data"),
                     validation=meta.get("validation"))
    arch, sizes = card.get("architecture") or {}, card.get("sizes") or {}
    n_in, n_out = arch.get("in_channels", model.in_channels), model.out_channels
    names = card.get("class_names") or []
    rows = [("name", str(card.get("name"))), ("task", str(card.get("task")))]
    if names:
        rows.append(("classes", ", ".join(f"{v} {n}" for v, n in zip(card["classes"], names))))
    rows += [
        ("axes", str(card.get("axes") or "not recorded")),
        ("network", f"{model.dims}D U-Net, depth {arch.get('depth')}, "
                    f"{arch.get('base_channels')} base channels, {n_in} input channel"
                    f"{'s' if n_in != 1 else ''} → {n_out} output{'s' if n_out != 1 else ''}"),
        ("parameters", f"{sum(p.numel() for p in model.parameters()):,}"),
    ]
    norm = card.get("normalization") or {}
    if norm.get("mode") == "percentile":
        rows.append(("normalisation", f"per image, percentiles {norm.get('low'):g} to "
                                      f"{norm.get('high'):g} → 0 to 1"))
    elif norm:
        rows.append(("normalisation", str(norm.get("mode"))))
    if sizes.get("halo") is not None:
        rows.append(("tiles", f"halo {' × '.join(map(str, sizes['halo']))} pixels, receptive "
                              f"field {' × '.join(map(str, sizes.get('receptive_field', [])))}"))
    if training:
        steps = training.get("steps_total", training.get("steps"))
        seconds = training.get("seconds")
        rows.append(("training", f"{steps} steps"
                     + (f" in {seconds:.0f} s" if isinstance(seconds, int | float) else "")
                     + f", on {training.get('device') or describe_device('auto')}"))
        pixels = training.get("labelled_pixels")
        if isinstance(pixels, dict) and pixels:
            rows.append(("painted pixels", _join(pixels, "{:,}")))
    validation = meta.get("validation") or {}
    if validation.get("iou"):
        rows.append(("held-out IoU", _join(validation["iou"])))
    if validation.get("loss") is not None:
        rows.append(("held-out loss", f"{validation['loss']:.3f}"))
    date = (getattr(model, "card", None) or {}).get("provenance", {}).get("date")
    if date:
        rows.append(("saved", str(date)))
    return rows


def card_text(model) -> str:
    """The model card of an in-memory model, for people (one "what: value" line a row)."""
    return "\n".join(f"{what}: {value}" for what, value in card_rows(model))


def card_html(rows: list[tuple[str, str]]) -> str:
    """A two-column HTML table of card rows."""
    cells = "".join(f"<tr><td><b>{escape(what)}</b></td><td>{escape(value)}</td></tr>"
                    for what, value in rows)
    return f"<table cellspacing='0' cellpadding='2'>{cells}</table>"


class ModelWidget(DockWidget):
    """Save, load and export U-Net models and show their model card."""

    TITLE = "Model"
    DESCRIPTION = (
        "Saves and loads models (safetensors weights and a JSON config, never pickles), exports "
        "them for bioimage.io, and shows the model card: classes, axes, normalisation, training "
        "data, validation metrics, device and date."
    )

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self.state = state_for(napari_viewer)
        self.worker = None
        self.path_edit, row = path_row(
            f"model file (*{SUFFIX}), bioimage.io package (folder or .zip), or export path",
            self._browse)
        self.body.addLayout(row)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.load_button = QPushButton("Load")
        self.export_button = QPushButton("Export")
        self.export_combo = QComboBox()
        self.export_combo.addItems(EXPORT_FORMATS)
        for w in (self.save_button, self.load_button, self.export_button, self.export_combo):
            buttons.addWidget(w)
        self.body.addLayout(buttons)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.body.addWidget(self.status)
        self.card = QTextBrowser()
        self.card.setMinimumHeight(120)
        self.body.addWidget(self.card)
        self.save_button.clicked.connect(self.save)
        self.load_button.clicked.connect(self.load)
        self.export_button.clicked.connect(self.export)
        self.state.model_changed.connect(self._show_card)
        self._show_card()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Model file or package", "", MODEL_FILTERS,
            options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.path_edit.setText(path)

    def _path(self) -> str:
        path = self.path_edit.text().strip()
        if not path:
            raise ValueError("give a file path first (the field above, or …)")
        return path

    def _show_card(self, *_) -> None:
        model = self.state.model
        if model is None:
            self.card.setPlainText("no model yet: train one with Train, or load a file")
            return
        self.card.setHtml(card_html([("source", self.state.source), *card_rows(model)]))

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None], what: str) -> None:
        if self.worker is not None:
            return
        self.status.setText(f"{what}…")
        self.worker = start_job(
            _call(fn), on_return=done,
            on_error=lambda err: self.status.setText(f"{what} failed: {explain(err)}"),
            on_finish=self._finished,
        )

    def _finished(self) -> None:
        self.worker = None

    def _need_model(self):
        if self.state.model is None:
            raise ValueError("there is no model to save or export: train or load one first")
        return self.state.model

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (ValueError, FileNotFoundError) as err:
            from napari.utils.notifications import show_error

            show_error(explain(err))
            self.status.setText(explain(err))

    def save(self) -> None:
        """Save the current model (weights and card) to the path, atomically."""

        def go():
            model, path = self._need_model(), self._path()
            if not path.endswith(SUFFIX):
                path += SUFFIX
            training = model.meta.get("training") or {}
            self._run(
                lambda: save_model(model, path, train_config=training.get("config"),
                                   validation=model.meta.get("validation")),
                lambda p: self.status.setText(f"saved to {p}"), "saving",
            )

        self._guarded(go)

    def load(self) -> None:
        """Load a model file or a bioimage.io package (folder, zip or rdf.yaml) and make it the
        current model."""

        def go():
            path = self._path()
            self._run(lambda: load_any_model(path),
                      lambda m: (self.state.set_model(m, f"loaded from {path}"),
                                 self.status.setText(f"loaded {path}")),
                      "loading")

        self._guarded(go)

    def export(self) -> None:
        """Export the current model in the chosen format (bioimage.io, ONNX, TorchScript)."""

        def go():
            from napari_unet.core import export as exporting

            model, path, fmt = self._need_model(), self._path(), self.export_combo.currentText()
            writers = {
                "bioimageio": lambda: exporting.export_bioimageio(
                    model, path, card=getattr(model, "card", None)),
                "onnx": lambda: exporting.export_onnx(model, path),
                "torchscript": lambda: exporting.export_torchscript(model, path),
            }
            self._run(writers[fmt],
                      lambda p: self.status.setText(f"exported ({fmt}) to {p}"), "exporting")

        self._guarded(go)
