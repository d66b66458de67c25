"""Training data that is what it claims to be: images paired with their labels by name, and
paintings whose classes are plausible.

Folders of images and labels pair by file name, never by sort order: ``img_10.tif`` with
``mask_02.tif`` is a silent disaster. The rule (:func:`pair_by_name`): the same stem on both
sides (``a.tif`` with ``a.tif`` or ``a.png``), else the same number in the stem (``img_07``
with ``mask_7``); anything ambiguous or unmatched is refused, naming the files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.io import stem

#: Most classes a semantic painting may have unless the configuration asks for more.
MAX_CLASSES = 255
#: Label suffixes/prefixes dropped when matching names (``a_labels.tif`` pairs with ``a.tif``).
_LABEL_WORDS = ("labels", "label", "mask", "masks", "strokes", "painting", "gt", "truth")

__all__ = ["MAX_CLASSES", "check_painting", "pair_by_name"]


def _plain(name: str) -> str:
    words = [w for w in re.split(r"[_\-. ]+", name.lower()) if w and w not in _LABEL_WORDS]
    return "_".join(words)


def _number(name: str) -> int | None:
    runs = re.findall(r"\d+", name)
    return int(runs[-1]) if runs else None


def _index(paths: Sequence[Path], key: Any) -> dict[Any, Path] | None:
    out: dict[Any, Path] = {}
    for p in paths:
        k = key(stem(p))
        if k is None or k in out:
            return None
        out[k] = p
    return out


def pair_by_name(images: Sequence[str | os.PathLike], labels: Sequence[str | os.PathLike]
                 ) -> list[tuple[Path, Path]]:
    """Pair images with labels by file name.

    Parameters
    ----------
    images, labels : sequence of path
        Image files and label files (e.g. the contents of two folders).

    Returns
    -------
    list of (Path, Path)
        (image, labels) pairs, in the images' order.

    Raises
    ------
    ValueError
        If the names do not pair one to one (by the same stem, the same stem without words
        such as ``labels``/``mask``, or the same number), naming an unmatched file.
    """
    imgs, labs = [Path(p) for p in images], [Path(p) for p in labels]
    if len(imgs) != len(labs):
        raise ValueError(f"{len(imgs)} image(s) but {len(labs)} label file(s): expected one "
                         f"label file per image, paired by name")
    for key in (lambda s: s, _plain, _number):
        a, b = _index(imgs, key), _index(labs, key)
        if a is not None and b is not None and set(a) == set(b):
            return [(a[k], b[k]) for k in (key(stem(p)) for p in imgs)]
    names = {stem(p) for p in labs}
    lonely = next((p for p in imgs if stem(p) not in names), imgs[0] if imgs else None)
    raise ValueError(
        f"images and labels: expected file names that pair one to one (the same name, or the "
        f"same number such as img_07 and mask_07), found no such pairing (e.g. for image "
        f"{str(lonely)!r}); rename the files, or give the image and label files one by one "
        f"in the same order")


def check_painting(labels: Any, *, image: Any = None, task: str = "semantic",
                   n_classes: int | None = None, max_classes: int = MAX_CLASSES,
                   source: str = "labels") -> int:
    """Refuse labels that cannot be a painting or mask: non-integer values, negative values,
    the image itself, or more classes than plausible.

    Parameters
    ----------
    labels : array-like
        The painting (0 = not painted) or mask (numpy, dask or zarr).
    image : array-like, optional
        Its image: labels equal to the image are refused.
    task : str
        ``"semantic"`` (classes 1..K), ``"instances"`` (objects 1..N: any count) or
        ``"regression"`` (not checked).
    n_classes : int, optional
        Classes the configuration asks for; the limit is then ``max(n_classes, max_classes)``.
    max_classes : int
        Most classes accepted for a semantic painting.
    source : str
        Names the labels in messages.

    Returns
    -------
    int
        The largest label value.

    Raises
    ------
    ValueError
        Naming the labels, what was expected and what was found, and the likely mistake.
    """
    if task == "regression":
        return 0
    data = labels.compute() if hasattr(labels, "compute") else labels
    data = np.asarray(data)
    if data.dtype.kind == "b":
        return int(data.any())
    if data.dtype.kind not in "iuf":
        raise ValueError(f"{source}: expected integer labels, found dtype {data.dtype}")
    if data.size == 0:
        raise ValueError(f"{source}: expected labels, found an empty array")
    if data.dtype.kind == "f":
        if not np.isfinite(data).all() or not np.array_equal(data, np.round(data)):
            raise ValueError(f"{source}: expected whole-number labels (0 = not painted, "
                             f"1..K = classes), found fractional or non-finite values; is "
                             f"this an image instead of its labels?")
    low, high = float(data.min()), float(data.max())
    if low < 0:
        raise ValueError(f"{source}: expected labels >= 0 (0 = not painted), found {low:g}")
    if image is not None and tuple(np.shape(image)) == data.shape and high > 1:
        img = image.compute() if hasattr(image, "compute") else image
        if np.array_equal(np.asarray(img), data):
            raise ValueError(f"{source}: expected a painting or mask, found the image itself; "
                             f"give the labels file after --labels")
    limit = max(int(n_classes or 0), max_classes)
    if task == "semantic" and high > limit:
        raise ValueError(
            f"{source}: expected class values 1..K with K <= {limit} (0 = not painted), found "
            f"values up to {high:g}; is this the image, or an instance mask (then use "
            f"--task instances), or does it hold a stray value? (set n_classes to allow more)")
    return int(high)
