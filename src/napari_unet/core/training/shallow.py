"""A shallow pixel classifier fitted on the strokes: the live preview's first answer.

A forest of extremely randomised trees on multiscale image features (smoothed intensity,
edges and texture at a few scales, per channel: :func:`skimage.feature.multiscale_basic_features`,
the ilastik recipe) learns the painted classes in well under a second on a CPU, on data no
starting model knows. Extra trees rather than a random forest: on 1 % strokes of ISBI EM,
DSB nuclei and Usiigaci cells (32 trees) they scored the same foreground IoU on held-out
images (0.563 / 0.799 / 0.491 against 0.554 / 0.784 / 0.489) and fitted 2-3x faster. Volumes
get a random forest and scales up to 16 voxels: from a few hundred painted voxels of the ovule
membranes it scored 0.57 where extra trees scored 0.32, and sigma 16 lifted a random forest
from 0.47 to 0.61 (benchmarks/RESULTS.md).
The Train widget shows it from the first seconds of a run until the U-Net matches it on the
held-out strokes (:meth:`ShallowClassifier.held_out_iou` counts pixels exactly as the U-Net's
validation does, :func:`~napari_unet.core.training.validation.evaluate`); the model that is
saved and predicted with is always the U-Net.

Time is bounded for any input: a fit featurises at most ``max_pixels`` pixels (whole prepared
items when they fit, else blocks that hold strokes of every class, taken in turn) and learns
from at most ``max_samples`` pixels per class; prediction goes block by block with a halo wide
enough that blocks join without seams (the result equals an untiled prediction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from napari_unet.core.metrics import confusion_counts, iou_from_confusion
from napari_unet.core.training.dataset import TrainingSet
from napari_unet.core.training.validation import MAX_VAL_TILES

__all__ = ["ShallowClassifier", "grid_blocks", "grown_block", "pixel_features",
           "prediction_blocks"]

#: Side of a block featurised at once (2D, 3D) in images bigger than :data:`WHOLE`.
BLOCK_SIDE = {2: 512, 3: 64}
#: Images up to this many pixels are featurised in one go (features: 64 or 80 bytes a pixel).
WHOLE = {2: 2_100_000, 3: 1_100_000}
#: Largest feature scale by spatial dimensions when ``sigma_max`` is None: in volumes sigma 16
#: lifted the ovule's answer from 0.47 to 0.61 IoU (random forest; benchmarks/RESULTS.md).
SIGMA_MAX = {2: 8.0, 3: 16.0}
#: Featurised pixels per fit when ``max_pixels`` is None (a 3D voxel costs ~15x a 2D pixel:
#: about 0.13 us and 2 us on one CPU core: a second in 2D, two in 3D).
FIT_PIXELS = {2: 2_000_000, 3: 1_000_000}


def pixel_features(image: np.ndarray, *, sigma_max: float = 8.0) -> np.ndarray:
    """Multiscale features of a normalised ``(C, *spatial)`` image: ``(*spatial, F)`` float32.

    Per channel and per scale ``sigma`` in 1, 2, 4, ... ``sigma_max``: the Gaussian-smoothed
    intensity, its gradient magnitude and the eigenvalues of its Hessian (2 in 2D, 3 in 3D).
    """
    from skimage.feature import multiscale_basic_features

    img = np.asarray(image, np.float32)
    f = multiscale_basic_features(img, sigma_min=1.0, sigma_max=float(sigma_max),
                                  channel_axis=0)
    return np.asarray(f, np.float32)


def _halo(sigma_max: float) -> int:
    """Pixels of context a feature needs: the Gaussian's radius (4 sigma) + 2 derivatives."""
    return math.ceil(4.0 * sigma_max) + 3


def grid_blocks(shape: Sequence[int], side: int) -> list[tuple[slice, ...]]:
    """Blocks of at most ``side`` per axis covering ``shape`` (row-major order)."""
    counts = [max(1, math.ceil(n / side)) for n in shape]
    return [tuple(slice(j * side, min((j + 1) * side, n)) for j, n in zip(index, shape))
            for index in np.ndindex(*counts)]


def prediction_blocks(shape: Sequence[int]) -> list[tuple[slice, ...]]:
    """The blocks a prediction featurises one at a time (:meth:`ShallowClassifier.predict_proba`,
    the teacher): the whole image up to :data:`WHOLE` pixels, else blocks of
    :data:`BLOCK_SIDE`."""
    dims = len(shape)
    side = max(shape) if math.prod(shape) <= WHOLE[dims] else BLOCK_SIDE[dims]
    return grid_blocks(shape, side)


def grown_block(block: tuple[slice, ...], shape: Sequence[int], halo: int
                ) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """``block`` grown by ``halo`` (clipped to ``shape``) and the block inside the grown one."""
    cut = tuple(slice(max(0, s.start - halo), min(n, s.stop + halo)) for s, n in zip(block, shape))
    inner = tuple(slice(s.start - c.start, s.stop - c.start) for s, c in zip(block, cut))
    return cut, inner


class ShallowClassifier:
    """A pixel classifier on multiscale features, fitted on painted pixels (extra trees in 2D,
    a random forest in 3D).

    Parameters
    ----------
    sigma_max : float or None
        Largest feature scale (pixels); scales are 1, 2, 4, ... up to it. None:
        :data:`SIGMA_MAX` of the data's dimensions (8 in 2D, 16 in 3D), set by :meth:`fit`.
    n_estimators : int
        Trees of the forest.
    max_samples : int
        Most training pixels per class (drawn at random, so classes are balanced).
    max_pixels : int or None
        Most pixels featurised per fit; None: 2 million in 2D, 500 000 in 3D.
    seed : int
        Seed of the pixel draw and of the forest.

    Attributes
    ----------
    n_classes : int
        K, the training set's number of classes (0 before :meth:`fit`).
    n_channels, dims : int
        The channels and spatial dimensions of the images it was fitted on.
    n_samples : int
        Pixels the forest learnt from.
    """

    def __init__(self, *, sigma_max: float | None = None, n_estimators: int = 32,
                 max_samples: int = 5000, max_pixels: int | None = None, seed: int = 0) -> None:
        if sigma_max is not None and not sigma_max >= 1.0:
            raise ValueError(f"sigma_max: expected a scale >= 1 pixel, found {sigma_max!r}")
        if n_estimators < 1 or max_samples < 1:
            raise ValueError(f"n_estimators and max_samples: expected >= 1, found "
                             f"{n_estimators} and {max_samples}")
        self._scale = None if sigma_max is None else float(sigma_max)
        self.sigma_max = self._scale or SIGMA_MAX[2]
        self.n_estimators = int(n_estimators)
        self.max_samples = int(max_samples)
        self.max_pixels = max_pixels
        self.seed = int(seed)
        self.n_classes = 0
        self.n_channels = 0
        self.dims = 0
        self.n_samples = 0
        self._forest = None
        self._columns = np.zeros(0, np.int64)
        # per item featurised whole by fit: the item, the flat indices of its held-out pixels
        # and their features (held_out_iou reads them instead of featurising the item again)
        self._held_out: dict[int, tuple[object, np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, data: TrainingSet) -> ShallowClassifier:
        """Learn the classes of the training pixels of ``data`` (``item.target >= 0``).

        Held-out pixels (``item.val_target``) are not used, so :meth:`held_out_iou` can be
        compared with the U-Net's validation IoU.

        Raises
        ------
        ValueError
            For a regression set (no classes to learn), or when no training pixel is labelled.
        """
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        if data.task == "regression":
            raise ValueError("ShallowClassifier.fit: expected a semantic or instances training "
                             "set, found task 'regression'; a pixel classifier learns classes, "
                             "not values")
        items = data.items
        self.n_classes = int(data.n_classes)
        self.n_channels = int(items[0].image.shape[0])
        self.dims = data.dims
        self.sigma_max = self._scale or SIGMA_MAX[self.dims]
        rng = np.random.default_rng(self.seed)
        units, halo = self._fit_units(data, rng)
        picks = self._draw(data, units, rng)
        xs, ys = [], []
        self._held_out = {}
        for (i, block), flat in zip(units, picks):
            if flat.size == 0:
                continue
            it = items[i]
            cut, inner = grown_block(block, it.spatial_shape, halo)
            feats = pixel_features(it.image[(slice(None), *cut)], sigma_max=self.sigma_max)
            rows = feats[inner].reshape(-1, feats.shape[-1])
            xs.append(rows[flat])
            ys.append(it.target[block].ravel()[flat])
            whole = all(s.stop - s.start == n for s, n in zip(cut, it.spatial_shape))
            if whole and it.val_target is not None:  # features of the untiled item
                where = np.flatnonzero(it.val_target.ravel() >= 0)
                self._held_out[i] = (it, where, rows[where])
        if not xs:
            raise ValueError("ShallowClassifier.fit: no labelled training pixels (target >= 0) "
                             "in the training set; paint at least two classes")
        x, y = np.concatenate(xs), np.concatenate(ys)
        # volumes: a random forest (best splits on bootstrap samples); on the ovule strokes it
        # scored 0.57 where extra trees scored 0.32 (benchmarks/RESULTS.md)
        kind = RandomForestClassifier if self.dims == 3 else ExtraTreesClassifier
        forest = kind(
            n_estimators=self.n_estimators, min_samples_leaf=5, max_features="sqrt",
            class_weight="balanced", n_jobs=-1, random_state=self.seed)
        forest.fit(x, y)
        self._forest = forest
        self._columns = np.asarray(forest.classes_, np.int64)
        self.n_samples = int(y.size)
        return self

    def _fit_units(self, data: TrainingSet, rng: np.random.Generator
                   ) -> tuple[list[tuple[int, tuple[slice, ...]]], int]:
        """(item, block) pairs to featurise and their halo.

        Whole items when they fit the budget; else blocks (half the prediction block per
        side) that hold training pixels, classes taking turns, until the budget is spent.
        The halo of a block is at most half its side (3D: features within 16 voxels of a
        block's edge see a mirrored neighbourhood; in 2D the full halo fits).
        """
        budget = self.max_pixels or FIT_PIXELS[self.dims]
        items = [(i, it) for i, it in enumerate(data.items) if (it.target >= 0).any()]
        side = BLOCK_SIDE[self.dims] // 2
        halo = min(_halo(self.sigma_max), side // 2)
        if sum(math.prod(it.spatial_shape) for _, it in items) <= budget:
            return [(i, tuple(slice(0, n) for n in it.spatial_shape)) for i, it in items], halo
        by_class: list[list[tuple[int, tuple[slice, ...], int]]] = [
            [] for _ in range(self.n_classes)]
        for i, it in items:
            for block in grid_blocks(it.spatial_shape, side):
                t = it.target[block]
                cost = math.prod(s.stop - s.start for s in grown_block(block, it.spatial_shape,
                                                                       halo)[0])
                for c in np.unique(t[t >= 0]):
                    by_class[int(c)].append((i, block, cost))
        queues = [[q[j] for j in rng.permutation(len(q))] for q in by_class if q]
        chosen: list[tuple[int, tuple[slice, ...]]] = []
        seen: set[tuple[int, ...]] = set()
        used = 0
        while any(queues):  # classes take turns, so every painted class gets blocks
            for q in queues:
                while q:
                    i, block, cost = q.pop()
                    key = (i, *(s.start for s in block))
                    if key in seen:
                        continue
                    if chosen and used + cost > budget:
                        return chosen, halo
                    seen.add(key)
                    chosen.append((i, block))
                    used += cost
                    break
        return chosen, halo

    def _draw(self, data: TrainingSet, units: list[tuple[int, tuple[slice, ...]]],
              rng: np.random.Generator) -> list[np.ndarray]:
        """Flat indices (per unit) of at most ``max_samples`` training pixels per class."""
        targets = [data.items[i].target[block].ravel() for i, block in units]
        picks: list[list[np.ndarray]] = [[] for _ in units]
        for c in range(self.n_classes):
            where = [np.flatnonzero(t == c) for t in targets]
            total = sum(w.size for w in where)
            if total == 0:
                continue
            keep = np.sort(rng.choice(total, min(total, self.max_samples), replace=False))
            start = 0
            for u, w in enumerate(where):
                sel = keep[(keep >= start) & (keep < start + w.size)] - start
                picks[u].append(w[sel])
                start += w.size
        return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in picks]

    # ------------------------------------------------------------------ prediction
    @property
    def halo(self) -> int:
        """Pixels of context each side that make a block's prediction equal the untiled one
        (a caller that predicts tile by tile, e.g. to check Stop between tiles, cuts tiles
        grown by it and keeps their inner part)."""
        return _halo(self.sigma_max)

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities ``(K, *spatial)`` float32 of a normalised ``(C, *spatial)`` image.

        Normalise the image with the model's rule first (as the training items are). Classes
        never painted get probability 0. Images over 2.1 million pixels (1.1 million voxels)
        are featurised in blocks of 512 x 512 (64^3) with a halo: the result equals an untiled
        prediction.
        """
        img = self._check(image)
        spatial = img.shape[1:]
        out = np.zeros((self.n_classes, *spatial), np.float32)
        halo = _halo(self.sigma_max)
        for block in prediction_blocks(spatial):
            out[(slice(None), *block)] = self._block_proba(img, block, halo)
        return out

    def block_proba(self, image: np.ndarray, block: tuple[slice, ...]) -> np.ndarray:
        """Class probabilities ``(K, *block shape)`` of one block of a normalised
        ``(C, *spatial)`` image, featurised with its halo (equal to the same block of
        :meth:`predict_proba`; a caller that checks Stop between blocks uses it)."""
        return self._block_proba(self._check(image), block, _halo(self.sigma_max))

    def _block_proba(self, img: np.ndarray, block: tuple[slice, ...], halo: int
                     ) -> np.ndarray:
        cut, inner = grown_block(block, img.shape[1:], halo)
        feats = pixel_features(img[(slice(None), *cut)], sigma_max=self.sigma_max)[inner]
        p = self._forest.predict_proba(feats.reshape(-1, feats.shape[-1]))
        out = np.zeros((self.n_classes, *feats.shape[:-1]), np.float32)
        for j, c in enumerate(self._columns):
            out[int(c)] = p[:, j].reshape(feats.shape[:-1])
        return out

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Class index per pixel, ``(*spatial)`` int 0..K-1 (painting value minus 1)."""
        p = self.predict_proba(image)
        return p.argmax(0).astype(np.uint8 if self.n_classes <= 255 else np.uint16)

    def _fitted(self) -> None:
        if self._forest is None:
            raise ValueError("ShallowClassifier: expected a fitted classifier, found one that "
                             "was never fitted; call fit(data) first")

    def _check(self, image: np.ndarray) -> np.ndarray:
        self._fitted()
        img = np.asarray(image, np.float32)
        if img.ndim != self.dims + 1 or img.shape[0] != self.n_channels:
            raise ValueError(
                f"image: expected a normalised (C, *spatial) array with C = {self.n_channels} "
                f"and {self.dims} spatial axes, found shape {tuple(img.shape)}")
        return img

    # ------------------------------------------------------------------ validation
    def held_out_iou(self, data: TrainingSet, *, max_blocks: int | None = None
                     ) -> list[float | None]:
        """Per-class IoU on the held-out pixels of ``data`` (``item.val_target >= 0``).

        Counted as the U-Net's validation counts it: one confusion matrix over the held-out
        blocks (at most ``max_blocks``, spread out as the trainer spreads them; None: the
        trainer's own limit), then :func:`~napari_unet.core.metrics.iou_from_confusion`. None
        for classes absent from truth and prediction (all None without held-out pixels).
        Items of the fitted set that :meth:`fit` featurised whole are scored from the
        features it kept of their held-out pixels (on the 100^3 nuclei sample, 0.07 s
        instead of 2.9 s).
        """
        self._fitted()
        blocks = list(data.val_blocks)
        limit = MAX_VAL_TILES if max_blocks is None else int(max_blocks)
        if len(blocks) > limit:
            keep = np.linspace(0, len(blocks) - 1, limit).round().astype(int)
            blocks = [blocks[i] for i in keep]
        k = self.n_classes
        cm = np.zeros((k, k), np.int64)
        halo = _halo(self.sigma_max)
        for i in sorted({i for i, _ in blocks}):
            it = data.items[i]
            if it.val_target is None:
                continue
            mine = [b for j, b in blocks if j == i and (it.val_target[b] >= 0).any()]
            if i in self._held_out and self._held_out[i][0] is it:
                _, where, rows = self._held_out[i]
                at = np.unravel_index(where, it.spatial_shape)
                for block in mine:  # the fit's features of this item's held-out pixels
                    pick = np.logical_and.reduce([(a >= b.start) & (a < b.stop)
                                                  for a, b in zip(at, block)])
                    pred = self._columns[self._forest.predict_proba(rows[pick]).argmax(1)]
                    cm += confusion_counts(pred, it.val_target.ravel()[where[pick]], k)
                continue
            cuts = [grown_block(b, it.spatial_shape, halo) for b in mine]
            size = math.prod(it.spatial_shape)  # featurise the whole item when that is cheaper
            whole = (pixel_features(it.image, sigma_max=self.sigma_max)
                     if size <= min(WHOLE[self.dims], sum(math.prod(s.stop - s.start for s in c)
                                                           for c, _ in cuts)) else None)
            for block, (cut, inner) in zip(mine, cuts):
                feats = (whole[block] if whole is not None else pixel_features(
                    it.image[(slice(None), *cut)], sigma_max=self.sigma_max)[inner])
                tgt = it.val_target[block]
                rows = feats[tgt >= 0]  # only the held-out pixels are predicted
                pred = self._columns[self._forest.predict_proba(rows).argmax(1)]
                cm += confusion_counts(pred, tgt[tgt >= 0], k)
        if cm.sum() == 0:
            return [None] * k
        return iou_from_confusion(cm)
