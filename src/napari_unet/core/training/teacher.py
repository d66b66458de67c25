"""Learning from the unpainted pixels: a shallow classifier as the U-Net's first teacher.

From random weights a U-Net needs minutes of CPU before it knows what the strokes mean away
from them, while a shallow pixel classifier
(:class:`~napari_unet.core.training.shallow.ShallowClassifier`) fitted on the same strokes
answers in a second or two. With ``TrainConfig.teacher`` on, a run fits one on its training
strokes, predicts the training crops, and adds the unpainted pixels it is sure of
(probability >= ``teacher_threshold``) to the training targets: the U-Net learns from the
strokes and from those confident pixels alike. In a volume painted on a few slices, that
reaches the slices nobody painted (the sparse-annotation setting of 3D U-Net, Cicek et al.
2016), where a U-Net from random weights otherwise learns slowly. Held-out regions
get no teacher labels, so the held-out strokes still judge the U-Net alone, and the
painted-pixel counts count strokes only.

The U-Net learns to answer about as the teacher does: it gains where the shallow classifier is
better than what the U-Net learns from the strokes alone, and loses where it is worse
(benchmarks/RESULTS.md, 1 % strokes, random weights, medians of 3 seeds at 60 s, teacher on
against off: 3D ovule membranes 0.558 / 0.474 (0.625 with the 3D random forest and sigma 16
that volumes now get), 3D nuclei 0.664 / 0.570 (0.678), ISBI membranes
0.585 / 0.508, but DSB nuclei 0.727 / 0.780 and Usiigaci cells 0.554 / 0.615; after the
shipped starting models, in a scratch run with a random forest as the teacher, DSB nuclei
fell 0.930 -> 0.860 and cells 0.793 -> 0.770). Nothing
seen at run time tells the two apart (the held-out strokes do not: a teacher retired once the
U-Net matched it there fell back to 0.427 on the ovule). So ``"auto"`` (the default) teaches
3D sparse paintings in runs from random weights, where it helped on both kinds measured, and
never a 2D run (mixed) nor one that starts from a shipped starting model or a given model
(which already knows more than the strokes tell).

The work is bounded: at most :data:`TEACH_PIXELS` pixels are featurised (blocks in a seeded
random order beyond that), and Stop is checked between blocks. Written for this project:
sparse-label training is the product's edge.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from napari_unet.core.training.dataset import TrainingSet
from napari_unet.core.training.shallow import ShallowClassifier, grown_block, prediction_blocks
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.validation import mean_iou

__all__ = ["TEACH_PIXELS", "Teaching", "same_strokes", "teach", "wants_teacher"]

#: Most pixels (2D) or voxels (3D) the teacher featurises per run and label update, halos
#: included: a few seconds of CPU (a voxel's features cost ~15x a pixel's).
TEACH_PIXELS = {2: 8_000_000, 3: 2_000_000}


@dataclass
class Teaching:
    """What the teacher added to a training set.

    Attributes
    ----------
    data : TrainingSet
        The training set with the confident pixels added to ``item.target`` (held-out
        targets unchanged).
    source : TrainingSet
        The strokes it was taught from.
    shallow : ShallowClassifier
        The teacher (a live preview of the same strokes may show it).
    pixels : int
        Unpainted pixels labelled by the teacher.
    predicted : int
        Pixels the teacher predicted.
    held_out_iou : float or None
        The teacher's mean IoU on the held-out strokes (None without them).
    seconds : float
        Time the fit and the predictions took.
    """

    data: TrainingSet
    source: TrainingSet
    shallow: ShallowClassifier
    pixels: int = 0
    predicted: int = 0
    held_out_iou: float | None = None
    seconds: float = 0.0

    def words(self) -> str:
        """One line for the progress record."""
        score = ("" if self.held_out_iou is None
                 else f", held-out IoU {self.held_out_iou:.2f}")
        return (f"shallow teacher: {self.pixels} unpainted pixels labelled (of "
                f"{self.predicted} predicted{score}) in {self.seconds:.1f} s")


def wants_teacher(config: Any, data: TrainingSet, *, trained_start: bool) -> bool:
    """Whether a run learns from a shallow teacher (``config.teacher``).

    ``"auto"``: 3D semantic paintings that cover less than a third of their region, in runs
    that start from random weights (``trained_start`` False). ``"on"``: every semantic run.
    """
    if data.task != "semantic" or config.teacher == "off":
        return False
    if config.teacher == "on":
        return True
    return not trained_start and data.dims == 3 and data.sparse


def same_strokes(a: TrainingSet, b: TrainingSet) -> bool:
    """Whether two training sets hold the same images, training strokes and held-out regions
    (a classifier fitted on one is fitted on the other)."""
    if a is b:
        return True
    if (a.task != b.task or len(a.items) != len(b.items)
            or _block_keys(a.val_blocks) != _block_keys(b.val_blocks)):
        return False
    return all(x.offset == y.offset and x.stack_index == y.stack_index
               and np.array_equal(x.target, y.target) and np.array_equal(x.image, y.image)
               for x, y in zip(a.items, b.items))


def _block_keys(blocks: list[tuple[int, tuple[slice, ...]]]) -> list[tuple[int, ...]]:
    """Held-out regions as sorted tuples of numbers (their order does not matter)."""
    return sorted((i, *(v for s in block for v in (s.start, s.stop))) for i, block in blocks)


def teach(data: TrainingSet, *, threshold: float = 0.9, seed: int = 0,
          max_pixels: int | None = None, stop: Callable[[], bool] | None = None,
          fitted: tuple[ShallowClassifier, float | None] | None = None) -> Teaching | None:
    """Fit a shallow classifier on the training strokes and add its confident pixels.

    Parameters
    ----------
    data : TrainingSet
        A semantic training set (not changed: the result holds new target arrays).
    threshold : float
        Least class probability of an unpainted pixel for it to be labelled.
    seed : int
        Seed of the classifier and of the block order.
    max_pixels : int or None
        Most pixels featurised (halos included); None: :data:`TEACH_PIXELS`.
    stop : callable or None
        Checked between blocks; when it returns True the teaching is abandoned (None).
    fitted : (ShallowClassifier, float or None), optional
        A classifier already fitted on these strokes (:func:`same_strokes`: a live run's
        first answer) and its held-out IoU: used instead of fitting another.

    Returns
    -------
    Teaching or None
        None when stopped, or when the strokes hold fewer than two classes.
    """
    if data.task != "semantic":
        raise ValueError(f"teach: expected a semantic training set, found task {data.task!r}")
    t0 = time.perf_counter()
    painted = {int(c) for it in data.items for c in np.unique(it.target[it.target >= 0])}
    if len(painted) < 2:
        return None
    dims = data.dims
    if fitted is not None:
        shallow, score = fitted
    else:
        shallow = ShallowClassifier(seed=seed).fit(data)
        score = mean_iou(shallow.held_out_iou(data))
    budget = TEACH_PIXELS[dims] if max_pixels is None else int(max_pixels)
    targets = [it.target.copy() for it in data.items]
    held_out = _held_out_masks(data)
    rng = np.random.default_rng(seed)
    predicted = added = spent = 0
    for i, block in _blocks(data, rng):
        if stop is not None and stop():
            return None
        it = data.items[i]
        cost = math.prod(s.stop - s.start
                         for s in grown_block(block, it.spatial_shape, shallow.halo)[0])
        if spent and spent + cost > budget:
            break
        spent += cost
        probs = shallow.block_proba(it.image, block)
        conf, label = probs.max(0), probs.argmax(0)
        sure = (conf >= threshold) & (targets[i][block] == IGNORE) & ~held_out[i][block]
        targets[i][block][sure] = label[sure]
        predicted += int(sure.size)
        added += int(sure.sum())
    items = [replace(it, target=t) for it, t in zip(data.items, targets)]
    counts = np.bincount(np.concatenate([t[t >= 0] for t in targets]),
                         minlength=data.n_classes)[: data.n_classes]
    taught = replace(data, items=items, class_counts=counts.astype(data.class_counts.dtype))
    return Teaching(taught, data, shallow, added, predicted, score, time.perf_counter() - t0)


def _held_out_masks(data: TrainingSet) -> list[np.ndarray]:
    """Per item, True inside its held-out regions (no teacher labels there)."""
    masks = [np.zeros(it.spatial_shape, bool) for it in data.items]
    for i, block in data.val_blocks:
        masks[i][block] = True
    return masks


def _blocks(data: TrainingSet, rng: np.random.Generator
            ) -> list[tuple[int, tuple[slice, ...]]]:
    """The blocks to predict: whole items when they fit in one featurisation, else the
    shallow classifier's blocks; in a seeded random order (so a budget spreads out)."""
    out = [(i, b) for i, it in enumerate(data.items) for b in prediction_blocks(it.spatial_shape)]
    return [out[j] for j in rng.permutation(len(out))]
