"""Device choice, described in words for people."""

from __future__ import annotations

import functools
import sys

import torch

#: Device types napari-unet computes on (``torch.device(...).type``).
DEVICE_TYPES = ("cpu", "cuda", "mps")
_EXPECTED = "expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` into a ``torch.device``.

    ``"auto"`` picks CUDA when available, then Apple's MPS, then the CPU.

    Raises
    ------
    TypeError
        If ``device`` is neither a string nor a ``torch.device``.
    ValueError
        If the name is not a device, names a kind napari-unet does not compute on (``"meta"``
        holds no data; ``"xla"``, ``"ipu"``, ...) or a device this machine does not have.
    """
    if isinstance(device, torch.device):
        dev = device
    elif not isinstance(device, str):
        raise TypeError(f"device: {_EXPECTED} (a string or a torch.device); found "
                        f"{type(device).__name__} {device!r}")
    else:
        name = device.strip().lower()
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
            raise ValueError(f"device={device!r} is not a device name; {_EXPECTED}") from err
    if dev.type not in DEVICE_TYPES:
        why = " (a 'meta' device holds no data)" if dev.type == "meta" else ""
        raise ValueError(f"device={device!r}: {_EXPECTED}; found a {dev.type!r} device, which "
                         f"napari-unet does not compute on{why}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA, but this PyTorch build sees no CUDA GPU; "
            "use device='cpu' or 'auto'"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: expected a CUDA GPU index below "
                         f"{torch.cuda.device_count()}, found {dev.index}")
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


def free_bytes(device: str | torch.device = "auto") -> int:
    """Bytes of memory free for new tensors on ``device``.

    CUDA: free memory on the GPU (``torch.cuda.mem_get_info``) plus what PyTorch's caching
    allocator holds but does not use. CPU and MPS: available system memory (psutil).
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        free, _total = torch.cuda.mem_get_info(index)
        cached = torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
        return int(free + max(0, cached))
    import psutil

    return int(psutil.virtual_memory().available)


#: Share of free memory a prediction may use for its working tensors, per device type.
MEMORY_FRACTION = {"cuda": 0.6, "mps": 0.3, "cpu": 0.25}
#: Upper bound of a CPU prediction's working memory, per model dimensionality. In 2D the halo
#: is a small share of a tile long before 1 GiB (56 px of a 1136 px tile for a depth-4 model):
#: bigger tiles would only take memory from napari and the user's data. In 3D it is not (a
#: depth-3 model's halo of 14x24x24 voxels doubles the work of a 100x100x68 core), and whole
#: stacks of ~100x200x200 fit in one tile under 4 GiB. Either way the rest of the machine keeps
#: at least three quarters of the free memory.
CPU_MEMORY_CAP = {2: 1 << 30, 3: 4 << 30}


def memory_budget(device: str | torch.device = "auto", dims: int = 2) -> int:
    """Bytes a prediction may plan to use for its tiles and activations on ``device``.

    A share of the free memory (:data:`MEMORY_FRACTION`); on CPUs at most
    :data:`CPU_MEMORY_CAP` for a ``dims``-D model; never less than 64 MiB.
    """
    dev = resolve_device(device)
    budget = int(free_bytes(dev) * MEMORY_FRACTION.get(dev.type, 0.25))
    if dev.type != "cuda":
        budget = min(budget, CPU_MEMORY_CAP[3 if dims == 3 else 2])
    return max(budget, 64 << 20)


def is_out_of_memory(err: BaseException) -> bool:
    """Whether an exception is a (CUDA, MPS or CPU allocator) out-of-memory error."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(err, oom):
        return True
    msg = str(err).lower()
    return isinstance(err, (RuntimeError, MemoryError)) and (
        "out of memory" in msg or "can't allocate memory" in msg or isinstance(err, MemoryError)
    )


def empty_cache(device: torch.device) -> None:
    """Release cached accelerator memory after an out-of-memory error or at the end."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (x86 AVX-512 BF16 or AMX; Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
