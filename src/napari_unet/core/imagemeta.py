"""What an image file says about its pixels: the :class:`ImageFile` record (axes, physical
pixel sizes, units, channels, scenes), unit names, the file's spacing, and the helpers every
reader shares to pick a scene, map a format's axis letters to ours and build the record
(the singleton rule: an axis of length 1 that is not Y or X is dropped).

Part of the reader :mod:`napari_unet.core.imagefile` (which re-exports the public names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.axes import AXIS_LETTERS

__all__ = ["ImageFile", "file_spacing", "finish_record", "map_axes", "normalize_unit",
           "pick_scene"]

_UNITS = {
    "µm": "micrometer", "um": "micrometer", "micron": "micrometer", "microns": "micrometer",
    "\\u00b5m": "micrometer", "μm": "micrometer", "micrometre": "micrometer",
    "nm": "nanometer", "nanometre": "nanometer", "mm": "millimeter", "millimetre": "millimeter",
    "cm": "centimeter", "m": "meter", "å": "angstrom", "a": "angstrom",
    "s": "second", "sec": "second", "seconds": "second", "ms": "millisecond",
    "min": "minute", "minutes": "minute", "h": "hour", "hours": "hour",
}


@dataclass(frozen=True)
class ImageFile:
    """An opened image file (contract C1).

    Attributes
    ----------
    path : Path
        The file or store.
    data : array
        Dask array for big files and stores, numpy for small files; dims in ``axes`` order.
    axes : str or None
        Letters of :data:`napari_unet.core.axes.AXIS_LETTERS`, None when the file does not say.
    scale : dict
        Physical size per axis letter, only for axes where the file says so.
    units : dict
        Unit per axis letter (``"micrometer"``, ``"second"``), same keys as ``scale``.
    channel_names : tuple of str
        Empty when unknown.
    scene : str or None
        The scene opened (None for single-scene files).
    scenes : tuple of str
        All scenes/series of the file (one entry for single-scene files).
    """

    path: Path
    data: Any
    axes: str | None
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channel_names: tuple[str, ...] = ()
    scene: str | None = None
    scenes: tuple[str, ...] = ("0",)

    def describe(self, *, axes: bool = True, scale: bool = True) -> str:
        """What the file says, in words (for progress lines and status bars); ``axes`` and
        ``scale`` False leave those out (when the user gave them). Empty when nothing."""
        parts = [f"axes {self.axes}"] if axes and self.axes else []
        if scale and self.scale:
            parts.append("pixel size " + ", ".join(
                f"{a} {v:g}{' ' + self.units[a] if a in self.units else ''}"
                for a, v in self.scale.items()))
        if self.channel_names:
            parts.append("channels " + ", ".join(self.channel_names))
        if self.scene is not None:
            parts.append(f"scene {self.scene!r}")
        return "; ".join(parts)


def normalize_unit(unit: object) -> str | None:
    """A unit as napari/pint names it (``"µm"`` -> ``"micrometer"``); None when absent."""
    if unit is None:
        return None
    text = str(unit).strip()
    if not text or text.lower() in ("pixel", "pixels", "none"):
        return None
    return _UNITS.get(text.lower(), _UNITS.get(text, text))


def file_spacing(image: ImageFile, axes: str) -> tuple[float, ...] | None:
    """The file's physical pixel sizes for the Z/Y/X axes of ``axes``, in their order.

    None unless the file gives a size for every one of them (a partial spacing would be a
    wrong anisotropy) and ``axes`` are the file's own axes.
    """
    volume = [a for a in axes.upper() if a in "ZYX"]
    if image.axes is None or axes.upper() != image.axes or not all(
            a in image.scale for a in volume):
        return None
    return tuple(image.scale[a] for a in volume)


# ------------------------------------------------------------------------------ helpers
def pick_scene(path: Path, scenes: Sequence[str], scene: str | int | None) -> int:
    """Index of ``scene`` (name or index) among ``scenes``."""
    if scene is None:
        return 0
    if isinstance(scene, (int, np.integer)) and not isinstance(scene, bool):
        index = int(scene)
    elif isinstance(scene, str) and scene in scenes:
        return list(scenes).index(scene)
    elif isinstance(scene, str) and scene.strip().lstrip("-").isdigit():
        index = int(scene)
    else:
        index = -1 - len(scenes)
    if not -len(scenes) <= index < len(scenes):
        listed = ", ".join(f"{i}: {s!r}" for i, s in enumerate(scenes))
        raise ValueError(f"image {str(path)!r}: scene {scene!r} not found; expected a name or "
                         f"index of its {len(scenes)} scene(s): {listed}")
    return index % len(scenes)


def finish_record(path: Path, data: Any, axes: str | None, scale: Mapping[str, float],
                  units: Mapping[str, str], channel_names: Sequence[str], scenes: Sequence[str],
                  index: int) -> ImageFile:
    """Apply the singleton rule, keep scale/units of the remaining axes, build the record."""
    if axes is not None and (len(axes) != data.ndim or any(a not in AXIS_LETTERS for a in axes)
                             or len(set(axes)) != len(axes)):
        axes = None
    if axes is not None:
        drop = [i for i, (a, n) in enumerate(zip(axes, data.shape)) if n == 1 and a in "TCZS"]
        if drop and len(axes) - len(drop) >= 2:
            index_tuple = tuple(0 if i in drop else slice(None) for i in range(data.ndim))
            data = data[index_tuple]
            axes = "".join(a for i, a in enumerate(axes) if i not in drop)
    if axes is not None:
        from napari_unet.core.axes import check_axes

        try:
            axes = check_axes(axes, ndim=data.ndim)
        except ValueError:  # e.g. no Y/X: the file's axes are of no use to us
            axes = None
    keep = axes or ""
    scale = {a: float(scale[a]) for a in keep
             if scale.get(a) and np.isfinite(scale[a]) and scale[a] > 0}
    units = {a: u for a, u in units.items() if a in scale and u}
    scenes = tuple(scenes) or ("0",)
    return ImageFile(path=path, data=data, axes=axes, scale=scale, units=units,
                     channel_names=tuple(str(c) for c in channel_names),
                     scene=scenes[index] if len(scenes) > 1 else None, scenes=scenes)


def map_axes(axes: str, mapping: Mapping[str, str]) -> str | None:
    """Letters of another alphabet -> ours; None when a letter has no counterpart."""
    out = []
    for a in axes.upper():
        b = mapping.get(a)
        if b is None or b in out:
            return None
        out.append(b)
    return "".join(out)
