"""Small U-Nets for tests: random weights made sensitive so that tiling mistakes show."""

from __future__ import annotations

import torch

from napari_unet.core.model import UNet


def sensitive_unet(seed: int = 0, *, head_gain: float = 2.0, **kwargs) -> UNet:
    """A tiny U-Net in eval mode with random weights and random batch-norm statistics, whose
    head is rescaled so that each logit has mean 0 and standard deviation ``head_gain`` on
    images in [0, 1]: probabilities then vary across the image and react to every pixel of the
    receptive field (plain random nets give nearly constant outputs that hide tiling errors)."""
    torch.manual_seed(seed)
    kwargs.setdefault("depth", 2)
    kwargs.setdefault("base_channels", 4)
    model = UNet(**kwargs)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 1.5)
        model.eval()
        shape = model.valid_input_shape((32,) * model.dims)
        logits = model(torch.rand(1, model.in_channels, *shape))
        dims = [0, *range(2, logits.ndim)]
        mean, std = logits.mean(dims), logits.std(dims).clamp_min(1e-6)
        scale = head_gain / std
        view = (-1,) + (1,) * (model.head.weight.ndim - 1)
        model.head.weight.mul_(scale.view(view))
        model.head.bias.sub_(mean).mul_(scale)
    return model
