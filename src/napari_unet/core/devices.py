"""Device choice, described in words for people."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` into a ``torch.device``.

    ``"auto"`` picks CUDA when available, then Apple's MPS, then the CPU.

    Raises
    ------
    ValueError
        If the requested device does not exist on this machine.
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        name = str(device).strip().lower()
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return torch.device("mps")
            return torch.device("cpu")
        try:
            dev = torch.device(name)
        except RuntimeError as err:
            raise ValueError(
                f"device={device!r} is not a device name; expected 'auto', 'cpu', 'cuda', "
                "'cuda:N' or 'mps'"
            ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA, but this PyTorch build sees no CUDA GPU; "
            "use device='cpu' or 'auto'"
        )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} asks for Apple MPS, which is not available here")
    return dev


def describe_device(device: str | torch.device = "auto") -> str:
    """A short description for people, e.g. ``"CUDA: NVIDIA H200"`` or ``"CPU, 2 threads"``."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(dev)}"
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU, {torch.get_num_threads()} threads"
