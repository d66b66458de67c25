"""Axes strings ("YX", "CZYX", "TZCYX", "SYX", ...) and how an image's axes meet a model's.

ONE alphabet and ONE checker for every axes string in napari-unet: training, prediction, the
command line and the widgets. Letters (:data:`AXIS_LETTERS`): ``T`` time, ``S`` samples (a
stack of independent images), ``C`` channel, ``Z`` depth, ``Y`` rows, ``X`` columns.

A 2D model runs over the Y and X axes and loops over every other non-channel axis (Z, T, S):
slice by slice. A 3D model runs over Z, Y and X and loops over T and S. The channel axis ``C``
may sit anywhere. Blocks handed to the model are ``(C, *spatial)`` with spatial axes in the
order (Z,) Y, X, whatever the order in the image. (Training adds its own rules on top of
:func:`check_axes`; see :func:`napari_unet.core.training.targets.check_axes`.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Axis letters understood: time, samples, channel, depth, rows, columns.
AXIS_LETTERS = "TSCZYX"
#: Stack axes: looped over in prediction, separate samples in training.
STACK_LETTERS = "TS"
_NAMES = "time, samples, channel, depth, rows, columns"


def spatial_letters(dims: int) -> str:
    """The spatial axes a ``dims``-dimensional model works on: ``"YX"`` or ``"ZYX"``.

    Raises
    ------
    ValueError
        If ``dims`` is not 2 or 3.
    """
    if dims not in (2, 3):
        raise ValueError(f"dims: expected 2 or 3, found {dims!r}")
    return "YX" if dims == 2 else "ZYX"


def check_axes(axes: object, *, ndim: int, what: str = "image") -> str:
    """Check an axes string against an array's number of dimensions; return it upper case.

    The one checker of axes strings: letters from :data:`AXIS_LETTERS`, each at most once,
    one per dimension, Y and X present. Model-specific rules come on top (:func:`parse_axes`
    for prediction, the training targets' ``check_axes`` for training).

    Parameters
    ----------
    axes : str
        E.g. ``"YX"``, ``"CZYX"``, ``"TYXC"``, ``"SYX"`` (case does not matter).
    ndim : int
        The array's number of dimensions.
    what : str
        Names the input in error messages, e.g. ``"image"`` or ``"input 'a.tif'"``.

    Returns
    -------
    str
        ``axes`` in upper case.

    Raises
    ------
    ValueError
        ``"<what>: expected ..., found ..."`` when ``axes`` is not a string, has unknown or
        repeated letters, does not give one letter per dimension, or lacks Y or X.
    """
    if not isinstance(axes, str) or not axes:
        raise ValueError(
            f"{what}: expected axes as a string such as 'YX' or 'CZYX', found {axes!r} "
            "(axes must be a string, one letter per dimension)"
        )
    name = axes.upper()
    unknown = sorted(set(name) - set(AXIS_LETTERS))
    if unknown:
        raise ValueError(
            f"{what}: expected axes of letters from {AXIS_LETTERS!r} ({_NAMES}), found "
            f"unknown letters {''.join(unknown)!r} in {axes!r}"
        )
    repeated = sorted({a for a in name if name.count(a) > 1})
    if repeated:
        raise ValueError(
            f"{what}: expected axes naming each axis once, found {axes!r}, which repeats "
            f"{''.join(repeated)!r}"
        )
    if len(name) != ndim:
        raise ValueError(
            f"{what}: expected axes with one letter per dimension, found {axes!r}, which names "
            f"{len(name)} axes, but the image has {ndim} dimensions"
        )
    missing = "".join(a for a in "YX" if a not in name)
    if missing:
        raise ValueError(
            f"{what}: expected axes with both Y and X (rows, columns), found {axes!r}, which "
            f"lacks {missing!r}"
        )
    return name


@dataclass(frozen=True)
class AxesPlan:
    """Where the channel, spatial and loop axes of an image are.

    Attributes
    ----------
    axes : str
        The image's axes, upper case, one letter per dimension.
    shape : tuple of int
        The image's shape.
    channel : int or None
        Position of ``C`` in ``axes``, or None when the image has one implicit channel.
    spatial : tuple of int
        Positions of the model's spatial axes in ``axes``, in model order (Z,) Y, X.
    loop : tuple of int
        Positions of the remaining non-channel axes (looped over), in image order.
    """

    axes: str
    shape: tuple[int, ...]
    channel: int | None
    spatial: tuple[int, ...]
    loop: tuple[int, ...]

    @property
    def n_channels(self) -> int:
        """Channels in the image (1 when there is no ``C`` axis)."""
        return 1 if self.channel is None else self.shape[self.channel]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Sizes of the model's spatial axes, in model order."""
        return tuple(self.shape[i] for i in self.spatial)

    @property
    def out_axes(self) -> str:
        """The image's non-channel axes, in image order: the axes of a result."""
        return "".join(a for a in self.axes if a != "C")

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of a per-pixel result (no channel axis)."""
        return tuple(s for i, s in enumerate(self.shape) if i != self.channel)

    def frames(self) -> Iterator[tuple[int, ...]]:
        """Every combination of loop-axis indices (one empty tuple when nothing is looped)."""
        return itertools.product(*(range(self.shape[i]) for i in self.loop))

    def source_index(self, frame: tuple[int, ...], spatial: tuple[slice, ...]) -> tuple:
        """Index into the image for one frame and a spatial box (model order)."""
        index: list[int | slice] = [slice(None)] * len(self.axes)
        for pos, value in zip(self.loop, frame):
            index[pos] = value
        for pos, sl in zip(self.spatial, spatial):
            index[pos] = sl
        return tuple(index)

    def out_index(self, frame: tuple[int, ...], spatial: tuple[slice, ...]) -> tuple:
        """Index into a result array (non-channel axes in image order)."""
        full = self.source_index(frame, spatial)
        return tuple(v for i, v in enumerate(full) if i != self.channel)

    def to_model_order(self, block: np.ndarray) -> np.ndarray:
        """Turn a block read with :meth:`source_index` into ``(C, *spatial)`` model order."""
        kept = [i for i in range(len(self.axes)) if i not in self.loop]  # block's axes
        order = [kept.index(i) for i in self.spatial]
        if self.channel is None:
            return np.transpose(block, order)[None]
        return np.transpose(block, [kept.index(self.channel), *order])


def parse_axes(axes: object, shape: tuple[int, ...], *, dims: int,
               what: str = "image") -> AxesPlan:
    """Check an axes string against an image shape and a model's dimensionality.

    :func:`check_axes`, plus: a 3D model needs a Z axis. Every axis other than ``C`` and the
    model's spatial axes (``T``, ``S``, and ``Z`` for a 2D model) is looped over.

    Parameters
    ----------
    axes : str
        One letter per image dimension from ``"TSCZYX"``, e.g. ``"YX"``, ``"CZYX"``, ``"TYXC"``,
        ``"SYX"``.
    shape : tuple of int
        The image's shape.
    dims : {2, 3}
        The model's spatial dimensions.
    what : str
        Names the input in error messages.

    Returns
    -------
    AxesPlan
        Where the channel, spatial and loop axes are.

    Raises
    ------
    ValueError
        As :func:`check_axes`, or when a 3D model meets axes without Z.
    """
    spatial_names = spatial_letters(dims)
    name = check_axes(axes, ndim=len(shape), what=what)
    if dims == 3 and "Z" not in name:
        raise ValueError(
            f"{what}: expected axes with a Z axis for a 3D model, found {axes!r}, which has no "
            "Z axis; give one, or use a 2D model"
        )
    channel = name.find("C")
    spatial = tuple(name.index(a) for a in spatial_names)
    loop = tuple(i for i, a in enumerate(name) if a != "C" and i not in spatial)
    return AxesPlan(
        axes=name,
        shape=tuple(int(s) for s in shape),
        channel=None if channel < 0 else channel,
        spatial=spatial,
        loop=loop,
    )
