"""The generator the Train widget runs in its worker: core training plus live previews.

Previews are predicted in the worker thread between two training steps, with the weights of
that moment, so the model is never read by two threads at once and the GUI never waits. A
preview covers the visible part of the current slice, is checked for Stop between tiles,
takes at most about a tenth of the training time and is left out of the time budget. Until
the U-Net beats it on the held-out strokes, the preview comes from a shallow pixel classifier
fitted on the strokes in a second or two (the first answer); the saved model is always the
U-Net.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.io import to_numpy
from napari_unet.core.normalize import Normalization
from napari_unet.core.prediction.predict import predict
from napari_unet.core.training.dataset import prepare_pairs
from napari_unet.core.training.loop import Trainer, validation_region
from napari_unet.core.training.shallow import ShallowClassifier
from napari_unet.core.training.train import TrainConfig, train_segment

#: Most of the training time that previews may take.
PREVIEW_SHARE = 0.1
#: Preview tiles (pixels per side): Stop is checked between two of them.
PREVIEW_TILE = 256


@dataclass(frozen=True)
class PreviewRequest:
    """What to preview: a region (``index``) of the first training image."""

    image: Any
    axes: str
    index: tuple  # where the region sits in the whole image, and the result in the preview


@dataclass(frozen=True)
class PreviewResult:
    """Classes (or regression output) predicted for a :class:`PreviewRequest`."""

    index: tuple
    data: np.ndarray
    step: int
    source: str = "U-Net"


@dataclass(frozen=True)
class TrainerReady:
    """The trainer of this run, prepared (so the widget can post label updates to it)."""

    trainer: Trainer


class PreviewSlot:
    """A one-place mailbox: the main thread posts the latest request, the worker takes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: PreviewRequest | None = None

    def post(self, request: PreviewRequest) -> None:
        with self._lock:
            self._request = request

    def take(self) -> PreviewRequest | None:
        with self._lock:
            request, self._request = self._request, None
            return request


def _mean(values: Any) -> float | None:
    vals = [v for v in (values or []) if v is not None]
    return float(np.mean(vals)) if vals else None


class _Previewer:
    """Predicts previews for one run: the shallow classifier first, then the U-Net."""

    def __init__(self, normalization: Any, image: Any, axes: str,
                 stop: threading.Event) -> None:
        self.norm, self.image, self.axes, self.stop = normalization, image, axes, stop
        self.stats = normalization.stats(image, axes=axes)
        self.trainer: Trainer | None = None
        self.shallow: ShallowClassifier | None = None
        self.shallow_iou: float | None = None
        self.spent = 0.0
        self.shown = ""
        self.unet_won = False

    def attach(self, trainer: Trainer) -> None:
        """Preview for ``trainer`` from now on (its normalisation, its data, its budget)."""
        self.trainer = trainer
        if trainer.net.normalization != self.norm:  # a starting model brings its own rule
            self.norm = trainer.net.normalization
            self.stats = self.norm.stats(self.image, axes=self.axes)

    def refit(self, data: Any) -> None:
        """(Re)fit the shallow classifier on the training strokes of ``data``."""
        if data.task == "regression" or data.items[0].image.ndim != 3:
            return
        t = time.perf_counter()
        seed = self.trainer.config.seed if self.trainer is not None else 0
        self.shallow = ShallowClassifier(seed=seed).fit(data)
        self.shallow_iou = _mean(self.shallow.held_out_iou(data))
        if self.trainer is not None:
            self.trainer.exclude_time(time.perf_counter() - t)

    def source(self) -> str:
        """Which model a preview shows now: the U-Net once it has beaten the shallow
        classifier on the held-out strokes (or, without held-out strokes, after 30 % of the
        budget); it stays the U-Net from then on."""
        tr = self.trainer
        if self.shallow is None or self.unet_won:
            return "U-Net" if tr is not None else ""
        if tr is None:
            return "shallow"
        unet = _mean(tr.val_iou)
        if self.shallow_iou is None or unet is None:
            seg = tr.segments[-1] if tr.segments else None
            used = seg.used(tr.steps - seg.start_step) if seg else 0.0
            self.unet_won = len(tr.segments) > 1 or used >= 0.3
        else:
            self.unet_won = unet >= self.shallow_iou
        return "U-Net" if self.unet_won else "shallow"

    def allowed(self) -> bool:
        """Whether a preview fits the time share (the first one always does)."""
        if not self.shown or self.trainer is None:
            return True
        seg = self.trainer.segments[-1] if self.trainer.segments else None
        trained = seg.seconds() if seg is not None else 0.0
        return self.spent <= PREVIEW_SHARE * max(trained, 1e-9)

    def predict(self, request: PreviewRequest, step: int) -> PreviewResult | None:
        t = time.perf_counter()
        source = self.source()
        if not source:
            return None
        try:
            data = self._shallow(request) if source == "shallow" else self._unet(request)
        finally:
            dt = time.perf_counter() - t
            self.spent += dt
            if self.trainer is not None:
                self.trainer.exclude_time(dt)
        if data is None:
            return None
        self.shown = source
        label = "U-Net" if source == "U-Net" else "shallow classifier (until the U-Net beats it)"
        return PreviewResult(request.index, data, step, label)

    def _unet(self, request: PreviewRequest) -> np.ndarray | None:
        net = self.trainer.net
        regression = self.trainer.data.task == "regression"
        device = next(net.parameters()).device
        gen = predict(net, request.image, axes=request.axes, device=device,
                      output="probabilities" if regression else "classes",
                      norm_stats=self.stats, tile_shape=PREVIEW_TILE)
        while True:
            if self.stop.is_set():
                gen.close()
                return None
            try:
                next(gen)
            except StopIteration as done:
                result = done.value
                break
        return np.asarray(result[0] if regression else result)

    def _shallow(self, request: PreviewRequest) -> np.ndarray | None:
        axes = request.axes
        block = self.norm.apply(to_numpy(request.image), self.stats, axes=axes)
        block = np.asarray(block, np.float32)
        block = np.moveaxis(block, axes.index("C"), 0) if "C" in axes else block[None]
        spatial, halo = block.shape[1:], self.shallow.halo
        out = np.zeros(spatial, np.uint8)
        for corner in np.ndindex(*(-(-s // PREVIEW_TILE) for s in spatial)):
            if self.stop.is_set():  # checked between tiles, as for the U-Net
                return None
            inner = tuple(slice(c * PREVIEW_TILE, min(s, (c + 1) * PREVIEW_TILE))
                          for c, s in zip(corner, spatial))
            cut = tuple(slice(max(0, a.start - halo), min(s, a.stop + halo))
                        for a, s in zip(inner, spatial))
            classes = self.shallow.predict(block[(slice(None), *cut)])
            keep = tuple(slice(a.start - c.start, a.stop - c.start) for a, c in zip(inner, cut))
            out[inner] = classes[keep] + 1
        return out


def training_job(
    config: TrainConfig,
    pairs: list[tuple[Any, Any]],
    *,
    model,
    device: str,
    stop: threading.Event,
    previews: PreviewSlot | None = None,
    trainer: Trainer | None = None,
    max_steps: int | None = None,
    max_seconds: float | None = None,
) -> Generator[Any, None, Any]:
    """Train one segment (a new run, or ``trainer``'s next), yielding progress and previews.

    ``model`` may be None (a new or shipped starting model, as the core decides). The first
    record is a :class:`TrainerReady`; then the core's records, with :class:`PreviewResult`
    between them when ``previews`` has a request. Previews are normalised with the
    statistics of the whole first training image, as prediction does.
    """
    previewer = None
    if previews is not None:
        norm = model.normalization if model is not None else (
            trainer.net.normalization if trainer is not None
            else Normalization.from_dict(config.normalization))
        previewer = _Previewer(norm, pairs[0][0], config.axes, stop)
    if trainer is None:
        if previewer is not None and config.task != "regression":
            # the first answer: strokes -> shallow classifier -> preview, before the trainer
            # looks for a starting model and builds its network
            previewer.refit(_strokes(config, pairs, previewer.norm))
            request = previews.take()
            if request is not None and not stop.is_set():
                result = previewer.predict(request, 0)
                if result is not None:
                    yield result
        trainer = Trainer(config, pairs, model=model, device=device)
    yield TrainerReady(trainer)
    if previewer is not None:
        previewer.attach(trainer)
    gen = train_segment(trainer, pairs, stop=stop, max_steps=max_steps, max_seconds=max_seconds)
    try:
        while True:
            try:
                record = next(gen)
            except StopIteration as done:
                return done.value
            yield record
            if previewer is None or record.phase not in ("prepare", "train", "labels"):
                continue
            if record.phase in ("prepare", "labels"):
                previewer.refit(trainer.data)
            request = previews.take()
            if request is not None and previewer.allowed() and not stop.is_set():
                result = previewer.predict(request, record.step)
                if result is not None:
                    yield result
    finally:
        gen.close()


def _strokes(config: TrainConfig, pairs: list[tuple[Any, Any]], norm: Any) -> Any:
    """The strokes as training data, prepared as the trainer will (for the first answer)."""
    patch = config.resolved_patch_shape
    return prepare_pairs(pairs, axes=config.axes, dims=config.dims, task=config.task,
                         normalization=norm, n_classes=config.n_classes,
                         val_fraction=config.val_fraction, region=validation_region(config),
                         context=patch, seed=config.seed)
