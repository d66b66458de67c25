"""Patches for training and tiles for validation, cut from a :class:`TrainingSet`.

Patches are drawn where the labels are, class-balanced: a class is chosen uniformly among
the painted ones, then a labelled pixel of that class, then a patch around it with a random
offset. Each prepared array is padded once (image mirrored, labels ignored), so a patch is a
plain slice, even at the border.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_unet.core.training.dataset import TrainingSet, per_axis
from napari_unet.core.training.targets import IGNORE, labelled

_MAX_CENTRES = 400_000  # per item and class: a random subset is plenty for sampling


class PatchSampler:
    """Draw batches of training patches from a :class:`TrainingSet`.

    Parameters
    ----------
    data : TrainingSet
    patch_shape : sequence of int
        Spatial shape of the patches handed to the augmentation.
    balance : bool
        Choose the class of each patch centre uniformly (True) or by frequency (False).
    jitter : float
        Random offset of the centre, as a fraction of the patch shape (each side).
    seed : int
    """

    def __init__(
        self,
        data: TrainingSet,
        patch_shape: Sequence[int],
        *,
        balance: bool = True,
        jitter: float = 0.25,
        seed: int = 0,
    ) -> None:
        self.data = data
        nd = data.dims
        self.patch_shape = per_axis(patch_shape, nd)
        self.rng = np.random.default_rng(seed)
        self.jitter = float(jitter)
        self.regression = data.task == "regression"
        pad = [(0, 0)] + [(p, p) for p in self.patch_shape]
        self._images = [np.pad(it.image, pad, mode="reflect") for it in data.items]
        if self.regression:
            self._targets = [np.pad(it.target, pad, constant_values=np.nan) for it in data.items]
        else:
            self._targets = [
                np.pad(it.target, pad[1:], constant_values=IGNORE) for it in data.items
            ]
        self._weights = None
        if any(it.weight is not None for it in data.items):
            self._weights = [
                np.pad(
                    it.weight if it.weight is not None else np.ones(it.spatial_shape, np.float32),
                    pad[1:],
                    constant_values=1.0,
                )
                for it in data.items
            ]
        # centres per class: (item index array, flat index array)
        self._centres: list[tuple[np.ndarray, np.ndarray]] = []
        keys = [0] if self.regression else list(range(data.n_classes))
        for c in keys:
            its, flats = [], []
            for i, it in enumerate(data.items):
                lab = labelled(it.target)
                mask = lab if self.regression else (it.target == c)
                flat = np.flatnonzero(mask)
                if flat.size > _MAX_CENTRES:
                    flat = self.rng.choice(flat, _MAX_CENTRES, replace=False)
                its.append(np.full(flat.size, i, np.int32))
                flats.append(flat)
            if sum(f.size for f in flats):
                self._centres.append((np.concatenate(its), np.concatenate(flats)))
        self._weights_by_class = np.array([c[0].size for c in self._centres], float)
        self.balance = balance

    @property
    def n_channels(self) -> int:
        return self.data.items[0].image.shape[0]

    def _centre(self) -> tuple[int, tuple[int, ...]]:
        if self.balance:
            c = self.rng.integers(len(self._centres))
        else:
            p = self._weights_by_class / self._weights_by_class.sum()
            c = self.rng.choice(len(self._centres), p=p)
        its, flats = self._centres[c]
        j = self.rng.integers(its.size)
        i = int(its[j])
        pos = np.unravel_index(int(flats[j]), self.data.items[i].spatial_shape)
        return i, tuple(int(v) for v in pos)

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Draw ``n`` patches.

        Returns
        -------
        images : np.ndarray
            float32 ``(n, C, *patch_shape)``.
        targets : np.ndarray
            int64 ``(n, *patch_shape)`` (-1 = ignore), or float32 ``(n, 1, *patch_shape)``.
        weights : np.ndarray or None
            float32 ``(n, *patch_shape)`` when the set has per-pixel weights.
        """
        ps = self.patch_shape
        imgs = np.empty((n, self.n_channels, *ps), np.float32)
        if self.regression:
            tgts = np.empty((n, 1, *ps), np.float32)
        else:
            tgts = np.empty((n, *ps), np.int64)
        wts = np.empty((n, *ps), np.float32) if self._weights is not None else None
        for k in range(n):
            i, pos = self._centre()
            shape = self.data.items[i].spatial_shape
            start = []
            for p, s, size in zip(pos, ps, shape):
                j = round(self.jitter * s)
                off = int(self.rng.integers(-j, j + 1)) if j else 0
                # padded coordinates: + s; keep the patch inside the padded array
                lo = p + s - s // 2 + off
                lo = min(max(lo, 0), size + s)
                start.append(lo)
            sl = tuple(slice(a, a + s) for a, s in zip(start, ps))
            imgs[k] = self._images[i][(slice(None), *sl)]
            if self.regression:
                tgts[k] = self._targets[i][(slice(None), *sl)]
            else:
                tgts[k] = self._targets[i][sl]
            if wts is not None:
                wts[k] = self._weights[i][sl]
        return imgs, tgts, wts


def validation_tiles(
    data: TrainingSet, *, context: Sequence[int] | int = 16
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[slice, ...]]]:
    """Cut the held-out blocks with image context around them.

    Returns
    -------
    list of (image, target, weight, inner)
        ``image`` float32 ``(C, *block + 2 * context)`` (mirrored beyond the item's border),
        ``target`` the block's held-out labels padded with ignore to the full tile, ``weight``
        the block's weights or None, and ``inner`` the slices of the block inside the tile.
    """
    tiles = []
    padded: dict[int, np.ndarray] = {}
    for i, block in data.val_blocks:
        it = data.items[i]
        nd = it.image.ndim - 1
        ctx = per_axis(context, nd)
        lo = [s.start for s in block]
        hi = [s.stop for s in block]
        if i not in padded:  # context from the item itself where it exists, mirrored beyond
            padded[i] = np.pad(it.image, [(0, 0)] + [(c, c) for c in ctx], mode="reflect")
        img = padded[i][(slice(None), *(slice(a, b + 2 * c) for a, b, c in zip(lo, hi, ctx)))]
        inner = tuple(slice(c, c + (b - a)) for a, b, c in zip(lo, hi, ctx))
        if data.task == "regression":
            tgt = np.full((1, *img.shape[1:]), np.nan, np.float32)
            tgt[(slice(None), *inner)] = it.val_target[(slice(None), *block)]
        else:
            tgt = np.full(img.shape[1:], IGNORE, np.int64)
            tgt[inner] = it.val_target[block]
        w = None
        if it.weight is not None:
            w = np.ones(img.shape[1:], np.float32)
            w[inner] = it.weight[block]
        tiles.append((np.ascontiguousarray(img), tgt, w, inner))
    return tiles
