"""Training: ``train(config, pairs)`` is a generator of progress records returning the model.

>>> gen = train(TrainConfig(max_seconds=60), [(image, painting)])      # doctest: +SKIP
>>> for p in gen: print(p.step, p.loss, p.val_iou)                     # doctest: +SKIP

The value of the generator (``StopIteration.value``, or ``yield from``, or
:func:`napari_unet.core.progress.run`) is the trained :class:`~napari_unet.core.model.UNet`.
Training stops at the budget (steps or seconds), within one step of ``stop.set()``, or at
once when the generator is closed (then nothing is returned).

For a run that goes on after it stops (Stop, paint more, Continue) or that takes new labels
while it trains, make a :class:`~napari_unet.core.training.loop.Trainer` and call
:func:`train_segment` for each part.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import torch

from napari_unet.core.arguments import (
    check_callback,
    check_model,
    check_pairs,
    check_stop,
)
from napari_unet.core.model import UNet
from napari_unet.core.progress import run
from napari_unet.core.training.config import TrainConfig, TrainProgress
from napari_unet.core.training.loop import Trainer

__all__ = ["TrainConfig", "TrainProgress", "Trainer", "train", "train_segment"]


def train(
    config: TrainConfig,
    pairs: Sequence[tuple[Any, Any]],
    *,
    model: UNet | None = None,
    device: str | torch.device = "auto",
    stop: Any = None,
    on_model: Callable[[UNet], None] | None = None,
) -> Generator[TrainProgress, None, UNet]:
    """Train a U-Net on ``(image, target)`` pairs; yield progress; return the model.

    Parameters
    ----------
    config : TrainConfig
    pairs : sequence of (image, target)
        numpy or dask arrays (see :func:`~napari_unet.core.training.dataset.prepare_pairs`).
    model : UNet or None
        Continue or fine-tune this model (its architecture and normalisation are kept; its
        last layer is replaced when the number of classes differs), at
        ``config.start_lr_factor`` times the learning rate. It is trained in place.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    stop : object with ``is_set()`` or None
        E.g. a ``threading.Event``; training ends within one step after it is set and the
        model trained so far is returned.
    on_model : callable or None
        Called once, in the generator's thread, with the network about to be trained. It is
        trained in place, so a caller can preview with its current weights between two
        records, e.g. the napari widget.

    Yields
    ------
    TrainProgress
        One record before training (``phase="prepare"``), one per step, one per validation,
        one per batch of label updates (``"labels"``), and a last one (``phase="done"``).

    Returns
    -------
    UNet
        A CPU copy in eval mode with the last (or, with ``keep="best"``, the lowest
        validation loss) weights and ``meta`` filled: ``task``, ``class_names``, ``axes``,
        ``training`` (config, steps, time, batch, start) and ``validation`` (loss and
        per-class IoU).

    Notes
    -----
    Without ``model`` and with ``config.start == "auto"`` a shipped starting model is used
    when the data look alike and the strokes agree with it
    (:mod:`~napari_unet.core.training.start_models`).

    Raises
    ------
    ValueError
        For bad input (see :func:`~napari_unet.core.training.targets.check_pair`) or a model
        that does not fit the data.
    """
    pairs = check_pairs(pairs)
    check_model(model, optional=True), check_stop(stop), check_callback(on_model, what="on_model")
    trainer = Trainer(config, pairs, model=model, device=device)
    if on_model is not None:
        on_model(trainer.net)
    return (yield from train_segment(trainer, pairs, stop=stop))


def train_segment(
    trainer: Trainer,
    pairs: Sequence[tuple[Any, Any]] | None = None,
    *,
    stop: Any = None,
    max_steps: int | None = None,
    max_seconds: float | None = None,
) -> Generator[TrainProgress, None, UNet]:
    """Train one segment of ``trainer`` (the config's budget by default); return the model.

    Instance models then fit their object separation to the masks of ``pairs`` (up to a
    tenth of a time budget is kept for it).
    """
    cfg = trainer.config
    if max_steps is None and max_seconds is None:
        max_steps, max_seconds = cfg.max_steps, cfg.max_seconds
    tune = cfg.task == "instances" and cfg.tune_instances and pairs is not None
    budget = 0.9 * max_seconds if (tune and max_seconds) else max_seconds
    gen = trainer.run(max_steps=max_steps, max_seconds=budget, stop=stop)
    while True:
        try:
            record = next(gen)
        except StopIteration as end:
            return end.value
        if tune and record.phase == "done":  # the model is trained, in eval mode
            t0 = trainer.segments[-1].t0  # when this segment's time budget started
            deadline = time.perf_counter() + _TUNE_SECONDS
            if max_seconds:
                deadline = min(deadline, t0 + max_seconds)
            yield dataclasses.replace(record, phase="tune",
                                      message="fitting the instance post-processing")
            model = run(gen)  # the "done" record was the last: this returns the model
            _tune_instances(model, pairs, cfg, trainer.device, deadline)
            yield dataclasses.replace(record, elapsed=time.perf_counter() - t0)
            return model
        yield record


#: Most labelled pixels (voxels) predicted for fitting the instance post-processing, and the
#: most seconds it may take (the best options found by then are kept).
_TUNE_PIXELS = 2_000_000
_TUNE_SECONDS = 30.0


def _tune_instances(model: UNet, pairs: Sequence[tuple[Any, Any]], config: TrainConfig,
                    device: torch.device, deadline: float) -> None:
    """Fit the instance options to (a part of) the training masks; store them in the model."""
    from napari_unet.core.objects.tuning import fitted_options_meta, tune_instance_options
    from napari_unet.core.prediction.predict import predict_image

    probs, masks, total = [], [], 0
    for image, mask in pairs:
        if total >= _TUNE_PIXELS:
            break
        mask = np.asarray(mask)
        if mask.ndim != model.dims or not (mask > 0).any():
            continue  # time series and partial paintings: keep the defaults for those
        probs.append(predict_image(model, np.asarray(image), axes=config.axes, device=device))
        masks.append(mask.astype(np.int64))
        total += mask.size
    if not probs:
        return
    options, f1, default_f1 = tune_instance_options(probs, masks, deadline=deadline)
    model.meta["instance_options"] = fitted_options_meta(
        options, pixels=total, f1=f1, default_f1=default_f1
    )
