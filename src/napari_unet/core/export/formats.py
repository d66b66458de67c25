"""Export to TorchScript and ONNX, and the helpers bioimage.io packages share with them.

bioimage.io model packages (export, import, validation) live in
:mod:`napari_unet.core.export.bioimageio`; :mod:`napari_unet.core.export` gathers both.
"""


from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from napari_unet.core.model import UNet

#: ONNX opset used by :func:`export_onnx`.
ONNX_OPSET = 17

__all__ = [
    "example_input",
    "export_onnx",
    "export_torchscript",
    "reference_output",
]


def eval_copy(model: UNet) -> UNet:
    """A CPU copy of ``model`` in eval mode (exports never touch the caller's network)."""
    clone = UNet.from_config(model.config)
    clone.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return clone.eval()


def example_input(model: UNet, *, size: int | None = None, seed: int = 0) -> np.ndarray:
    """A deterministic smooth random image ``(1, C, *spatial)`` the model accepts (float32)."""
    from scipy.ndimage import gaussian_filter

    if size is None:
        size = 64 if model.dims == 2 else 32
    min_shape = tuple(max(size, 2 * h + g) for h, g in zip(model.halo, model.pool_product))
    shape = model.valid_input_shape(min_shape)
    rng = np.random.default_rng(seed)
    img = rng.random((model.in_channels, *shape))
    img = np.stack([gaussian_filter(c, 2.0) for c in img]) * 255.0
    return img[None].astype(np.float32)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence exporter warnings (deprecations, tracer notes about shape checks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def export_torchscript(model: UNet, path: str | Path, *, example: np.ndarray | None = None) -> Path:
    """Trace ``model`` to a TorchScript file (logits out; works for any accepted input size)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = eval_copy(model)
    x = torch.from_numpy(example if example is not None else example_input(net))
    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(net, x, check_trace=False)
        traced.save(str(path))
    return path


def export_onnx(model: UNet, path: str | Path, *, example: np.ndarray | None = None,
                opset: int = ONNX_OPSET, exporter: str = "auto") -> Path:
    """Export ``model`` to ONNX with dynamic batch and spatial sizes (logits out).

    Parameters
    ----------
    exporter : {"auto", "legacy", "dynamo"}
        ``"legacy"``: the TorchScript-based exporter (fast); ``"dynamo"``: ``torch.export``
        based (slower); ``"auto"`` uses the legacy exporter where this PyTorch still has it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = eval_copy(model)
    x = torch.from_numpy(example if example is not None else example_input(net))
    names = ["batch", *("zyx" if net.dims == 3 else "yx")]
    dyn = {i: n for i, n in zip([0, *range(2, net.dims + 2)], names)}
    errors = []
    for kind in (["legacy", "dynamo"] if exporter == "auto" else [exporter]):
        try:
            with _quiet(), torch.no_grad():
                if kind == "legacy":
                    torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=opset,
                                      input_names=["input"], output_names=["output"],
                                      dynamic_axes={"input": dyn, "output": dyn})
                else:
                    auto = torch.export.Dim.AUTO
                    torch.onnx.export(net, (x,), str(path), dynamo=True, opset_version=opset,
                                      input_names=["input"], output_names=["output"],
                                      dynamic_shapes=({i: auto for i in dyn},))
            return path
        except Exception as err:  # exporter availability differs between torch versions
            errors.append(f"{kind}: {err}")
    raise RuntimeError("ONNX export failed: " + "; ".join(errors))


def _scale_range(x: np.ndarray, low: float, high: float, eps: float = 1e-6) -> np.ndarray:
    """bioimage.io ``scale_range``: per sample and channel, over the spatial axes."""
    axes = tuple(range(2, x.ndim))
    lo = np.percentile(x, low, axis=axes, keepdims=True)
    hi = np.percentile(x, high, axis=axes, keepdims=True)
    return ((x - lo) / (hi - lo + eps)).astype(np.float32)


def reference_output(model: UNet, x: np.ndarray) -> np.ndarray:
    """What a bioimage.io runtime computes for ``x`` ``(N, C, *spatial)`` from the package:
    the ``scale_range`` preprocessing, the network, and softmax (except regression)."""
    net = eval_copy(model)
    norm = net.normalization
    xin = _scale_range(x, norm.low, norm.high) if norm.mode == "percentile" else x
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(xin, dtype=np.float32)))
        if net.meta.get("task") != "regression":
            out = torch.softmax(out, dim=1)
    return out.numpy().astype(np.float32)
