"""Starting models shipped with napari-unet, and when to start from one.

A starting model is a small U-Net trained by ``scripts/train_start_model.py`` on data in
``../shared/data`` (the recipe and data are written in its JSON card). Training starts from
it instead of random weights when the new data *look alike* and the strokes *agree*:

1. same kind of model: a 2D, one-channel, semantic model with the same number of classes;
2. the images' appearance signature (intensity quantiles after the model's normalisation
   and the share of gradient energy per scale) lies within the spread of the starting
   model's training images;
3. the starting model already labels the painted pixels right (balanced accuracy >= 0.7),
   possibly with the classes in another order, which is then fixed by permuting its last
   layer.

Files: ``src/napari_unet/start_models/<name>.safetensors`` (float16 weights) and
``<name>.json`` (``{"config": UNet.config, "info": {...}}``). Weights are data, never code.
"""

from __future__ import annotations

import itertools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi

from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization

#: Where the shipped starting models live (inside the installed package).
START_DIR = Path(str(resources.files("napari_unet") / "start_models"))
_SCALES = (1.0, 2.0, 4.0, 8.0)
_QUANTILES = (5, 25, 50, 75, 95)
_MAX_SIDE = 512


def _as_plane(image: Any) -> np.ndarray:
    """A 2D image as float32, strided down (before reading, for lazy arrays) to at most
    about 1024 pixels a side."""
    if len(image.shape) != 2:
        raise ValueError(f"signature: expected a 2D image, got shape {tuple(image.shape)}")
    step = max(1, int(np.ceil(max(image.shape) / (2 * _MAX_SIDE))))
    a = image[::step, ::step]
    a = a.compute() if hasattr(a, "compute") else a
    return np.asarray(a, np.float32)


def image_features(image: Any) -> np.ndarray:
    """Appearance of one 2D image: 5 intensity quantiles after percentile normalisation and
    the share of gradient energy at 4 scales."""
    a = _as_plane(image)
    norm = Normalization()
    x = norm.apply(a, norm.stats(a, axes="YX"), axes="YX")
    q = np.percentile(x, _QUANTILES)
    energy = np.array([ndi.gaussian_gradient_magnitude(x, s).mean() * s for s in _SCALES])
    energy = energy / max(energy.sum(), 1e-9)
    return np.concatenate([q, energy]).astype(np.float64)


def signature(images: list[Any]) -> dict:
    """Mean and spread of :func:`image_features` over training images (JSON-serialisable)."""
    f = np.stack([image_features(im) for im in images])
    return {
        "mean": f.mean(0).round(5).tolist(),
        "std": f.std(0).round(5).tolist(),
        "n": len(images),
    }


def distance(sig: dict, image: Any) -> float:
    """Root mean square z-score of an image's features against a signature."""
    f = image_features(image)
    mean, std = np.asarray(sig["mean"]), np.asarray(sig["std"])
    floor = np.array([0.03] * len(_QUANTILES) + [0.01] * len(_SCALES))
    z = (f - mean) / np.maximum(std, floor)
    return float(np.sqrt(np.mean(z * z)))


def available() -> list[str]:
    """Names of the shipped starting models."""
    return sorted(
        p.stem for p in START_DIR.glob("*.json") if p.with_suffix(".safetensors").exists()
    )


def save_start_model(model: UNet, stem: Path, info: dict) -> Path:
    """Write ``stem.safetensors`` (float16) and ``stem.json``; return the JSON path."""
    from safetensors.torch import save_file

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if v.is_floating_point() else v).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(stem.with_suffix(".safetensors")))
    stem.with_suffix(".safetensors").chmod(0o644)
    card = {"config": model.config, "info": info}
    stem.with_suffix(".json").write_text(json.dumps(card, indent=1))
    return stem.with_suffix(".json")


def load_start_model(name: str) -> tuple[UNet, dict]:
    """A shipped starting model (float32, train mode) and its card's ``info``."""
    from safetensors.torch import load_file

    path = START_DIR / f"{name}.json"
    if not path.exists():
        raise ValueError(f"no starting model {name!r}; available: {available()}")
    card = json.loads(path.read_text())
    model = UNet.from_config(card["config"])
    state = load_file(str(path.with_suffix(".safetensors")))
    ref = model.state_dict()
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
    return model, card["info"]


def _painted_agreement(model: UNet, pairs: list, k: int) -> tuple[float, tuple[int, ...]]:
    """Best balanced accuracy of the model on the painted pixels over class orders."""
    from napari_unet.core.training.validation import padded_forward

    model.eval()
    counts = np.zeros((k, k), np.int64)  # painted class x predicted class
    with torch.no_grad():
        for image, paint in pairs[:8]:
            img = _as_plane(image)
            step = max(1, int(np.ceil(max(paint.shape) / (2 * _MAX_SIDE))))
            p = paint[::step, ::step]
            p = np.asarray(p.compute() if hasattr(p, "compute") else p)
            x = model.normalization.apply(img, model.normalization.stats(img, axes="YX"), axes="YX")
            out = padded_forward(model, torch.from_numpy(x)[None, None])[0].argmax(0).numpy()
            m = (p > 0) & (p <= k)
            counts += np.bincount(
                (p[m].astype(np.int64) - 1) * k + out[m], minlength=k * k
            ).reshape(k, k)
    model.train()
    best, order = 0.0, tuple(range(k))
    rows = counts.sum(1).clip(1)
    for perm in itertools.permutations(range(k)):
        # painted class c is predicted as model channel perm[c]
        acc = float(np.mean([counts[c, perm[c]] / rows[c] for c in range(k) if counts[c].sum()]))
        if acc > best:
            best, order = acc, perm
    return best, order


def choose_start(
    task: str,
    dims: int,
    axes: str,
    pairs: list,
    n_classes: int | None = None,
    *,
    names: list[str] | None = None,
) -> tuple[UNet | None, str]:
    """The starting model that fits ``pairs``, or None; with the reason, for the record.

    The rule: a shipped model fits when it has the painting's number of classes, the
    images look like its training images (:func:`distance` <= 3 on up to 8 painted images)
    and it already agrees with the strokes (balanced accuracy >= 0.7 under the best class
    order); of those that fit, the one that agrees best with the strokes is chosen (ties: the
    nearest in appearance). The returned model's last layer is permuted so that its channel
    ``c`` is painting value ``c + 1`` of these pairs.
    """
    if task != "semantic" or dims != 2 or axes.upper() not in ("YX", "TYX"):
        return None, "no starting model for this kind of data (2D one-channel semantic only)"
    planes = []
    for image, paint in pairs:
        if np.ndim(image) == 3:  # TYX: the painted slices
            p = np.asarray(paint.compute() if hasattr(paint, "compute") else paint)
            for t in np.flatnonzero(p.reshape(p.shape[0], -1).max(1) > 0)[:4]:
                planes.append((image[t], p[t]))
        else:
            planes.append((image, paint))
    if not planes:
        return None, "nothing painted"
    k = n_classes or int(max(int(np.max(p)) for _, p in planes))
    reasons, fits = [], []
    for name in names if names is not None else available():
        model, info = load_start_model(name)
        if model.out_channels != k:
            reasons.append(f"{name}: {model.out_channels} classes, not {k}")
            continue
        d = max(distance(info["signature"], im) for im, _ in planes[:8])
        if d > 3.0:
            reasons.append(f"{name}: images look different (distance {d:.1f} > 3)")
            continue
        acc, order = _painted_agreement(model, planes, k)
        if acc < 0.7:
            reasons.append(f"{name}: disagrees with the strokes (balanced accuracy {acc:.2f})")
            continue
        fits.append((acc, -d, name, model, order))
    if not fits:
        return None, "; ".join(reasons) or "no starting model shipped"
    # the rule: of the models that fit, the one that agrees best with the strokes, then the
    # one whose training images look most alike
    acc, neg_d, name, model, order = max(fits, key=lambda f: (round(f[0], 2), f[1]))
    if order != tuple(range(k)):
        with torch.no_grad():
            idx = torch.as_tensor(order)
            model.head.weight.copy_(model.head.weight[idx])
            model.head.bias.copy_(model.head.bias[idx])
    also = [f[2] for f in fits if f[2] != name]
    others = f"; also fit: {', '.join(also)}" if also else ""
    return model, (
        f"{name} (distance {-neg_d:.1f}, balanced accuracy on the strokes "
        f"{acc:.2f}, class order {list(order)}{others})"
    )
