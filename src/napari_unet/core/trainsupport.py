"""Pieces of the training loop: learning-rate schedule, batch sizing, validation, class prior.

Kept apart from :mod:`napari_unet.core.train` so that each stays small and testable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .data import IGNORE

# --- learning rate --------------------------------------------------------------------------


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


# --- memory ---------------------------------------------------------------------------------


def is_out_of_memory(err: BaseException) -> bool:
    """Whether an exception is a (CUDA, MPS or CPU allocator) out-of-memory error."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(err, oom):
        return True
    msg = str(err).lower()
    return isinstance(err, (RuntimeError, MemoryError)) and (
        "out of memory" in msg or "can't allocate memory" in msg or isinstance(err, MemoryError)
    )


def free_memory(device: torch.device) -> None:
    """Release cached accelerator memory after an out-of-memory error or at the end."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


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
        free_memory(device)
    n = int(0.6 * free / max(per_sample, 1))
    return int(max(1, min(cap, n)))


# --- validation -----------------------------------------------------------------------------


def confusion(pred: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """``k x k`` confusion counts (rows: truth, columns: prediction) over labelled pixels."""
    m = target >= 0
    return np.bincount(k * target[m].astype(np.int64) + pred[m], minlength=k * k).reshape(k, k)


def iou_from_confusion(cm: np.ndarray) -> list[float | None]:
    """Per-class intersection over union; None for classes absent from truth and prediction."""
    out: list[float | None] = []
    for c in range(cm.shape[0]):
        tp = cm[c, c]
        denom = cm[c, :].sum() + cm[:, c].sum() - tp
        out.append(None if denom == 0 else float(tp / denom))
    return out


def padded_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run the model on ``x`` padded to a shape it accepts; return logits at ``x``'s shape.

    The input is mirrored (or, when too small to mirror, replicated) at its far end for
    'same' models, and by the network's halo on every side for 'valid' models.
    """
    shape = tuple(int(s) for s in x.shape[2:])
    if getattr(model, "padding", "same") == "valid":
        halo = tuple(model.halo)
        ok = model.valid_input_shape(tuple(s + 2 * h for s, h in zip(shape, halo)))
        pads = [(h, w - s - h) for s, h, w in zip(shape, halo, ok)]
    else:
        ok = model.valid_input_shape(shape)
        pads = [(0, w - s) for s, w in zip(shape, ok)]
    flat = [p for pair in reversed(pads) for p in pair]
    if any(flat):
        small = any(max(p) >= s for p, s in zip(pads, shape))
        x = torch.nn.functional.pad(x, flat, mode="replicate" if small else "reflect")
    y = model(x)
    return y[(slice(None), slice(None), *(slice(0, s) for s in shape))]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    tiles: list,
    *,
    task: str,
    n_classes: int,
    device: torch.device,
    loss_fn,
    amp: bool = False,
) -> tuple[float, list | None]:
    """Validation loss and per-class IoU on held-out tiles (model in eval mode).

    ``tiles`` come from :func:`napari_unet.core.patches.validation_tiles`. Returns
    ``(loss, ious)``; ``ious`` is None for regression.
    """
    was_training = model.training
    model.eval()
    total, weight = 0.0, 0
    cm = np.zeros((n_classes, n_classes), np.int64)
    try:
        for img, tgt, w, _inner in tiles:
            x = torch.from_numpy(img[None]).to(device)
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                out = padded_forward(model, x).float()
            t = torch.from_numpy(tgt[None]).to(device)
            pw = torch.from_numpy(w[None]).to(device) if w is not None else None
            n = int(np.sum(~np.isnan(tgt))) if task == "regression" else int(np.sum(tgt >= 0))
            if n == 0:
                continue
            total += float(loss_fn(out, t, pw)) * n
            weight += n
            if task != "regression":
                pred = out.argmax(1)[0].cpu().numpy()
                cm += confusion(pred, tgt, n_classes)
    finally:
        model.train(was_training)
    if weight == 0:
        return float("nan"), None
    return total / weight, (None if task == "regression" else iou_from_confusion(cm))


# --- class prior ----------------------------------------------------------------------------


def estimate_prior(
    probs: np.ndarray, train_prior: np.ndarray, *, iterations: int = 50, tol: float = 1e-5
) -> np.ndarray:
    """Class frequencies of unlabelled pixels, by expectation-maximisation (Saerens et al. 2002).

    A classifier trained where classes had frequencies ``train_prior`` gives posteriors
    ``probs`` (``(K, n)``) on pixels whose true frequencies are unknown; EM finds the
    frequencies ``q`` for which the prior-adjusted posteriors average to ``q``.
    """
    p = np.asarray(probs, np.float64)
    t = np.asarray(train_prior, np.float64)
    t = t / t.sum()
    q = t.copy()
    for _ in range(iterations):
        adj = p * (q / t)[:, None]
        adj /= adj.sum(0, keepdims=True).clip(1e-12)
        new = adj.mean(1)
        if np.abs(new - q).max() < tol:
            q = new
            break
        q = new
    return q


def shift_head_bias(model: torch.nn.Module, log_ratio: np.ndarray) -> None:
    """Add ``log_ratio`` (one value per class) to the bias of the model's last layer."""
    head = model.head
    with torch.no_grad():
        if head.bias is None:
            head.bias = torch.nn.Parameter(torch.zeros(head.out_channels))
        head.bias += torch.as_tensor(log_ratio, dtype=head.bias.dtype, device=head.bias.device)


@torch.no_grad()
def unlabelled_posteriors(
    model: torch.nn.Module,
    images: list[np.ndarray],
    targets: list[np.ndarray],
    device: torch.device,
    *,
    max_pixels: int = 2_000_000,
    tile: int = 256,
) -> np.ndarray:
    """Softmax posteriors ``(K, n)`` at the unlabelled pixels of the prepared images."""
    was = model.training
    model.eval()
    chunks = []
    try:
        for img, tgt in zip(images, targets):
            x = torch.from_numpy(img[None]).to(device)
            nd = img.ndim - 1
            if nd == 2 and max(img.shape[1:]) > 2 * tile:
                # big planes: a few central tiles are enough for frequencies
                ys = range(0, img.shape[1], tile)
                xs = range(0, img.shape[2], tile)
                parts = [(slice(a, a + tile), slice(b, b + tile)) for a in ys for b in xs]
            else:
                parts = [tuple(slice(None) for _ in range(nd))]
            for sl in parts:
                xi = x[(slice(None), slice(None), *sl)]
                prob = torch.softmax(padded_forward(model, xi).float(), 1)[0]
                unl = torch.from_numpy(tgt[sl] == IGNORE).to(device)
                chunks.append(prob[:, unl].cpu().numpy())
            if sum(c.shape[1] for c in chunks) > max_pixels:
                break
    finally:
        model.train(was)
    return np.concatenate(chunks, 1) if chunks else np.zeros((0, 0))
