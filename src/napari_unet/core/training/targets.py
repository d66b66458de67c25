"""Training pairs: checks, targets and the prepared arrays the training loop samples from.

A *pair* is ``(image, target)``: numpy or dask arrays, the image with the axes named by an
axes string (``"YX"``, ``"CYX"``, ``"ZYX"``, ``"TYX"``, ...), the target with the same axes
less ``C``. Three kinds of target (``task``):

``"semantic"``
    A painting: 0 = not painted (ignored in training), 1..K = classes (1 = background by
    convention). Sparse strokes and dense masks are the same thing to the code.
``"instances"``
    An instance mask: 0 = background, 1..N = objects. Converted to three classes, background
    (1), interior (2) and boundary (3), with the U-Net paper's border weight map so touching
    objects separate (see :func:`instance_targets`).
``"regression"``
    A float image (e.g. a stain, a denoised image); NaN marks pixels to ignore.

Inside training the targets are ``int64`` class indices with ``-1`` = ignore (semantic and
instances) or ``float32`` values with NaN = ignore (regression).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from napari_unet.core.axes import check_axes as check_general_axes
from napari_unet.core.axes import spatial_letters
from napari_unet.core.io import to_numpy

TASKS = ("semantic", "instances", "regression")
INSTANCE_CLASS_NAMES = ("background", "interior", "boundary")
IGNORE = -1


def check_axes(axes: str, *, dims: int, ndim: int, what: str = "image") -> str:
    """Check a training pair's axes string; return it upper case.

    The alphabet and the general rules are :func:`napari_unet.core.axes.check_axes`; training
    adds: the model's spatial axes are present, and a 2D model gets no ``Z`` axis (a 3D image).
    Axes other than ``C`` and the model's spatial axes (``T`` or ``S``) are *stack* axes:
    each index along them is a separate training sample.

    Parameters
    ----------
    axes : str
        E.g. ``"YX"``, ``"CYX"``, ``"ZYX"``, ``"SYX"``.
    dims : {2, 3}
        The model's spatial dimensions.
    ndim : int
        The image's number of dimensions.
    what : str
        Names the input in error messages.

    Raises
    ------
    ValueError
        ``"<what>: expected ..., found ..."``: unknown or repeated letters, a length that does
        not match ``ndim``, missing spatial axes, or a ``Z`` axis for a 2D model.
    """
    space = spatial_letters(dims)
    name = check_general_axes(axes, ndim=ndim, what=what)
    if dims == 2 and "Z" in name:
        raise ValueError(
            f"{what}: expected axes without Z for a 2D model, found {axes!r}: the image is 3D "
            "but the model is 2D; train a 3D model (dims=3), or name the slice axis 'S' "
            "(samples) to train a 2D model on each slice"
        )
    missing = "".join(a for a in space if a not in name)
    if missing:
        raise ValueError(
            f"{what}: expected axes with the spatial axes {space!r} of a {dims}D model, found "
            f"{axes!r}, which lacks {missing!r}"
        )
    return name


def check_shapes(ishape: tuple[int, ...], tshape: tuple[int, ...], *, axes: str, dims: int,
                 task: str, index: int = 0) -> None:
    """Check a training pair's axes and shapes only (reads no data: cheap on any image).

    Raises
    ------
    ValueError
        As :func:`check_axes`, or when the target's shape is not the image's without ``C``.
    """
    name = f"pair {index}"
    ishape, tshape = tuple(ishape), tuple(tshape)
    check_axes(axes, dims=dims, ndim=len(ishape), what=f"{name}: image")
    axes = axes.upper()
    expect = tuple(s for a, s in zip(axes, ishape) if a != "C")
    if tshape != expect:
        what = "regression target" if task == "regression" else "labels"
        raise ValueError(
            f"{name}: image shape {ishape} (axes {axes!r}) and {what} shape {tshape} do not "
            f"match; the {what} must have the image's shape without the channel axis, {expect}"
        )


def check_pair(image: Any, target: Any, *, axes: str, dims: int, task: str, index: int = 0) -> None:
    """Check one training pair and raise a clear ``ValueError`` for what is wrong.

    Checks: axes, image/target shapes, label dtype (integers, not negative) for
    ``semantic``/``instances``, float target for ``regression``, NaN in the image, and
    enough painted classes (at least two, or one object and background for instances).
    The arrays are read fully for the label checks, the image in full for the NaN check.
    """
    name = f"pair {index}"
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    ishape = tuple(image.shape)
    tshape = tuple(target.shape)
    check_shapes(ishape, tshape, axes=axes, dims=dims, task=task, index=index)
    img_dtype = np.dtype(image.dtype)
    if not (np.issubdtype(img_dtype, np.number) or img_dtype.kind == "b"):
        raise ValueError(f"{name}: image must be numeric, got dtype {img_dtype}")
    if np.issubdtype(img_dtype, np.floating) or np.issubdtype(img_dtype, np.complexfloating):
        if bool(_nan_probe(image)):
            raise ValueError(
                f"{name}: the image contains NaN values; fill or crop them before training"
            )
    tdt = np.dtype(target.dtype)
    if task == "regression":
        if not np.issubdtype(tdt, np.number):
            raise ValueError(f"{name}: regression target must be numeric, got dtype {tdt}")
        return
    if np.issubdtype(tdt, np.floating) or not (np.issubdtype(tdt, np.integer) or tdt.kind == "b"):
        raise ValueError(
            f"{name}: labels must be integers (0 = not painted, 1..K = classes), got dtype "
            f"{tdt}; a float mask is not a painting: convert it, e.g. labels.astype(np.uint8)"
        )
    t = to_numpy(target)
    if t.size and np.issubdtype(tdt, np.signedinteger) and t.min() < 0:
        raise ValueError(
            f"{name}: labels contain negative values (min {int(t.min())}); expected 0 = not "
            "painted and 1..K = classes"
        )


def _nan_probe(image: Any) -> Any:
    """Whether any NaN is in the image (evaluated lazily for dask)."""
    if hasattr(image, "compute"):
        import dask.array as da

        return da.isnan(image).any().compute()
    return np.isnan(np.asarray(image)).any()


def check_classes(targets: Sequence[np.ndarray], *, task: str) -> int:
    """Check that the prepared targets hold enough labels; return the number of classes K.

    ``targets`` hold class indices (``-1`` = ignore). Raises ``ValueError`` when nothing is
    painted or only one class is.
    """
    present: set[int] = set()
    total = 0
    k = 0
    for t in targets:
        painted = t[t >= 0]
        total += painted.size
        if painted.size:
            u = np.unique(painted)
            present.update(int(v) for v in u)
            k = max(k, int(u.max()) + 1)
    if total == 0:
        raise ValueError(
            "labels: no painted pixels in any pair; paint at least two classes (values 1..K, "
            "0 = not painted)"
        )
    if len(present) < 2:
        only = next(iter(present)) + 1
        if task == "instances":
            raise ValueError(
                "labels: the instance masks give only one class (all background or all "
                "object); they need both objects and background or object borders"
            )
        raise ValueError(
            f"labels: only class {only} is painted; paint at least two classes (e.g. 1 = "
            "background and 2 = the objects)"
        )
    return k


# --- targets --------------------------------------------------------------------------------


def border_weight_map(
    instances: np.ndarray, *, w0: float = 10.0, sigma: float = 5.0, margin: float | None = None
) -> np.ndarray:
    """The U-Net paper's separation weight ``w0 * exp(-(d1 + d2)**2 / (2 sigma**2))``.

    ``d1`` and ``d2`` are the distances (pixels) to the nearest and second-nearest object;
    the weight is given to background pixels, where it is large in the narrow gaps between
    touching objects. Each object's distance transform is computed only in its bounding box
    grown by ``margin`` (default ``3 * sigma``), beyond which the weight is negligible.

    Parameters
    ----------
    instances : np.ndarray
        Integer instance ids, 0 = background, 2D or 3D.

    Returns
    -------
    np.ndarray
        float32, same shape; 0 on objects and far from any gap.
    """
    inst = np.asarray(instances)
    margin = 3.0 * sigma if margin is None else margin
    m = int(np.ceil(margin))
    big = np.float32(1e6)
    d1 = np.full(inst.shape, big, np.float32)
    d2 = np.full(inst.shape, big, np.float32)
    objects = ndi.find_objects(inst)
    for label, box in enumerate(objects, start=1):
        if box is None:
            continue
        grown = tuple(
            slice(max(0, s.start - m), min(n, s.stop + m)) for s, n in zip(box, inst.shape)
        )
        dist = ndi.distance_transform_edt(inst[grown] != label).astype(np.float32)
        a, b = d1[grown], d2[grown]
        closer = dist < a
        b[:] = np.where(closer, a, np.minimum(b, dist))
        a[:] = np.where(closer, dist, a)
    w = w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma**2))
    w[inst > 0] = 0.0
    return w.astype(np.float32)


def instance_targets(
    instances: np.ndarray, *, w0: float = 10.0, sigma: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Instance mask -> three-class painting and per-pixel loss weights.

    Classes: 1 = background, 2 = object interior, 3 = object boundary (the object's own pixels
    that touch the background or another object). Weights: 1 plus
    :func:`border_weight_map` (``w0``, ``sigma`` as in the U-Net paper).

    Returns
    -------
    painting : np.ndarray
        uint8, values 1..3.
    weights : np.ndarray
        float32, >= 1.
    """
    from skimage.segmentation import find_boundaries

    inst = np.asarray(instances)
    painting = np.ones(inst.shape, np.uint8)
    painting[inst > 0] = 2
    edge = find_boundaries(inst, mode="inner") & (inst > 0)
    painting[edge] = 3
    weights = 1.0 + border_weight_map(inst, w0=w0, sigma=sigma) if w0 > 0 else None
    if weights is None:
        weights = np.ones(inst.shape, np.float32)
    return painting, weights.astype(np.float32)


# --- prepared pairs -------------------------------------------------------------------------


@dataclass
class Prepared:
    """One training sample ready for patch sampling (spatial axes only, channels first).

    Attributes
    ----------
    image : np.ndarray
        float32 ``(C, *spatial)``, normalised with the model's rule.
    target : np.ndarray
        ``int64 (*spatial)`` class indices with -1 = ignore, or ``float32 (1, *spatial)`` for
        regression (NaN = ignore). Validation regions are already ignored here.
    val_target : np.ndarray or None
        The same kind of array holding only the held-out validation regions.
    weight : np.ndarray or None
        float32 ``(*spatial)`` per-pixel loss weights (instances).
    source : int
        Index of the pair this came from.
    offset : tuple of int
        Where ``image[..., 0, 0]`` sits in the source pair's full spatial grid.
    stack_index : tuple of int
        The index along the pair's stack axes (T, S, ...) this sample was cut from.
    """

    image: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None = None
    val_target: np.ndarray | None = None
    source: int = 0
    offset: tuple[int, ...] = ()
    stack_index: tuple[int, ...] = ()

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.image.shape[1:])


def labelled(target: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels of a prepared target that carry a label."""
    if target.dtype.kind == "f":
        return ~np.isnan(target[0] if target.ndim and target.shape[0] == 1 else target)
    return target >= 0


def hold_out_regions(
    targets: Sequence[np.ndarray],
    *,
    fraction: float,
    region: Sequence[int],
    seed: int = 0,
    min_labelled: int = 200,
) -> tuple[list[np.ndarray], list[tuple[int, tuple[slice, ...]]]]:
    """Choose whole regions (blocks of the spatial grid) to hold out for validation.

    Blocks of shape ``region`` (the last axes; a leading Z axis, if the targets are 3D and
    ``region`` is 2D, spans the whole depth) are drawn at random until they hold about
    ``fraction`` of the labelled pixels. A block is skipped if taking it would leave training
    with less than half of some class. Held-out pixels are never scattered: validation
    measures how the model does on places it has not seen painted.

    Returns
    -------
    masks : list of np.ndarray
        One boolean mask per target, True where held out. All False when ``fraction`` is 0 or
        too little is labelled to spare some.
    blocks : list of (int, tuple of slice)
        The held-out blocks: target index and the block's slices (clipped to the target).
    """
    rng = np.random.default_rng(seed)
    masks = [np.zeros(labelled(t).shape, bool) for t in targets]
    total = sum(int(labelled(t).sum()) for t in targets)
    chosen: list[tuple[int, tuple[slice, ...]]] = []
    if fraction <= 0 or total < min_labelled:
        return masks, chosen
    blocks = []
    class_total: dict[int, int] = {}
    for i, t in enumerate(targets):
        lab = labelled(t)
        nd = lab.ndim
        reg = tuple(region)[-nd:]
        reg = (lab.shape[0],) * (nd - len(reg)) + reg
        grid = [range(0, n, r) for n, r in zip(lab.shape, reg)]
        for corner in np.stack(np.meshgrid(*grid, indexing="ij"), -1).reshape(-1, nd):
            sl = tuple(slice(int(c), int(c) + r) for c, r in zip(corner, reg))
            n = int(lab[sl].sum())
            if n == 0:
                continue
            counts = {}
            if t.dtype.kind != "f":
                vals, cnt = np.unique(t[sl][lab[sl]], return_counts=True)
                counts = {int(v): int(c) for v, c in zip(vals, cnt)}
                for v, c in counts.items():
                    class_total[v] = class_total.get(v, 0) + c
            blocks.append((i, sl, n, counts))
    if len(blocks) < 2:
        return masks, chosen
    taken = 0
    held: dict[int, int] = {}
    for j in rng.permutation(len(blocks)):
        i, sl, n, counts = blocks[j]
        if any(held.get(v, 0) + c > 0.5 * class_total[v] for v, c in counts.items()):
            continue
        if taken + n > 1.5 * fraction * total and taken > 0:
            continue
        masks[i][sl] = True
        shape = masks[i].shape
        chosen.append((i, tuple(slice(a.start, min(a.stop, m)) for a, m in zip(sl, shape))))
        taken += n
        for v, c in counts.items():
            held[v] = held.get(v, 0) + c
        if taken >= fraction * total:
            break
    return masks, chosen
