"""The class prior of unpainted pixels: strokes over-represent thin classes; correct the head.

Expectation-maximisation of the class frequencies at the unpainted pixels (Saerens et al.
2002), then a shift of the last layer's bias by the log ratio of estimated to painted
frequencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from napari_unet.core.io import classes_dtype
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.validation import padded_forward

__all__ = ["apply_prior", "corrected_classes", "estimate_prior", "frequencies", "shift_head_bias",
           "unlabelled_posteriors", "wants_prior"]


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


def wants_prior(config: Any, data: Any, *, from_start: bool = False) -> bool:
    """Whether a run corrects the class prior (``config.prior``).

    ``"auto"``: semantic paintings that cover less than a third of their region, unless the
    run started from a shipped starting model (``from_start``). Such a model learnt its class
    frequencies from dense masks, and fine-tuning keeps them, whereas the correction assumes
    the network learnt the painted frequencies: on ISBI strokes after the EM start it cost
    0.21 membrane IoU (benchmarks/RESULTS.md).
    """
    if data.task != "semantic" or config.prior == "off":
        return False
    if config.prior == "on":
        return True
    if from_start:
        return False
    return data.sparse


def frequencies(probs: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The painted and the estimated class frequencies.

    Parameters
    ----------
    probs : ndarray
        ``(K, n)`` posteriors at unpainted pixels.
    seen : ndarray
        Labelled pixels per class that training saw (``K``).

    Returns
    -------
    painted, estimated : ndarray
        ``(seen + 1)`` normalised, and :func:`estimate_prior`'s frequencies (at least 1e-4
        each), both summing to 1.
    """
    painted = (seen + 1) / (seen + 1).sum()
    q = np.clip(estimate_prior(probs, painted), 1e-4, 1.0)
    return painted, q / q.sum()


def corrected_classes(probs: np.ndarray, seen: np.ndarray, *, max_pixels: int = 262_144
                      ) -> np.ndarray:
    """Classes 1..K of posteriors after the class-prior correction, estimated on them.

    What :func:`apply_prior` does to a network's head, done to its output: the frequencies
    are estimated on (up to ``max_pixels``, evenly strided) pixels of ``probs`` itself, so a
    live preview can show what the corrected model will show without a pass over the
    training images.

    Parameters
    ----------
    probs : ndarray
        ``(K, *spatial)`` softmax posteriors.
    seen : ndarray
        Labelled pixels per class that training saw (``K``).
    max_pixels : int
        Most pixels the estimate reads.

    Returns
    -------
    ndarray
        ``spatial``-shaped classes 1..K (:func:`~napari_unet.core.io.classes_dtype`).
    """
    k = probs.shape[0]
    flat = probs.reshape(k, -1)
    painted, q = frequencies(flat[:, :: max(1, flat.shape[1] // max_pixels)], seen)
    ratio = (q / painted).reshape(k, *([1] * (probs.ndim - 1)))
    return (np.argmax(probs * ratio, 0) + 1).astype(classes_dtype(k))


def apply_prior(net: torch.nn.Module, data: Any, seen: np.ndarray, device: torch.device
                ) -> dict | None:
    """Shift ``net``'s head by the log ratio of estimated to painted class frequencies.

    ``seen`` counts the labelled pixels per class that training saw. Returns the two
    frequency vectors for the model card, or None when no unpainted pixel was found.
    """
    net.to(device)
    targets = []
    for it in data.items:
        t = it.target.copy()
        if it.val_target is not None:
            t[it.val_target >= 0] = 0  # labelled, so not an unpainted pixel
        targets.append(t)
    probs = unlabelled_posteriors(net, [it.image for it in data.items], targets, device)
    if probs.size == 0:
        return None
    train_prior, q = frequencies(probs, seen)
    shift_head_bias(net, np.log(q / train_prior))
    return {
        "painted": [round(float(v), 5) for v in train_prior],
        "estimated": [round(float(v), 5) for v in q],
    }
