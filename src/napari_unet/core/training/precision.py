"""How a training step computes: autocast precision and memory layout, chosen per machine.

On CUDA: bfloat16 autocast where the GPU has it, else float16 with a gradient scaler. On
CPUs: channels-last always (measured 1.24x steps/s in 2D, 1.28x in 3D on this project's CPU),
and bfloat16 autocast only where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX) AND
a short trial on the run's own batch shape says it is faster: emulated bfloat16 on other
laptops' CPUs is slower than float32. The loss and the optimizer stay in float32 (the loss is
computed on ``logits.float()``, the weights stay float32 under autocast).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch

from napari_unet.core.devices import cpu_has_native_bf16, describe_device
from napari_unet.core.prediction.network import channels_last_format

__all__ = ["StepPrecision", "choose_precision", "cpu_has_native_bf16"]

#: A trial keeps bfloat16 only when it is at least this much faster than float32.
MIN_GAIN = 1.1
_TRIALS: dict[tuple, bool] = {}


@dataclass(frozen=True)
class StepPrecision:
    """The precision and layout of the training steps of one run.

    Attributes
    ----------
    dtype : torch.dtype or None
        The autocast dtype, or None for plain float32.
    channels_last : bool
        Whether weights and inputs are channels-last.
    scaler : object or None
        A ``torch.amp.GradScaler`` for float16 on CUDA.
    words : str
        For people, e.g. ``"CPU, 2 threads, bfloat16"``.
    """

    dtype: torch.dtype | None
    channels_last: bool
    scaler: Any = None
    words: str = ""

    @property
    def name(self) -> str:
        """``"bfloat16"``, ``"float16"`` or ``"float32"``."""
        return {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(self.dtype, "float32")


def _step_seconds(net: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype | None,
                  repeats: int = 3) -> float:
    """Median seconds of a forward and backward pass (after one warm-up pass)."""
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        with torch.autocast(x.device.type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            out = net(x)
        out.float().mean().backward()
        net.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def _bf16_is_faster(net: torch.nn.Module, shape: tuple[int, ...]) -> bool:
    key = (type(net).__name__, getattr(net, "dims", 0), getattr(net, "depth", 0),
           getattr(net, "base_channels", 0), shape)
    if key not in _TRIALS:
        trial = copy.deepcopy(net).train()
        trial.to(memory_format=channels_last_format(trial.dims))
        x = torch.randn(shape).contiguous(memory_format=channels_last_format(trial.dims))
        fp32 = _step_seconds(trial, x, None)
        bf16 = _step_seconds(trial, x, torch.bfloat16)
        _TRIALS[key] = fp32 >= MIN_GAIN * bf16
    return _TRIALS[key]


def choose_precision(net: torch.nn.Module, device: torch.device, batch_shape: tuple[int, ...],
                     *, enabled: bool = True) -> StepPrecision:
    """The precision and layout for training ``net`` on ``device`` with ``batch_shape`` inputs.

    ``enabled`` False (``TrainConfig.amp``) keeps float32 everywhere (channels-last still
    applies where it is faster). The CPU trial runs once per process and network shape.
    """
    where = describe_device(device)
    if device.type == "cuda":
        if not enabled:
            return StepPrecision(None, True, None, f"{where}, float32")
        if torch.cuda.is_bf16_supported():
            return StepPrecision(torch.bfloat16, True, None, f"{where}, bfloat16")
        return StepPrecision(torch.float16, True, torch.amp.GradScaler("cuda"),
                             f"{where}, float16")
    if device.type != "cpu":
        return StepPrecision(None, False, None, f"{where}, float32")
    if enabled and cpu_has_native_bf16() and _bf16_is_faster(net, tuple(batch_shape)):
        return StepPrecision(torch.bfloat16, True, None, f"{where}, bfloat16")
    return StepPrecision(None, True, None, f"{where}, float32")
