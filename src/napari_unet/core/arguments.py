"""Checks of the public API's arguments: wrong types fail with a TypeError or ValueError that
names the argument, what was expected and what was found, before any work starts (instead of
an AttributeError deep inside, or a silent misreading of a nested list).

One rule per kind of argument: arrays (numpy, dask, zarr: anything with ``shape``, ``ndim``
and ``dtype``), models, training pairs, stop flags, callbacks and generators. The public
functions (:func:`napari_unet.predict`, :func:`napari_unet.train`, ...) call them first.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "check_array",
    "check_callback",
    "check_generator",
    "check_model",
    "check_pairs",
    "check_path",
    "check_real",
    "check_stop",
]


def _found(value: Any) -> str:
    text = " ".join(repr(value).split())
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def check_array(value: Any, *, what: str) -> Any:
    """``value`` when it is an array (numpy, dask, zarr, ...); else a TypeError naming ``what``.

    Nested lists and tuples are refused rather than converted: a list of images is a
    different thing from an image, and guessing between them trains on the wrong data.
    """
    if all(hasattr(value, a) for a in ("shape", "ndim", "dtype")):
        return value
    hint = ""
    if type(value).__name__ == "UNet":
        hint = "; a model goes to the model argument (objects take probabilities and model.meta)"
    elif isinstance(value, (list, tuple)):
        hint = "; wrap a nested list with numpy.asarray(...)"
    elif isinstance(value, (str, os.PathLike)):
        hint = "; read the file first (e.g. tifffile.imread)"
    raise TypeError(f"{what}: expected an array (numpy, dask or zarr), found "
                    f"{_found(value)}{hint}")


def check_real(value: Any, *, what: str) -> Any:
    """``value`` when it is an array of real numbers (bool, integer or float dtype)."""
    check_array(value, what=what)
    kind = getattr(value.dtype, "kind", "")
    if kind not in "biuf":
        hint = "; keep the magnitude (abs) or the real part" if kind == "c" else ""
        raise TypeError(f"{what}: expected real numbers (a bool, integer or float dtype), "
                        f"found dtype {value.dtype}{hint}")
    return value


def check_model(value: Any, *, what: str = "model", optional: bool = False) -> Any:
    """``value`` when it is a napari-unet ``UNet`` (or None when ``optional``)."""
    from napari_unet.core.model import UNet

    if isinstance(value, UNet) or (optional and value is None):
        return value
    hint = ("; load a model file first with napari_unet.load_model(path)"
            if isinstance(value, (str, os.PathLike)) else "")
    raise TypeError(f"{what}: expected a napari-unet UNet{' or None' if optional else ''}, "
                    f"found {_found(value)}{hint}")


def check_pairs(pairs: Any, *, what: str = "pairs") -> list[tuple[Any, Any]]:
    """``(image, labels)`` pairs of arrays as a list; a TypeError/ValueError naming the pair."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"{what}: expected a list of (image, labels) pairs, found "
                        f"{_found(pairs)}")
    if not pairs:
        raise ValueError(f"{what}: expected at least one (image, labels) pair, found none")
    out = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"{what}[{i}]: expected an (image, labels) pair, found "
                            f"{_found(pair)}")
        image, labels = pair
        for name, a in (("image", image), ("labels", labels)):
            check_array(a, what=f"{what}[{i}] {name}")
            if 0 in tuple(a.shape):
                raise ValueError(f"{what}[{i}] {name}: expected pixels, found an empty array "
                                 f"of shape {tuple(a.shape)}")
        check_real(image, what=f"{what}[{i}] image")
        out.append((image, labels))
    return out


def check_stop(value: Any) -> Any:
    """``stop``: None or an object with ``is_set()`` (e.g. a ``threading.Event``)."""
    if value is None or callable(getattr(value, "is_set", None)):
        return value
    raise TypeError(f"stop: expected None or an object with is_set() such as a "
                    f"threading.Event, found {_found(value)}")


def check_callback(value: Any, *, what: str) -> Any:
    """``value``: None or a callable."""
    if value is None or callable(value):
        return value
    raise TypeError(f"{what}: expected None or a function called with each record, found "
                    f"{_found(value)}")


def check_generator(value: Any) -> Any:
    """``value`` when it is a generator (what the long jobs return)."""
    if inspect.isgenerator(value) or all(hasattr(value, a) for a in ("send", "throw",
                                                                      "close", "__next__")):
        return value
    raise TypeError(f"generator: expected a generator such as napari_unet.predict(...) or "
                    f"napari_unet.train(...), found {_found(value)}")


def check_path(value: Any, *, what: str) -> Any:
    """``value`` when it is a path (str or os.PathLike)."""
    if isinstance(value, (str, os.PathLike)):
        return value
    raise TypeError(f"{what}: expected a file path (str or pathlib.Path), found "
                    f"{_found(value)}")
