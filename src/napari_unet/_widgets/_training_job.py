"""The generator the Train widget runs in its worker: core training plus live previews.

Previews are predicted in the worker thread between two training steps, with the weights of
that moment, so the model is never read by two threads at once and the GUI never waits.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.prediction.predict import predict_image
from napari_unet.core.training.train import TrainConfig, train


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


def _preview(model, request: PreviewRequest, stats, step: int) -> PreviewResult:
    device = next(model.parameters()).device
    regression = model.meta.get("task") == "regression"
    result = predict_image(
        model, request.image, axes=request.axes, device=device,
        output="probabilities" if regression else "classes", norm_stats=stats,
    )
    if regression:
        result = result[0]
    return PreviewResult(request.index, np.asarray(result), step)


def training_job(
    config: TrainConfig,
    pairs: list[tuple[Any, Any]],
    *,
    model,
    device: str,
    stop: threading.Event,
    previews: PreviewSlot | None = None,
) -> Generator[Any, None, Any]:
    """Train (see :func:`napari_unet.core.training.train.train`), yielding progress and previews.

    ``model`` may be None (a new or shipped starting model, as the core decides). The network
    is trained in place, which is what lets previews use the live weights. Previews are
    normalised with the statistics of the whole first training image, as prediction does.
    """
    live: list = []
    gen = train(config, pairs, model=model, device=device, stop=stop, on_model=live.append)
    stats = None
    try:
        while True:
            try:
                record = next(gen)
            except StopIteration as done:
                return done.value
            yield record
            request = previews.take() if previews is not None else None
            if request is not None and live and getattr(record, "phase", "") == "train":
                net = live[0]
                if stats is None:
                    stats = net.normalization.stats(pairs[0][0], axes=config.axes)
                yield _preview(net, request, stats, record.step)
    finally:
        gen.close()
