"""How fast and how big: the learning-rate schedule and the batch size from the memory at hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from napari_unet.core.devices import empty_cache, is_out_of_memory

__all__ = ["auto_batch_size", "lr_factor"]


def lr_factor(
    progress: float, step: int, *, warmup_steps: int, schedule: str, min_factor: float = 0.05
) -> float:
    """Multiplier of the base learning rate.

    Linear warm-up over the first ``warmup_steps`` steps, then ``"cosine"`` decay to
    ``min_factor`` as ``progress`` (share of the budget used, in [0, 1]) goes to 1, or
    ``"constant"``.
    """
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if schedule == "constant":
        return warm
    if schedule != "cosine":
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    p = min(1.0, max(0.0, progress))
    return warm * (min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * p)))


def auto_batch_size(
    model: torch.nn.Module, patch_shape: Sequence[int], device: torch.device, *, cap: int = 32
) -> int:
    """A batch size from the memory at hand.

    CUDA: the free memory divided by the memory one sample takes in a forward and backward
    pass (measured with a trial pass of 2 samples), with a safety margin, capped at ``cap``.
    CPU and others: about 4 x 128 x 128 (2D) or 2 x 16 x 96 x 96 (3D) pixels per batch,
    enough to keep the cores busy while keeping steps short enough for interactivity.
    """
    n_pix = math.prod(patch_shape)
    if device.type != "cuda":
        budget = 4 * 128 * 128 if len(patch_shape) == 2 else 2 * 16 * 96 * 96
        return int(max(1, min(cap, round(budget / n_pix))))
    free, _ = torch.cuda.mem_get_info(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    try:
        x = torch.zeros((2, model.in_channels, *patch_shape), device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x)
        out.float().mean().backward()
        per_sample = (torch.cuda.max_memory_allocated(device) - base) / 2
    except RuntimeError as err:  # even 2 samples do not fit
        if is_out_of_memory(err):
            return 1
        raise
    finally:
        model.zero_grad(set_to_none=True)
        empty_cache(device)
    n = int(0.6 * free / max(per_sample, 1))
    return int(max(1, min(cap, n)))
