"""The precision prediction computes in: float32, or autocast float16 (CUDA, MPS) or bfloat16
(CPUs), and how many bytes an activation takes in the memory plan.

Without a choice (``amp=None``), prediction autocasts on CUDA and on CPUs that compute bfloat16
natively (:func:`napari_unet.core.devices.cpu_has_native_bf16`), float32 elsewhere.
"""

from __future__ import annotations

import torch

from napari_unet.core.devices import cpu_has_native_bf16, resolve_device

__all__ = ["PRECISION_NAMES", "autocast_dtype", "default_amp", "element_bytes", "precision_name"]

#: The precision in words, by autocast dtype (None: float32).
PRECISION_NAMES = {None: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def autocast_dtype(device: torch.device, amp: bool | None) -> torch.dtype | None:
    """The autocast dtype of prediction on ``device``; None: plain float32.

    ``amp`` None: :func:`default_amp`. CPUs get bfloat16 (float16 on CPUs is emulated and
    slow; bfloat16 keeps float32's range); every other device (CUDA, MPS) float16.
    """
    if not (default_amp(device) if amp is None else amp):
        return None
    return torch.bfloat16 if device.type == "cpu" else torch.float16


def default_amp(device: torch.device) -> bool:
    """Whether prediction autocasts when not told: on CUDA, and on CPUs that compute bfloat16
    natively (there it was 1.4-2.1x as fast at the same IoU, tiled == untiled exactly:
    ``benchmarks/bench_predict_precision.py``); float32 elsewhere."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def element_bytes(dtype: torch.dtype | None) -> float:
    """Bytes per activation element in the memory plan
    (:func:`~napari_unet.core.prediction.network.activation_bytes_per_voxel`).

    float32 4, float16 2. bfloat16 (CPUs) 2.5, not 2: its peaks measured 0.57-0.63 of
    float32's (oneDNN, channels-last, depth-4 2D start models on 1136 px tiles and a depth-3 3D
    model on 96x208x208), i.e. 0.87-0.99 of a 2-byte plan; 2.5 keeps the plan's margin
    (0.69-0.79 of the plan, as float32's 0.72-0.78).
    """
    return {None: 4.0, torch.bfloat16: 2.5}.get(dtype, 2.0)


def precision_name(device: str | torch.device = "auto", amp: bool | None = None) -> str:
    """The precision prediction computes in, in words: ``"float32"``, ``"float16"`` or
    ``"bfloat16"`` (``amp`` as :func:`~napari_unet.core.prediction.predict.predict` takes it;
    None: :func:`default_amp`)."""
    dev = resolve_device(device)
    return PRECISION_NAMES[autocast_dtype(dev, amp)]
