"""Opening a zarr or OME-Zarr store as an :class:`~napari_unet.core.imagemeta.ImageFile`:
NGFF ``multiscales`` axes, the scale of the first (full-resolution) dataset from its
``coordinateTransformations``, units and ``omero`` channel labels; a plain zarr array with
xarray's ``_ARRAY_DIMENSIONS`` axes. Always lazy (dask).

Part of the reader :func:`napari_unet.core.imagefile.open_image`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from napari_unet.core.imageformats import open_zarr
from napari_unet.core.imagemeta import (
    ImageFile,
    finish_record,
    map_axes,
    normalize_unit,
    pick_scene,
)

__all__ = ["open_zarr_image"]

_NGFF_AXES = {"T": "T", "C": "C", "Z": "Z", "Y": "Y", "X": "X"}


def _multiscales(attrs: Mapping) -> list:
    if "multiscales" in attrs:
        return list(attrs["multiscales"])
    ome = attrs.get("ome")
    if isinstance(ome, Mapping) and "multiscales" in ome:
        return list(ome["multiscales"])
    return []


def _ngff_scale(transforms: Sequence[Mapping] | None) -> list[float] | None:
    for t in transforms or ():
        if t.get("type") == "scale" and "scale" in t:
            return [float(v) for v in t["scale"]]
    return None


def open_zarr_image(path: Path, scene: str | int | None) -> ImageFile:
    """The zarr or OME-Zarr store at ``path`` as an :class:`ImageFile` (one scene, ``"0"``)."""
    import dask.array as da
    import zarr

    node = zarr.open(str(path), mode="r")
    attrs = dict(node.attrs)
    multiscales = [] if hasattr(node, "shape") else _multiscales(attrs)
    pick_scene(path, ("0",), scene)
    if not multiscales:
        array = open_zarr(path)
        dims = dict(array.attrs).get("_ARRAY_DIMENSIONS")  # xarray's convention
        axes = map_axes("".join(dims), _NGFF_AXES) if dims and all(
            isinstance(d, str) and len(d) == 1 for d in dims) else None
        return finish_record(path, da.from_zarr(array), axes, {}, {}, (), ("0",), 0)
    ms = multiscales[0]
    dataset = ms["datasets"][0]
    array = node[dataset["path"]]
    names = [a["name"] if isinstance(a, Mapping) else str(a) for a in ms.get("axes", [])]
    axes = map_axes("".join(n[:1] for n in names), _NGFF_AXES) if all(
        len(n) == 1 for n in names) and names else None
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    values = _ngff_scale(dataset.get("coordinateTransformations"))
    outer = _ngff_scale(ms.get("coordinateTransformations"))
    if axes and values and len(values) == len(axes):
        if outer and len(outer) == len(values):
            values = [v * o for v, o in zip(values, outer)]
        for a, v, spec in zip(axes, values, ms["axes"]):
            if a == "C":
                continue
            unit = normalize_unit(spec.get("unit")) if isinstance(spec, Mapping) else None
            if v != 1 or unit:
                scale[a] = v
                if unit:
                    units[a] = unit
    channels: list[str] = []
    omero = attrs.get("omero") or (attrs.get("ome") or {}).get("omero")
    if isinstance(omero, Mapping):
        channels = [str(c.get("label") or "") for c in omero.get("channels", [])]
        channels = channels if any(channels) else []
    return finish_record(path, da.from_zarr(array), axes, scale, units, channels, ("0",), 0)
