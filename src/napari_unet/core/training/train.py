"""Training: ``train(config, pairs)`` is a generator of progress records returning the model.

>>> gen = train(TrainConfig(max_seconds=60), [(image, painting)])      # doctest: +SKIP
>>> for p in gen: print(p.step, p.loss, p.val_iou)                     # doctest: +SKIP

The value of the generator (``StopIteration.value``, or ``yield from``) is the trained
:class:`~.model.UNet`. Training stops at the budget (steps or seconds), within one step of
``stop.set()``, or at once when the generator is closed (then nothing is returned).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import torch

from napari_unet.core.devices import empty_cache, resolve_device
from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.config import TrainConfig, TrainProgress
from napari_unet.core.training.dataset import TrainingSet, prepare_pairs
from napari_unet.core.training.losses import (
    class_frequency_weights,
    regression_loss,
    segmentation_loss,
)
from napari_unet.core.training.sampling import PatchSampler, validation_tiles
from napari_unet.core.training.schedule import auto_batch_size
from napari_unet.core.training.targets import INSTANCE_CLASS_NAMES

__all__ = ["TrainConfig", "TrainProgress", "train"]

#: Most held-out blocks evaluated per validation (dense masks give hundreds).
_MAX_VAL_TILES = 32


def _model_for(config: TrainConfig, model: UNet | None, data: TrainingSet, in_ch: int) -> UNet:
    k = data.n_classes
    if model is None:
        return UNet(
            dims=config.dims,
            in_channels=in_ch,
            out_channels=k,
            depth=config.depth,
            base_channels=config.base_channels,
            padding=config.padding,
            norm=config.norm,
            upsampling=config.upsampling,
            inplane_levels=config.inplane_levels,
            normalization=Normalization.from_dict(config.normalization),
        )
    if model.dims != config.dims:
        raise ValueError(
            f"model is {model.dims}D but the training config asks for {config.dims}D "
            f"(axes {config.axes!r}); use a {config.dims}D model or other axes"
        )
    if model.in_channels != in_ch:
        raise ValueError(
            f"model expects {model.in_channels} image channel(s), the training images have {in_ch}"
        )
    old_task = model.meta.get("task")
    if old_task and old_task != config.task and "regression" in (old_task, config.task):
        raise ValueError(
            f"model was trained for task {old_task!r}; it cannot continue as {config.task!r}"
        )
    if model.out_channels != k:  # fine-tune for other classes: a fresh last layer
        if model.out_channels > k and config.task == "semantic":
            data.n_classes = k = model.out_channels
            data.class_counts = np.pad(data.class_counts, (0, k - len(data.class_counts)))
        else:
            conv = type(model.head)
            model.head = conv(model.head.in_channels, k, 1)
            model.out_channels = k
    return model


def _class_names(config: TrainConfig, model: UNet | None, k: int) -> list[str]:
    if config.task == "instances":
        return list(INSTANCE_CLASS_NAMES)
    if config.task == "regression":
        return ["value"]
    names = list(config.class_names or [])
    if not names and model is not None:
        names = list(model.meta.get("class_names") or [])
    return (names + [f"class {i + 1}" for i in range(len(names), k)])[:k]


def _patch_shape(config: TrainConfig, model: UNet, data: TrainingSet) -> tuple[int, ...]:
    want = config.resolved_patch_shape
    extent = np.max([it.spatial_shape for it in data.items], axis=0)
    grid = model.pool_product
    capped = tuple(int(min(w, -(-int(e) // g) * g)) for w, e, g in zip(want, extent, grid))
    return model.valid_input_shape(capped)


def _loss_fn(config: TrainConfig, data: TrainingSet):
    if config.task == "regression":
        kind = config.regression_loss
        return lambda out, t, w: regression_loss(out, t, kind=kind)
    cw = config.class_weights
    if cw == "balanced":
        cw = class_frequency_weights(data.class_counts)
    elif isinstance(cw, str):
        raise ValueError(f"class_weights must be a list, 'balanced' or None, got {cw!r}")
    if cw is not None and len(cw) != data.n_classes:
        raise ValueError(f"class_weights has {len(cw)} values for {data.n_classes} classes")
    dice = config.dice_weight
    return lambda out, t, w: segmentation_loss(
        out, t, dice_weight=dice, class_weights=cw, pixel_weights=w
    )


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
        numpy or dask arrays (see :func:`~.dataset.prepare_pairs`).
    model : UNet or None
        Continue or fine-tune this model (its architecture and normalisation are kept; its
        last layer is replaced when the number of classes differs). It is trained in place.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    stop : object with ``is_set()`` or None
        E.g. a ``threading.Event``; training ends within one step after it is set and the
        model trained so far is returned.
    on_model : callable or None
        Called once, in the generator's thread, with the network about to be trained (the
        given model, a starting model or a new one). It is trained in place, so a caller can
        preview with its current weights between two records, e.g. the napari widget.

    Yields
    ------
    TrainProgress
        One record before training (``phase="prepare"``), one per step, one per validation,
        and a last one (``phase="done"``).

    Returns
    -------
    UNet
        On the CPU, in eval mode, with the last (or, with ``keep="best"``, the lowest
        validation loss) weights and ``meta`` filled: ``task``, ``class_names``, ``axes``,
        ``training`` (config, steps, time, batch, start) and ``validation`` (loss and
        per-class IoU). When best and last differ, both are also at hand as
        ``model.best_state_dict`` and ``model.last_state_dict``.

    Notes
    -----
    Without ``model`` and with ``config.start == "auto"`` a shipped starting model is used
    when the data look alike and the strokes agree with it (:mod:`~.startmodel`), and
    fine-tuned at ``config.start_lr_factor`` times the learning rate.

    Raises
    ------
    ValueError
        For bad input (see :func:`~.data.check_pair`) or a model that does not fit the data.
    """
    from napari_unet.core.training.loop import run

    t0 = time.perf_counter()
    dev = resolve_device(device)
    norm = (
        model.normalization if model is not None else Normalization.from_dict(config.normalization)
    )
    patch = config.resolved_patch_shape
    region = config.val_region or (
        [max(16, p // 2) for p in patch]
        if config.dims == 2
        else [patch[0]] + [max(16, p // 2) for p in patch[1:]]
    )

    def prepare(normalization: Normalization) -> TrainingSet:
        return prepare_pairs(
            pairs, axes=config.axes, dims=config.dims, task=config.task,
            normalization=normalization, n_classes=config.n_classes,
            val_fraction=config.val_fraction, region=region, context=patch,
            border_weight=config.border_weight, border_sigma=config.border_sigma,
            seed=config.seed,
        )

    data = prepare(norm)
    start_note = "given model" if model is not None else "random weights"
    if model is None and config.start != "none":
        from napari_unet.core.training.start_models import choose_start

        names = None if config.start == "auto" else [config.start]
        model, why = choose_start(
            config.task, config.dims, config.axes, list(pairs), config.n_classes, names=names
        )
        start_note = f"starting model {why}" if model is not None else f"random weights ({why})"
        if model is not None and model.normalization != norm:
            norm = model.normalization
            data = prepare(norm)
    channels = {it.image.shape[0] for it in data.items}
    if len(channels) != 1:
        raise ValueError(f"the training images have different channel counts: {sorted(channels)}")
    torch.manual_seed(config.seed)
    net = _model_for(config, model, data, channels.pop())
    net.normalization = norm
    patch = _patch_shape(config, net, data)
    net.to(dev)
    if on_model is not None:
        on_model(net)
    bs = config.batch_size or auto_batch_size(net, patch, dev)
    loss_fn = _loss_fn(config, data)
    aug = AugmentConfig.from_dict(config.augment)
    smooth = aug.scale > 0 or (aug.elastic > 0 and aug.elastic_p > 0)
    margin = tuple(p // 8 if smooth else 0 for p in patch)
    if config.dims == 3:
        margin = (0, *margin[1:])
    in_shape = tuple(p + 2 * m for p, m in zip(patch, margin))
    sampler = PatchSampler(data, in_shape, balance=config.balance, seed=config.seed)
    tiles = validation_tiles(data, context=tuple(max(8, p // 4) for p in patch))
    if len(tiles) > _MAX_VAL_TILES:  # dense masks: a spread-out sample keeps validation cheap
        keep = np.linspace(0, len(tiles) - 1, _MAX_VAL_TILES).round().astype(int)
        tiles = [tiles[i] for i in keep]
    names = _class_names(config, model, data.n_classes)
    yield TrainProgress(
        0,
        config.max_steps or 0,
        phase="prepare",
        elapsed=time.perf_counter() - t0,
        batch_size=bs,
        message=(
            f"{len(data.items)} sample(s), {data.n_train_labelled} labelled pixels for "
            f"training, {data.n_val_labelled} held out; patches {patch}, batch {bs}"
        ),
    )
    state = {
        "config": config,
        "data": data,
        "model": net,
        "device": dev,
        "patch": patch,
        "batch_size": bs,
        "loss_fn": loss_fn,
        "augment": aug,
        "sampler": sampler,
        "tiles": tiles,
        "t0": t0,
        "stop": stop,
        "names": names,
        "start_steps": int((net.meta.get("training") or {}).get("steps_total", 0)),
        "start": start_note,
        "lr_scale": config.start_lr_factor if start_note.startswith("starting model") else 1.0,
    }
    tune = config.task == "instances" and config.tune_instances
    if tune and config.max_seconds:  # keep a tenth of the time budget for the tuning
        state["config"] = dataclasses.replace(config, max_seconds=0.9 * config.max_seconds)
    try:
        steps = run(state)
        while True:
            try:
                record = next(steps)
            except StopIteration as end:
                result = end.value
                break
            if tune and record.phase == "done":  # the model is trained, in eval mode
                deadline = time.perf_counter() + _TUNE_SECONDS
                if config.max_seconds:
                    deadline = min(deadline, t0 + config.max_seconds)
                yield dataclasses.replace(record, phase="tune",
                                          message="fitting the instance post-processing")
                _tune_instances(net, pairs, config, dev, deadline)
                record = dataclasses.replace(record, elapsed=time.perf_counter() - t0)
            yield record
    finally:
        empty_cache(dev)
    return result


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
