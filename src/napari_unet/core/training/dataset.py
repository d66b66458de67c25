"""From checked pairs to a training set: crops, normalisation, held-out regions, patches.

:func:`prepare_pairs` turns ``(image, target)`` pairs into a :class:`TrainingSet`: each pair
(or each index of its stack axes) is cropped to where it is labelled plus some context, read
into memory (so a big dask volume painted on a few slices costs only those slices),
normalised with the model's rule computed once over the *whole* image, and split into
training and validation regions. :class:`PatchSampler` then draws class-balanced patches
centred where the paint is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_unet.core.axes import spatial_letters
from napari_unet.core.io import to_numpy
from napari_unet.core.training.targets import (
    IGNORE,
    Prepared,
    check_classes,
    check_pair,
    hold_out_regions,
    instance_targets,
    labelled,
)

#: Labels covering less than this share of their region are a sparse painting (strokes).
SPARSE_SHARE = 1 / 3


@dataclass
class TrainingSet:
    """Prepared samples plus what was learnt about the labels.

    Attributes
    ----------
    items : list of Prepared
    task : str
    n_classes : int
        Number of output channels (K classes, or 1 for regression).
    class_counts : np.ndarray
        Labelled training pixels per class (regression: one entry).
    val_blocks : list of (int, tuple of slice)
        Held-out regions as (item index, slices in the item's spatial grid).
    target_scale : tuple of float or None
        Regression only: targets were stored as ``(t - offset) / scale``.
    """

    items: list[Prepared]
    task: str
    n_classes: int
    class_counts: np.ndarray
    val_blocks: list[tuple[int, tuple[slice, ...]]] = field(default_factory=list)
    target_scale: tuple[float, float] | None = None

    @property
    def dims(self) -> int:
        """Spatial dimensions of the samples (2 or 3)."""
        return self.items[0].image.ndim - 1

    @property
    def n_val_labelled(self) -> int:
        return int(
            sum(labelled(it.val_target).sum() for it in self.items if it.val_target is not None)
        )

    @property
    def n_train_labelled(self) -> int:
        return int(sum(labelled(it.target).sum() for it in self.items))

    @property
    def sparse(self) -> bool:
        """Whether the labels are strokes rather than masks: they cover less than
        :data:`SPARSE_SHARE` of the prepared region (training and held-out pixels)."""
        region = sum(it.target.size for it in self.items)
        return self.n_train_labelled + self.n_val_labelled < SPARSE_SHARE * region


def _stack_split(axes: str, dims: int) -> tuple[str, str]:
    space = spatial_letters(dims)
    stack = "".join(a for a in axes if a not in space and a != "C")
    return stack, space


def _reorder(block: np.ndarray, axes: str, order: str) -> np.ndarray:
    """Transpose ``block`` from ``axes`` to ``order``; a missing ``C`` becomes a new axis."""
    if "C" not in axes:
        block = block[None]
        axes = "C" + axes
    return np.transpose(block, [axes.index(a) for a in order])


def prepare_pairs(
    pairs: Sequence[tuple[Any, Any]],
    *,
    axes: str,
    dims: int = 2,
    task: str = "semantic",
    normalization: Any = None,
    n_classes: int | None = None,
    val_fraction: float = 0.1,
    region: Sequence[int] = (64, 64),
    context: Sequence[int] = (64, 64),
    border_weight: float = 10.0,
    border_sigma: float = 5.0,
    seed: int = 0,
    assignment: Sequence[np.ndarray] | None = None,
    stats: list[Any] | None = None,
) -> TrainingSet:
    """Check and prepare training pairs.

    Parameters
    ----------
    pairs : sequence of (image, target)
        numpy or dask arrays; several pairs may have different sizes.
    axes : str
        The images' axes, e.g. ``"YX"``, ``"CYX"``, ``"ZYX"``, ``"TYX"``; the targets have the
        same axes less ``C``. Axes other than C and the model's spatial axes are stack axes.
    dims : int
        2 or 3: the model's spatial dimensions.
    task : str
        ``"semantic"``, ``"instances"`` or ``"regression"``.
    normalization : Normalization or None
        The model's image rule (``stats``/``apply``); None leaves intensities as they are
        (as float32).
    n_classes : int or None
        Number of classes; default: the largest painted value.
    val_fraction : float
        Share of the labelled pixels held out for validation, by whole regions.
    region : sequence of int
        Shape of a held-out block (the last axes).
    context : sequence of int
        Image context kept around the labelled bounding box (per spatial axis, the last axes).
    border_weight, border_sigma : float
        ``w0`` and ``sigma`` of the instance border weight map (0 disables).
    seed : int
        Seed of the validation choice.
    assignment : sequence of numpy.ndarray, optional
        One int8 array per pair, shaped like its target, that keeps the training/validation
        split stable when paintings change during a run: :data:`TRAINED` and :data:`HELD_OUT`
        pixels stay where they were, pixels labelled for the first time (0 there) are split by
        the same draw as above, and the arrays are updated in place.
    stats : list, optional
        One slot per pair for the normalisation statistics of its image: None slots are
        computed and filled in place, filled ones are used as they are (a caller that
        prepares the same images again, e.g. after a label update, computes them once).

    Raises
    ------
    ValueError
        For anything wrong with the pairs (see
        :func:`~napari_unet.core.training.targets.check_pair`).
    """
    if not isinstance(pairs, Sequence) or len(pairs) == 0:
        raise ValueError("pairs must be a non-empty sequence of (image, target) pairs")
    if not isinstance(axes, str):
        raise TypeError(f"axes: expected a string such as 'YX', found {type(axes).__name__}")
    axes = axes.upper()
    stack, space = _stack_split(axes, dims)
    items: list[Prepared] = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"pair {i}: expected an (image, target) pair, got {type(pair).__name__}"
            )
        image, target = pair
        check_pair(image, target, axes=axes, dims=dims, task=task, index=i)
        items.extend(
            _prepare_one(
                image,
                target,
                i,
                axes=axes,
                stack=stack,
                space=space,
                task=task,
                normalization=normalization,
                context=context,
                w0=border_weight,
                sigma=border_sigma,
                stats=stats,
            )
        )
    target_scale = None
    if task == "regression":
        vals = np.concatenate([it.target[~np.isnan(it.target)].ravel() for it in items])
        if vals.size == 0:
            raise ValueError("regression target: every value is NaN; nothing to learn from")
        offset, scale = float(np.mean(vals)), float(np.std(vals)) or 1.0
        for it in items:
            it.target = ((it.target - offset) / scale).astype(np.float32)
        target_scale = (offset, scale)
        k = 1
    else:
        k = check_classes([it.target for it in items], task=task)
        if task == "instances":
            k = 3
        if n_classes is not None:
            if k > n_classes:
                raise ValueError(
                    f"labels: value {k} is painted but the model has n_classes={n_classes}; "
                    "use a model with more classes or fewer label values"
                )
            k = n_classes
    masks, blocks = hold_out_regions(
        [it.target for it in items], fraction=val_fraction, region=region, seed=seed
    )
    if assignment is not None:
        masks = [_keep_assignment(it, m, assignment[it.source], axes=axes, dims=dims)
                 for it, m in zip(items, masks)]
        blocks = held_out_blocks(masks, region)
    for it, m in zip(items, masks):
        if not m.any():
            continue
        fill = np.nan if task == "regression" else IGNORE
        val = np.full_like(it.target, fill)
        train = it.target.copy()
        if task == "regression":
            val[:, m] = it.target[:, m]
            train[:, m] = fill
        else:
            val[m] = it.target[m]
            train[m] = fill
        it.target, it.val_target = train, val
    if task == "regression":
        counts = np.array([sum(int(labelled(it.target).sum()) for it in items)])
    else:
        counts = np.zeros(k, np.int64)
        for it in items:
            t = it.target[it.target >= 0]
            counts += np.bincount(t, minlength=k)[:k]
    return TrainingSet(items, task, k, counts, blocks, target_scale)


def _prepare_one(
    image, target, index, *, axes, stack, space, task, normalization, context, w0, sigma,
    stats=None,
) -> list[Prepared]:
    taxes = axes.replace("C", "")
    tgt = to_numpy(target)
    norm_stats = None
    if normalization is not None:
        norm_stats = stats[index] if stats is not None else None
        if norm_stats is None:
            norm_stats = normalization.stats(image, axes=axes)
            if stats is not None:
                stats[index] = norm_stats
    out = []
    stack_shape = [tgt.shape[taxes.index(a)] for a in stack]
    for sidx in np.ndindex(*stack_shape) if stack else [()]:
        # the target for this stack index, spatial axes only
        tsel = tuple(sidx[stack.index(a)] if a in stack else slice(None) for a in taxes)
        t = tgt[tsel]
        t_axes = "".join(a for a in taxes if a not in stack)
        t = np.transpose(t, [t_axes.index(a) for a in space])
        if task == "regression":
            has = ~np.isnan(t.astype(np.float32))
        elif task == "instances":
            has = np.ones(t.shape, bool)
        else:
            has = t > 0
        if not has.any():
            continue
        nz = np.nonzero(has)
        ctx = per_axis(context, len(space))
        lo = [max(0, int(a.min()) - c) for a, c in zip(nz, ctx)]
        hi = [min(n, int(a.max()) + 1 + c) for a, n, c in zip(nz, t.shape, ctx)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        if task == "instances":
            box = tuple(slice(0, n) for n in t.shape)
        t = t[box]
        # the image block: stack index, all channels, the box
        isel = []
        for a in axes:
            if a in stack:
                isel.append(sidx[stack.index(a)])
            elif a == "C":
                isel.append(slice(None))
            else:
                isel.append(box[space.index(a)])
        block = to_numpy(image[tuple(isel)])
        b_axes = "".join(a for a in axes if a not in stack)
        if normalization is not None:
            block = normalization.apply(block, norm_stats, axes=b_axes)
        block = _reorder(np.asarray(block, np.float32), b_axes, "C" + space)
        weight = None
        if task == "semantic":
            tt = t.astype(np.int64) - 1
        elif task == "instances":
            painting, w = instance_targets(t, w0=w0, sigma=sigma)
            tt = painting.astype(np.int64) - 1
            weight = w if w0 > 0 else None
        else:
            tt = t.astype(np.float32)[None]
        out.append(
            Prepared(
                image=np.ascontiguousarray(block, dtype=np.float32),
                target=tt,
                weight=weight,
                source=index,
                offset=tuple(lo),
                stack_index=tuple(int(v) for v in sidx),
            )
        )
    return out


#: Values of an assignment array (see :func:`prepare_pairs`).
UNASSIGNED, TRAINED, HELD_OUT = 0, 1, 2


def source_view(array: np.ndarray, item: Prepared, *, axes: str, dims: int) -> np.ndarray:
    """The part of a pair-shaped ``array`` (the target's axes) that ``item`` was cut from.

    In the item's spatial order, and a view: writing into it writes into ``array``.
    """
    stack, space = _stack_split(axes.upper(), dims)
    taxes = axes.upper().replace("C", "")
    sel = tuple(item.stack_index[stack.index(a)] if a in stack else slice(None) for a in taxes)
    view = array[sel]
    rest = "".join(a for a in taxes if a not in stack)
    view = np.transpose(view, [rest.index(a) for a in space])
    return view[tuple(slice(o, o + n) for o, n in zip(item.offset, item.spatial_shape))]


def _keep_assignment(item: Prepared, drawn: np.ndarray, assignment: np.ndarray, *, axes: str,
                     dims: int) -> np.ndarray:
    """Held-out mask of ``item``: earlier choices kept, new pixels as ``drawn``; recorded."""
    seen = source_view(assignment, item, axes=axes, dims=dims)
    held = np.where(seen == UNASSIGNED, drawn, seen == HELD_OUT)
    lab = labelled(item.target)
    seen[lab & held] = HELD_OUT
    seen[lab & ~held] = TRAINED
    return held & lab


def held_out_blocks(masks: Sequence[np.ndarray], region: Sequence[int]
                    ) -> list[tuple[int, tuple[slice, ...]]]:
    """Blocks of shape ``region`` (grid-aligned) that hold the True pixels of each mask."""
    blocks = []
    for i, m in enumerate(masks):
        if not m.any():
            continue
        reg = tuple(region)[-m.ndim:]
        reg = (m.shape[0],) * (m.ndim - len(reg)) + reg
        grid = [range(0, n, r) for n, r in zip(m.shape, reg)]
        for corner in np.stack(np.meshgrid(*grid, indexing="ij"), -1).reshape(-1, m.ndim):
            sl = tuple(slice(int(c), min(int(c) + r, n)) for c, r, n in zip(corner, reg, m.shape))
            if m[sl].any():
                blocks.append((i, sl))
    return blocks


def per_axis(values: Sequence[int] | int, n: int) -> tuple[int, ...]:
    """``values`` for the last ``n`` axes; a shorter sequence repeats its first entry."""
    v = (int(values),) if np.isscalar(values) else tuple(int(x) for x in values)
    if len(v) >= n:
        return v[-n:]
    return (v[0],) * (n - len(v)) + v
