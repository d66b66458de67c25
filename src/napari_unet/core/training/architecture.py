"""The network a training run trains: new, given or grown, and the shapes it trains on."""

from __future__ import annotations

import numpy as np
import torch

from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.dataset import TrainingSet
from napari_unet.core.training.targets import INSTANCE_CLASS_NAMES

__all__ = ["class_names", "grow_head", "model_for", "patch_shape"]


def model_for(config: TrainConfig, model: UNet | None, data: TrainingSet, in_ch: int) -> UNet:
    """The network to train: a new one from ``config``, or ``model`` fitted to the data.

    A given model keeps its architecture and normalisation; its last layer is replaced when
    the number of classes differs (a semantic model with more classes than painted keeps
    them all).
    """
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
            f"model: expected a {config.dims}D model for axes {config.axes!r}, found a "
            f"{model.dims}D one; use a {config.dims}D model or other axes"
        )
    if model.in_channels != in_ch:
        raise ValueError(
            f"training images: expected {model.in_channels} channel(s) as the model has, "
            f"found {in_ch}"
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


def class_names(config: TrainConfig, model: UNet | None, k: int,
                known: list[str] | None = None) -> list[str]:
    """Names of the ``k`` outputs: fixed for instances and regression, else the config's,
    then ``known`` ones or the model's, then ``"class N"``."""
    if config.task == "instances":
        return list(INSTANCE_CLASS_NAMES)
    if config.task == "regression":
        return ["value"]
    names = list(config.class_names or known or [])
    if not names and model is not None:
        names = list(model.meta.get("class_names") or [])
    return (names + [f"class {i + 1}" for i in range(len(names), k)])[:k]


def patch_shape(config: TrainConfig, model: UNet, data: TrainingSet) -> tuple[int, ...]:
    """The config's patch shape, capped by the largest sample and made valid for ``model``."""
    want = config.resolved_patch_shape
    extent = np.max([it.spatial_shape for it in data.items], axis=0)
    grid = model.pool_product
    capped = tuple(int(min(w, -(-int(e) // g) * g)) for w, e, g in zip(want, extent, grid))
    return model.valid_input_shape(capped)


def grow_head(model: UNet, k: int) -> None:
    """Give ``model`` ``k`` outputs, keeping the existing ones' weights (a class painted for
    the first time during training); the new outputs start at zero weight and a bias a
    little below the others' mean, so they take over only where they are learnt."""
    head = model.head
    old = head.out_channels
    if k <= old:
        return
    new = type(head)(head.in_channels, k, 1).to(head.weight.device)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:old] = head.weight
        if head.bias is not None:
            new.bias[:old] = head.bias
            new.bias[old:] = head.bias.mean() - 1.0
    model.head = new
    model.out_channels = k
