"""Model files: data, not code.

A napari-unet model is ONE file, a standard `safetensors <https://huggingface.co/docs/safetensors>`_
file (suggested suffix ``.unet.safetensors``):

- the tensors are the model's ``state_dict`` (weights and batch-norm statistics);
- the safetensors header's free-text metadata holds, under the key ``"napari_unet"``, a JSON
  document (the *model card*) with:

  ``format`` ("napari-unet-model"), ``schema_version``, ``architecture`` (``UNet.config``),
  ``task``, ``classes`` (painting values 1..K) and ``class_names``, ``axes``,
  ``normalization``, ``sizes`` (halo, receptive field, pooling grid, smallest input),
  ``train_config`` (the full ``TrainConfig.to_dict()``), ``training_data`` (a summary),
  ``validation`` (metrics), ``provenance`` (napari-unet, torch, numpy and python versions,
  platform, UTC date) and ``weights`` (sha256 over the tensors, parameter count).

One file makes sharing and atomic saving simple; any safetensors reader can open it, and
``napari-unet info MODEL`` prints the card. Loading parses only JSON and raw tensor bytes, it
never unpickles anything. A file written by a newer schema, a missing file, a truncated file,
tensors that do not match the recorded sha256, a card edited after saving (``card_sha256``,
a sha256 over the card's other keys) or an architecture whose sizes do not match the
tensors' shapes (checked before the network is built) each raise a clear error.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import struct
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from napari_unet.core.io import public_mode
from napari_unet.core.model import UNet
from napari_unet.core.modelcheck import (
    CARD_SHA256,
    card_sha256,
    check_architecture,
    check_card_sha256,
)

#: Identifies napari-unet model files.
FORMAT = "napari-unet-model"
#: Layout version of the model card; files with a higher version are refused.
SCHEMA_VERSION = 1
#: Key of the model card inside the safetensors header metadata.
METADATA_KEY = "napari_unet"
#: Suggested file suffix.
SUFFIX = ".unet.safetensors"

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "SUFFIX",
    "describe_card",
    "dumps_model",
    "load_model",
    "loads_model",
    "read_card",
    "save_model",
    "weights_sha256",
]


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A sha256 over tensors, independent of file layout: names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _jsonable(obj: Any) -> Any:
    """Turn dataclasses, numpy scalars/arrays, tuples and paths into JSON values."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "items"):
        return _jsonable(dict(obj.items()))
    return str(obj)


def _provenance() -> dict[str, Any]:
    from napari_unet import __version__

    return {
        "napari_unet": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _sizes(model: UNet) -> dict[str, Any]:
    return {
        "halo": list(model.halo),
        "receptive_field": list(model.receptive_field),
        "pool_grid": list(model.pool_product),
        "min_input_shape": list(model.valid_input_shape((1,) * model.dims)),
    }


def make_card(model: UNet, *, train_config: Any = None, training_data: Any = None,
              validation: Any = None, name: str | None = None,
              description: str | None = None) -> dict[str, Any]:
    """The model card (JSON document) that :func:`save_model` stores, without the weights hash."""
    meta = dict(model.meta)
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    if train_config is None:
        train_config = training.get("config")
    if training_data is None and training:
        training_data = {k: v for k, v in training.items() if k != "config"}
    if validation is None:
        validation = meta.get("validation")
    task = meta.get("task", "semantic")
    k = model.out_channels
    names = meta.get("class_names")
    if not names or len(names) != k:
        names = [f"class {i}" for i in range(1, k + 1)] if task != "regression" else None
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "name": name or meta.get("name") or "napari-unet model",
        "description": description or meta.get("description") or "",
        "architecture": _jsonable(model.config),
        "task": task,
        "classes": list(range(1, k + 1)) if task != "regression" else [],
        "class_names": names,
        "axes": meta.get("axes"),
        "normalization": model.normalization.to_dict(),
        "sizes": _sizes(model),
        "train_config": _jsonable(train_config),
        "training_data": _jsonable(training_data),
        "validation": _jsonable(validation),
        "provenance": _provenance(),
    }


def save_model(model: UNet, path: str | os.PathLike, *, train_config: Any = None,
               training_data: Any = None, validation: Any = None, name: str | None = None,
               description: str | None = None) -> Path:
    """Write ``model`` to one safetensors file, atomically.

    Parameters
    ----------
    model : UNet
        The model; its ``config`` (architecture, normalisation, ``meta``) and ``state_dict``
        are stored.
    path : str or PathLike
        Destination file (suggested suffix ``.unet.safetensors``); parent folders are created.
        An existing file is replaced only once the new one is complete.
    train_config : TrainConfig, dict or None
        The full training configuration (anything with ``to_dict()``, a dataclass or a dict).
    training_data : dict or None
        A summary of the training data (image shapes, painted pixels per class, ...).
    validation : dict or None
        Validation metrics.
    name, description : str, optional
        Shown by ``napari-unet info`` and in exports.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    blob = dumps_model(model, train_config=train_config, training_data=training_data,
                       validation=validation, name=name, description=description)
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"model file {str(path)!r}: expected a file name such as "
                         f"{str(path / ('model' + SUFFIX))!r}, found a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, public_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def dumps_model(model: UNet, **card: Any) -> bytes:
    """The bytes :func:`save_model` writes (``card``: its keyword arguments)."""
    if not isinstance(model, UNet):
        raise TypeError(f"model: expected a napari_unet UNet; found {type(model).__name__}")
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    doc = make_card(model, **card)
    doc["weights"] = {
        "sha256": weights_sha256(state),
        "n_tensors": len(state),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    doc = _jsonable(doc)
    doc[CARD_SHA256] = card_sha256(doc)
    return _st_save(state, metadata={METADATA_KEY: json.dumps(doc, allow_nan=False)})


def loads_model(data: bytes, *, device: str | torch.device = "cpu",
                name: str = "<bytes>") -> UNet:
    """Inverse of :func:`dumps_model` (same checks as :func:`load_model`)."""
    try:
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + n])
        state = _st_load(data)
    except Exception as err:
        raise ValueError(f"model {name} is not a readable safetensors file: {err}") from err
    return _build(Path(name), _check_card(Path(name), header.get("__metadata__") or {}), state,
                  device)


def _open(path: str | os.PathLike) -> tuple[Path, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"model file {str(path)!r} is a folder; expected a .safetensors file")
    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"model file {str(path)!r} is not a readable safetensors file (truncated or "
            f"damaged?): {err}"
        ) from err
    return path, handle


def _card_from(path: Path, handle: Any) -> dict[str, Any]:
    return _check_card(path, handle.metadata() or {})


def _check_card(path: Path, meta: dict[str, str]) -> dict[str, Any]:
    text = meta.get(METADATA_KEY)
    if text is None:
        raise ValueError(
            f"model file {str(path)!r} is a safetensors file without a napari-unet model card "
            f"(metadata key {METADATA_KEY!r}); expected a file written by napari-unet"
        )
    try:
        card = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"model file {str(path)!r} has a damaged model card: {err}") from err
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ValueError(
            f"model file {str(path)!r}: model card format is "
            f"{card.get('format') if isinstance(card, dict) else card!r}; expected {FORMAT!r}"
        )
    version = card.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"model file {str(path)!r}: invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"model file {str(path)!r} has schema_version {version}; this napari-unet reads "
            f"versions up to {SCHEMA_VERSION}: update napari-unet"
        )
    for key in ("architecture", "weights"):
        if not isinstance(card.get(key), dict):
            raise ValueError(f"model file {str(path)!r}: model card lacks {key!r}")
    check_card_sha256(card, source=f"model file {str(path)!r}")
    return card


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of a model file, without reading the weights.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a napari-unet model file or has an unknown schema version.
    """
    path, handle = _open(path)
    with handle:
        return _card_from(path, handle)


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> UNet:
    """Read a model file written by :func:`save_model`; never unpickles.

    Parameters
    ----------
    path : str or PathLike
        The model file.
    device : str or torch.device
        Where to put the weights (default CPU).

    Returns
    -------
    UNet
        The model in eval mode, with ``meta`` and ``normalization`` as saved. The whole card is
        available as ``model.card`` (a dict).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, damaged or tampered with (sha256 mismatch), not a napari-unet
        model, or written with a newer schema version.
    """
    path, handle = _open(path)
    try:
        with handle:
            card = _card_from(path, handle)
            state = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError, RuntimeError) as err:
        raise ValueError(f"model file {str(path)!r} is damaged: {err}") from err
    return _build(path, card, state, device)


def _build(path: Path, card: dict[str, Any], state: dict[str, torch.Tensor],
           device: str | torch.device) -> UNet:
    expected = card["weights"].get("sha256")
    found = weights_sha256(state)
    if expected != found:
        raise ValueError(
            f"model file {str(path)!r}: the weights do not match the sha256 recorded in the file "
            f"(expected {expected}, found {found}); the file was modified or damaged"
        )
    check_architecture(card["architecture"], {k: tuple(v.shape) for k, v in state.items()},
                       source=f"model file {str(path)!r}")
    try:
        model = UNet.from_config(card["architecture"])
        model.load_state_dict(state, strict=True)
    except (TypeError, KeyError, RuntimeError, ValueError) as err:
        raise ValueError(
            f"model file {str(path)!r}: architecture and weights do not fit: {err}"
        ) from err
    model.card = card
    return model.to(device).eval()


def describe_card(card: dict[str, Any]) -> str:
    """A short multi-line summary of a model card for people (``napari-unet info``)."""
    arch = card.get("architecture", {})
    sizes = card.get("sizes", {})
    prov = card.get("provenance", {})
    names = card.get("class_names") or []
    lines = [
        f"name: {card.get('name')}",
        f"task: {card.get('task')}",
        f"classes: {', '.join(f'{v}={n}' for v, n in zip(card.get('classes', []), names))}",
        f"axes: {card.get('axes')}",
        f"architecture: {arch.get('dims')}D U-Net, depth {arch.get('depth')}, "
        f"{arch.get('base_channels')} base channels, padding {arch.get('padding')}, "
        f"norm {arch.get('norm')}, {arch.get('in_channels')} in / {arch.get('out_channels')} out",
        f"parameters: {card.get('weights', {}).get('n_parameters')}",
        f"normalization: {card.get('normalization')}",
        f"halo: {sizes.get('halo')}, receptive field: {sizes.get('receptive_field')}, "
        f"pooling grid: {sizes.get('pool_grid')}",
        f"validation: {card.get('validation')}",
        f"saved: {prov.get('date')} with napari-unet {prov.get('napari_unet')}, "
        f"torch {prov.get('torch')}, python {prov.get('python')}",
    ]
    return "\n".join(lines)
