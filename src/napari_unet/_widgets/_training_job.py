"""The generator the Train widget runs in its worker: core training plus live previews.

Previews are predicted in the worker thread between two training steps, with the weights of
that moment, so the model is never read by two threads at once and the GUI never waits. A
preview covers the visible part of the current slice, is checked for Stop between tiles,
takes at most about a tenth of the training time and is left out of the time budget. Until
the U-Net matches it on the held-out strokes (within ``STROKE_TIE``), the preview comes from
a shallow pixel classifier fitted on the strokes in a second or two (the first answer); the
saved model is always the U-Net.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.normalize import Normalization
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.preview import Previewer, first_answer_data
from napari_unet.core.training.train import TrainConfig, train_segment


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


def own_copy(source: Any) -> Any:
    """The worker's own copy of a layer's data: numpy copied, a list of channel layers' data
    stacked (channel first), lazy (dask, zarr) data passed as it is (read-only)."""
    if isinstance(source, list | tuple):
        if all(isinstance(a, np.ndarray) for a in source):
            return np.stack(source)
        import dask.array as da

        return da.stack([a if isinstance(a, da.Array) else da.from_array(a) for a in source])
    return source.copy() if isinstance(source, np.ndarray) else source


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

    ``pairs`` hold the layers' data as they are (or, for a channel group, a list of its
    layers' data): the copies are taken here, in the worker (:func:`own_copy`), so clicking
    Train never copies a big image or painting on the main thread. Strokes painted while the
    copy is taken reach the trainer as label updates anyway. With ``trainer`` (Continue),
    the whole painting replaces the trainer's, so strokes painted while stopped count.

    ``model`` may be None (a new or shipped starting model, as the core decides). The first
    record is a :class:`TrainerReady`; then the core's records, with :class:`PreviewResult`
    between them when ``previews`` has a request. Previews are normalised with the
    statistics of the whole first training image, as prediction does.
    """
    pairs = [(own_copy(image), own_copy(target)) for image, target in pairs]
    if trainer is not None:  # strokes painted while stopped count from the first step
        for index, (_, target) in enumerate(pairs):
            trainer.update_labels(index, None, target)
    previewer = None
    if previews is not None:
        norm = model.normalization if model is not None else (
            trainer.net.normalization if trainer is not None
            else Normalization.from_dict(config.normalization))
        previewer = Previewer(norm, pairs[0][0], config.axes, stop, seed=config.seed)
    if trainer is None:
        if previewer is not None and config.task != "regression":
            # the first answer: strokes -> shallow classifier -> preview, before the trainer
            # looks for a starting model and builds its network
            previewer.refit(first_answer_data(config, pairs, previewer.norm))
            request = previews.take()
            if request is not None and not stop.is_set():
                result = _preview(previewer, request, 0)
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
                return _with_shallow_score(done.value, previewer)
            yield record
            if previewer is None or record.phase not in ("prepare", "train", "labels"):
                continue
            if record.phase in ("prepare", "labels"):
                previewer.refit(trainer.data)
            request = previews.take()
            if request is not None and previewer.allowed() and not stop.is_set():
                result = _preview(previewer, request, record.step)
                if result is not None:
                    yield result
    finally:
        gen.close()


def _with_shallow_score(model: Any, previewer: Previewer | None) -> Any:
    """The model, with the preview's shallow classifier's held-out IoU in its training
    record (``training_warnings`` compares the two)."""
    if model is not None and previewer is not None and previewer.shallow_iou is not None:
        model.meta.setdefault("training", {})["shallow_iou"] = round(previewer.shallow_iou, 4)
    return model


def _preview(previewer: Previewer, request: PreviewRequest, step: int) -> PreviewResult | None:
    shown = previewer.predict(request.image, request.axes)
    if shown is None:
        return None
    data, source = shown
    label = "U-Net" if source == "U-Net" else "shallow classifier (until the U-Net beats it)"
    return PreviewResult(request.index, data, step, label)
