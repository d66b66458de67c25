"""The network a training run trains: new, given or grown, and the shapes it trains on."""

from __future__ import annotations

import numpy as np
import torch

from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.dataset import TrainingSet
from napari_unet.core.training.targets import INSTANCE_CLASS_NAMES

__all__ = ["class_names", "grow_head", "inflate_to_3d", "model_for", "patch_shape"]


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


def inflate_to_3d(model: UNet) -> UNet:
    """A 3D copy of a 2D ``model`` that computes exactly what it does, slice by slice.

    Every pooling of the copy is in-plane (``inplane_levels = depth - 1``), each 3 x 3
    convolution becomes 3 x 3 x 3 with the 2D kernel in its middle plane and zeros above and
    below, and the 2 x 2 up-convolutions and the 1 x 1 head gain a depth of 1; normalisation
    layers keep their statistics. The copy therefore starts as the 2D model applied to each
    slice of a volume, and fine-tuning may then learn from the neighbouring slices (the zero
    planes train like any weight). This is how a 2D starting model gives a 3D training a
    head start (:func:`napari_unet.core.training.start_models.choose_start`).

    Parameters
    ----------
    model : UNet
        A 2D U-Net.

    Returns
    -------
    UNet
        A new 3D U-Net on the same device, in the same train/eval mode; ``model`` is not
        changed. Its normalisation rule is the 2D model's (statistics then come from the
        whole volume rather than one slice).
    """
    if model.dims != 2:
        raise ValueError(f"inflate_to_3d: expected a 2D model, found a {model.dims}D one")
    cfg = dict(model.config)
    cfg.update(dims=3, inplane_levels=model.depth - 1)
    new = UNet.from_config(cfg)
    flat = model.state_dict()
    state = {}
    for name, target in new.state_dict().items():
        w = flat[name]
        if target.dim() == w.dim() + 1:  # a kernel: gain a depth axis
            if target.shape[2] == 1:
                w = w.unsqueeze(2)
            else:
                mid = target.shape[2] // 2
                full = torch.zeros(target.shape, dtype=w.dtype, device=w.device)
                full[:, :, mid] = w
                w = full
        state[name] = w.clone()
    new.load_state_dict(state)
    new.card = model.card
    return new.to(next(model.parameters()).device).train(model.training)
