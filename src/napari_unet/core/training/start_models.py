"""Starting models shipped with napari-unet, and when to start from one.

A starting model is a small U-Net trained by ``scripts/train_start_model.py`` on data in
``../shared/data`` (the recipe and data are written in its JSON card). Training starts from
it instead of random weights when the new data *look alike* and the strokes *agree*:

1. same kind of model: a 2D, one-channel, semantic model with the same number of classes;
   a 2D image with a channel axis (axes ``YX`` or ``TYX`` plus ``C`` anywhere, e.g. ``CYX``,
   ``YXC`` for RGB, ``TCYX``) gets the same model with its first layer adapted to its
   channels (:func:`adapt_in_channels`), judged on a one-channel view of its appearance;
   a 3D volume (axes ``ZYX``) is judged on its painted slices and gets the 2D model
   inflated to 3D (exactly the 2D model on each slice at first);
2. the images' appearance signature (intensity quantiles after the model's normalisation
   and the share of gradient energy per scale) lies near the spread of the starting model's
   training images (distance <= 3), or somewhat further (<= 5) when the strokes vouch for it
   more strongly (rule 3 at 0.85);
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

from napari_unet.core.io import to_numpy
from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from napari_unet.core.training.architecture import inflate_to_3d

#: Where the shipped starting models live (inside the installed package).
START_DIR = Path(str(resources.files("napari_unet") / "start_models"))
_SCALES = (1.0, 2.0, 4.0, 8.0)
_QUANTILES = (5, 25, 50, 75, 95)
_MAX_SIDE = 512
#: The rule's thresholds: a model whose training images look alike (appearance distance
#: <= NEAR) must agree with the strokes at AGREE_NEAR; one that looks somewhat different
#: (<= FAR) must agree at AGREE_FAR; beyond FAR it is not tried. FAR lies between the two 3D
#: volumes measured (benchmarks/RESULTS.md): PlantSeg nuclei at 3.9, where the inflated
#: fluo_nuclei start lifts 60 s of training from 0.51 to 0.69 IoU, and the PlantSeg ovule
#: membranes at 5.7, where fluo_nuclei agrees with membrane strokes at 0.90 (bright is
#: bright) yet makes the training worse (0.36 against 0.48 from random weights).
NEAR, FAR, AGREE_NEAR, AGREE_FAR = 3.0, 5.0, 0.7, 0.85


def _stride(shape: tuple[int, ...]) -> int:
    """The step that brings a plane of ``shape`` (Y, X last) to at most ``2 * _MAX_SIDE``
    pixels a side."""
    return max(1, int(np.ceil(max(shape[-2:]) / (2 * _MAX_SIDE))))


def _as_plane(image: Any) -> np.ndarray:
    """A 2D image as float32, strided down (before reading, for lazy arrays) to at most
    about 1024 pixels a side."""
    if len(image.shape) != 2:
        raise ValueError(f"signature: expected a 2D image, got shape {tuple(image.shape)}")
    step = _stride(image.shape)
    return np.asarray(to_numpy(image[::step, ::step]), np.float32)


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
    return _feature_distance(sig, image_features(image))


def _feature_distance(sig: dict, f: np.ndarray) -> float:
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


def adapt_in_channels(model: UNet, c: int) -> UNet:
    """Give a one-channel model ``c`` input channels that start as their mean.

    The first convolution's weight ``w`` of shape ``(out, 1, *kernel)`` becomes
    ``(out, c, *kernel)`` with ``w / c`` for every channel (its bias, if any, unchanged), so
    an image whose ``c`` channels are all equal gives exactly the one-channel output. The
    normalisation rule is kept: it is per channel already (:meth:`Normalization.stats
    <napari_unet.core.normalize.Normalization.stats>` measures one low/high pair per channel of
    the ``C`` axis), so each channel is scaled on its own before the network averages them.
    ``model.in_channels`` (hence :attr:`UNet.config`) follows, and ``model.meta["axes"]``, if
    it names no channel axis, gains a leading ``C``.

    Parameters
    ----------
    model : UNet
        A model with one input channel; changed in place.
    c : int
        The number of input channels wanted (1 leaves the model as it is).

    Returns
    -------
    UNet
        ``model`` itself.

    Raises
    ------
    ValueError
        If ``c`` is not a positive integer, or the model has more than one input channel and
        ``c`` differs from it.
    """
    if not isinstance(c, int) or c < 1:
        raise ValueError(f"adapt_in_channels: expected a positive channel count, found {c!r}")
    if c == model.in_channels:
        return model
    if model.in_channels != 1:
        raise ValueError(f"adapt_in_channels: expected a one-channel model, found one with "
                         f"{model.in_channels} input channels")
    old = model.encoders[0][0]
    new = type(old)(c, old.out_channels, old.kernel_size, stride=old.stride,
                    padding=old.padding, dilation=old.dilation, bias=old.bias is not None)
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.copy_((old.weight / c).expand_as(new.weight))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    model.encoders[0][0] = new
    model.in_channels = c
    axes = model.meta.get("axes")
    if isinstance(axes, str) and "C" not in axes.upper():
        model.meta["axes"] = "C" + axes
    return model


def channel_view(plane: np.ndarray) -> np.ndarray:
    """A one-channel view of a ``(C, Y, X)`` plane for the appearance check (:func:`distance`).

    The mean of its channels, each normalised on its own by the default percentile rule
    (1 -> 0, 99.8 -> 1, :class:`~napari_unet.core.normalize.Normalization`): a plane whose
    channels are all equal (up to scale and offset) looks like that one channel.
    """
    norm = Normalization()
    return norm.apply(plane, norm.stats(plane, axes="CYX"), axes="CYX").mean(0)


def _painted_planes(image: Any, paint: Any, axes: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The painted planes of a 2D image (``axes``: ``YX`` or ``TYX``, ``C`` anywhere or
    nowhere; a 3D volume comes with Z named T): up to 4 painted frames, each read once,
    strided as :func:`_as_plane` strides, as float32 ``(Y, X)`` (no ``C``) or ``(C, Y, X)``,
    with its whole ``(Y, X)`` paint (:func:`_painted_agreement` strides it alike)."""
    p_all = to_numpy(paint)
    step = _stride(p_all.shape)
    frames: list[int | None] = [None]
    if "T" in axes:  # the painted slices; the paint's axes are TYX
        frames = [int(t) for t in np.flatnonzero(p_all.reshape(p_all.shape[0], -1).max(1) > 0)]
    kept = axes.replace("T", "")  # the block's axes: Y, X and maybe C in the image's order
    order = [kept.index(a) for a in ("CYX" if "C" in kept else "YX")]
    out = []
    for t in frames[:4]:
        index = tuple(t if a == "T" else slice(None, None, step) if a in "YX" else slice(None)
                      for a in axes)
        plane = np.asarray(to_numpy(image[index]), np.float32)
        out.append((np.ascontiguousarray(np.transpose(plane, order)),
                    p_all if t is None else p_all[t]))
    return out


def _densest_window(painted: np.ndarray, side: int) -> tuple[slice, slice]:
    """The ``side`` x ``side`` window (on a grid of quarter windows) holding the most painted
    pixels: the agreement is judged there, at full resolution, in a quarter of the time a
    1024-pixel plane takes."""
    h, w = painted.shape
    if h <= side and w <= side:
        return slice(None), slice(None)
    sat = np.pad(painted.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, where = -1, (0, 0)
    hop = max(1, side // 4)
    for y in [*range(0, max(1, h - side), hop), max(0, h - side)]:
        for x in [*range(0, max(1, w - side), hop), max(0, w - side)]:
            y1, x1 = min(h, y + side), min(w, x + side)
            n = sat[y1, x1] - sat[y, x1] - sat[y1, x] + sat[y, x]
            if n > best:
                best, where = n, (y, x)
    y, x = where
    return slice(y, y + side), slice(x, x + side)


def _painted_agreement(model: UNet, pairs: list, k: int) -> tuple[float, tuple[int, ...]]:
    """Best balanced accuracy of the model on the painted pixels over class orders."""
    from napari_unet.core.training.validation import padded_forward

    model.eval()
    counts = np.zeros((k, k), np.int64)  # painted class x predicted class
    with torch.no_grad():
        for image, paint in pairs[:8]:
            # planes come read and strided (:func:`_painted_planes`); the paint is whole
            img, ax = image, "YX" if image.ndim == 2 else "CYX"
            step = _stride(paint.shape)
            p = paint[::step, ::step]
            window = _densest_window(p > 0, _MAX_SIDE)
            img, p = img[(..., *window)], p[window]
            x = torch.from_numpy(
                model.normalization.apply(img, model.normalization.stats(img, axes=ax), axes=ax))
            x = x[None, None] if x.ndim == 2 else x[None]
            out = padded_forward(model, x)[0].argmax(0).numpy()
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
    images look like its training images (:func:`distance` <= ``NEAR`` = 3 on up to 8
    painted images) and it already agrees with the strokes (balanced accuracy >= 0.7 under
    the best class order), or they look somewhat different (distance <= ``FAR`` = 5) and it
    agrees at >= 0.85: the strokes are direct evidence, the appearance only a proxy; of
    those that fit, the one that agrees best with the strokes is chosen (ties: the
    nearest in appearance). The returned model's last layer is permuted so that its channel
    ``c`` is painting value ``c + 1`` of these pairs.

    Images with a channel axis (``axes`` ``YX`` or ``TYX`` plus ``C`` anywhere, e.g. ``CYX``,
    RGB ``YXC``, ``TCYX``) are judged by their :func:`channel_view` for the appearance and
    by the model adapted to their channels (:func:`adapt_in_channels`) on the real channels
    for the agreement; the model returned is that adapted one, and the reason says so.

    A 3D volume (``dims`` 3, axes ``ZYX``, ``C`` anywhere) is judged on up to 4 painted Z
    slices by the same rule, and the chosen 2D model is returned inflated to 3D
    (:func:`napari_unet.core.training.architecture.inflate_to_3d`): it starts as the 2D model
    applied to each slice and learns across slices while it fine-tunes.
    """
    # a 3D volume is judged on its painted Z slices, as a TYX stack is on its painted frames
    name_axes = axes.upper().replace("Z", "T") if dims == 3 else axes.upper()
    allowed = ("TYX",) if dims == 3 else ("YX", "TYX")
    if task != "semantic" or dims not in (2, 3) or name_axes.replace("C", "", 1) not in allowed:
        kind = "2D semantic, axes YX or TYX with C anywhere" if "C" in name_axes else \
            "2D one-channel semantic"
        return None, f"no starting model for this kind of data ({kind} or 3D ZYX only)"
    # (Y, X) or (C, Y, X) planes, read and strided once for every model tried
    planes = [pl for image, paint in pairs for pl in _painted_planes(image, paint, name_axes)]
    if not planes:
        return None, "nothing painted"
    k = n_classes or int(max(int(np.max(p)) for _, p in planes))
    counts = {int(im.shape[0]) for im, _ in planes} if "C" in name_axes else {1}
    if len(counts) > 1:
        return None, f"images with different numbers of channels {sorted(counts)}"
    c = counts.pop()
    features = [image_features(channel_view(im) if "C" in name_axes else im)
                for im, _ in planes[:8]]
    reasons, fits = [], []
    for name in names if names is not None else available():
        model, info = load_start_model(name)
        if model.out_channels != k:
            reasons.append(f"{name}: {model.out_channels} classes, not {k}")
            continue
        adapt_in_channels(model, c)
        d = max(_feature_distance(info["signature"], f) for f in features)
        if d > FAR:
            reasons.append(f"{name}: images look different (distance {d:.1f} > {FAR:g})")
            continue
        acc, order = _painted_agreement(model, planes, k)
        need = AGREE_NEAR if d <= NEAR else AGREE_FAR
        if acc < need:
            reasons.append(f"{name}: disagrees with the strokes (balanced accuracy {acc:.2f} "
                           f"< {need:g} at distance {d:.1f})")
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
    if dims == 3:
        model = inflate_to_3d(model)
    also = [f[2] for f in fits if f[2] != name]
    others = f"; also fit: {', '.join(also)}" if also else ""
    adapted = f", first layer adapted to {c} channels" if c > 1 else ""
    if dims == 3:
        adapted += ", inflated to 3D: it starts as the 2D model on each slice"
    return model, (
        f"{name} (distance {-neg_d:.1f}, balanced accuracy on the strokes "
        f"{acc:.2f}, class order {list(order)}{adapted}{others})"
    )
