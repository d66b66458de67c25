"""Axes strings ("YX", "CZYX", "TZCYX", ...) and how an image's axes meet a model's.

A 2D model runs over the Y and X axes and loops over every other non-channel axis (Z, T): slice
by slice. A 3D model runs over Z, Y and X and loops over T. The channel axis ``C`` may sit
anywhere. Blocks handed to the model are ``(C, *spatial)`` with spatial axes in the order
(Z,) Y, X, whatever the order in the image.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Axis letters understood: time, depth, channel, rows, columns.
AXIS_LETTERS = "TZCYX"


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


def parse_axes(axes: object, shape: tuple[int, ...], *, dims: int) -> AxesPlan:
    """Check an axes string against an image shape and a model's dimensionality.

    Parameters
    ----------
    axes : str
        One letter per image dimension from ``"TZCYX"``, e.g. ``"YX"``, ``"CZYX"``, ``"TYXC"``.
    shape : tuple of int
        The image's shape.
    dims : {2, 3}
        The model's spatial dimensions.

    Raises
    ------
    ValueError
        If ``axes`` is not a string of distinct known letters, does not match the number of
        dimensions, lacks Y or X, or lacks Z for a 3D model.
    """
    if not isinstance(axes, str):
        raise ValueError(f"axes must be a string such as 'YX' or 'CZYX'; found {axes!r}")
    name = axes.upper()
    unknown = sorted(set(name) - set(AXIS_LETTERS))
    if unknown:
        raise ValueError(
            f"axes={axes!r} has unknown letters {unknown}; expected letters from "
            f"{AXIS_LETTERS!r} (time, depth, channel, rows, columns)"
        )
    if len(set(name)) != len(name):
        raise ValueError(f"axes={axes!r} repeats a letter; each axis may appear once")
    if len(name) != len(shape):
        raise ValueError(
            f"axes={axes!r} names {len(name)} axes, but the image has {len(shape)} "
            f"dimensions (shape {tuple(shape)})"
        )
    if "Y" not in name or "X" not in name:
        raise ValueError(f"axes={axes!r} must contain both Y and X")
    spatial_letters = "ZYX" if dims == 3 else "YX"
    if dims == 3 and "Z" not in name:
        raise ValueError(
            f"axes={axes!r} has no Z axis, but the model is 3D; give a Z axis or use a 2D model"
        )
    channel = name.find("C")
    spatial = tuple(name.index(a) for a in spatial_letters)
    loop = tuple(i for i, a in enumerate(name) if a != "C" and i not in spatial)
    return AxesPlan(
        axes=name,
        shape=tuple(int(s) for s in shape),
        channel=None if channel < 0 else channel,
        spatial=spatial,
        loop=loop,
    )
