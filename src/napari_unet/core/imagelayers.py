"""An opened image file as napari layers: layer data and napari-free layer options (name,
metadata, scale, units), one layer per channel when asked (contract C2).

Part of the reader :mod:`napari_unet.core.imagefile` (which re-exports
:func:`channel_layers`).
"""

from __future__ import annotations

from typing import Any

from napari_unet.core.imageformats import stem
from napari_unet.core.imagemeta import ImageFile

__all__ = ["channel_layers"]


def channel_layers(image: ImageFile, *, axes: str | None = None, name: str | None = None,
                   split_channels: bool = True) -> list[tuple[Any, dict[str, Any]]]:
    """Layer data and napari-free layer options for an opened file (contract C2).

    Parameters
    ----------
    image : ImageFile
    axes : str, optional
        Axes typed by the user; they win over the file's (checked against the data).
    name : str, optional
        Layer name (default: the file's stem, plus ``[scene]`` for multi-scene files).
    split_channels : bool
        One layer per channel when the axes have ``C`` (napari's channel_axis convention).

    Returns
    -------
    list of (data, options)
        ``options`` has ``name``, ``metadata`` (``axes``, ``source``; for channel layers
        ``image_group``, ``channel``, ``channel_names``), and ``scale``/``units`` (one per
        dimension of that layer's data) when the file or the user gives physical sizes.
    """
    from napari_unet.core.axes import check_axes

    data = image.data
    if axes:
        axes = check_axes(axes, ndim=data.ndim, what=f"axes for image {str(image.path)!r}")
    else:
        axes = image.axes
    group = name or stem(image.path) + (f" [{image.scene}]" if image.scene is not None else "")
    base_meta: dict[str, Any] = {"source": str(image.path)}

    def options(layer_axes: str | None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"metadata": {**base_meta, "axes": layer_axes, **extra}}
        if layer_axes and any(a in image.scale for a in layer_axes):
            out["scale"] = tuple(image.scale.get(a, 1.0) for a in layer_axes)
            if any(a in image.units for a in layer_axes):
                out["units"] = tuple(image.units.get(a, "pixel") for a in layer_axes)
        if out["metadata"]["axes"] is None:
            del out["metadata"]["axes"]
        return out

    if not (split_channels and axes and "C" in axes and data.ndim > 2):
        return [(data, {"name": group, **options(axes)})]
    c = axes.index("C")
    n = int(data.shape[c])
    names = list(image.channel_names) if len(image.channel_names) == n else [
        f"channel {i}" for i in range(n)]
    rest = axes.replace("C", "")
    layers = []
    for i in range(n):
        index = (slice(None),) * c + (i,)
        layers.append((data[index], {
            "name": names[i],
            **options(rest, image_group=group, channel=i, channel_names=tuple(names)),
        }))
    return layers
