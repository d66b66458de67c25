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

from ..core.data import check_classes
from ..core.model import UNet
from ..core.normalize import Normalization
from ..core.predict import predict_image
from ..core.train import TrainConfig, train


@dataclass(frozen=True)
class PreviewRequest:
    """What to preview: a region of an image, normalised with the whole image's statistics."""

    image: Any
    axes: str
    index: tuple  # where the result goes in the preview layer
    stats: Any


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


def _preview(model, request: PreviewRequest, step: int) -> PreviewResult:
    device = next(model.parameters()).device
    regression = model.meta.get("task") == "regression"
    result = predict_image(
        model, request.image, axes=request.axes, device=device,
        output="probabilities" if regression else "classes", norm_stats=request.stats,
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
    """Train (see :func:`napari_unet.core.train.train`), yielding progress and previews.

    ``model`` is trained in place, which is what lets previews use the live weights.
    """
    gen = train(config, pairs, model=model, device=device, stop=stop)
    step = 0
    try:
        while True:
            try:
                record = next(gen)
            except StopIteration as done:
                return done.value
            step = record.step
            yield record
            request = previews.take() if previews is not None else None
            if request is not None and getattr(record, "phase", "") == "train":
                yield _preview(model, request, step)
    finally:
        gen.close()


def new_model(config: TrainConfig, pairs) -> UNet:
    """A fresh U-Net sized for ``pairs`` (so the live preview can follow its weights)."""
    task = config.task
    in_channels = 1
    if "C" in config.axes:
        in_channels = int(np.shape(pairs[0][0])[config.axes.index("C")])
    if task == "instances":
        out = 3
    elif task == "regression":
        target = pairs[0][1]
        out = int(np.shape(target)[config.axes.index("C")]) if "C" in config.axes and \
            np.ndim(target) == np.ndim(pairs[0][0]) else 1
    else:  # paint values 1..K are class indices 0..K-1; 0 (not painted) is ignored (-1)
        out = check_classes([np.asarray(t).astype(np.int64) - 1 for _, t in pairs],
                            task=task)
        out = max(out, config.n_classes or 0)
    return UNet(
        dims=config.dims, in_channels=in_channels, out_channels=out, depth=config.depth,
        base_channels=config.base_channels, padding=config.padding, norm=config.norm,
        upsampling=config.upsampling, inplane_levels=config.inplane_levels,
        normalization=Normalization.from_dict(config.normalization),
    )
