"""Small helpers between napari layers and the core: choices, axes, copies, result layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QComboBox

if TYPE_CHECKING:
    import napari


#: colours for classes past the second, cycled
EXTRA_COLORS = ("#2ecc71", "#e74c3c", "#9b59b6", "#f1c40f", "#1abc9c", "#e67e22")


def class_colormap(n_classes: int, *, show_background: bool = True) -> dict:
    """Label colours as in the samples: 0 transparent, 1 background blue, 2 orange, then a cycle.

    ``show_background=False`` makes class 1 transparent too, so a result over the image shows
    only the structures.
    """
    from napari_unet._sample_data import CLASS_COLORS

    colors = dict(CLASS_COLORS)
    if not show_background:
        colors[1] = "transparent"
    for value in range(3, n_classes + 1):
        colors[value] = EXTRA_COLORS[(value - 3) % len(EXTRA_COLORS)]
    return colors


def layer_names(viewer: napari.viewer.Viewer, kind: str) -> list[str]:
    """Names of the layers of ``kind`` ("image" or "labels"), top of the layer list first."""
    return [layer.name for layer in reversed(viewer.layers) if layer._type_string == kind]


def refill_combo(combo: QComboBox, names: list[str]) -> None:
    """Refill ``combo`` with ``names``, keeping the current choice when it still exists."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    if current in names:
        combo.setCurrentText(current)
    combo.blockSignals(False)


def get_layer(viewer: napari.viewer.Viewer, name: str, kind: str):
    """The layer called ``name`` of type ``kind``.

    Raises
    ------
    ValueError
        When there is no such layer (e.g. it was removed), with what to do about it.
    """
    if not name:
        article = "an" if kind[:1] in "aeiou" else "a"
        raise ValueError(f"no {kind} layer chosen: open or pick {article} {kind} layer first")
    for layer in viewer.layers:
        if layer.name == name and layer._type_string == kind:
            return layer
    raise ValueError(
        f"the {kind} layer {name!r} is not in the viewer any more (removed or renamed); "
        "pick another one"
    )


def current_indices(viewer: napari.viewer.Viewer, layer, n: int) -> tuple[int, ...]:
    """Data indices of the first ``n`` axes of ``layer`` at the viewer's current position."""
    point = viewer.dims.point
    offset = viewer.dims.ndim - layer.ndim
    return tuple(
        int(np.clip(round((point[offset + i] - layer.translate[i]) / layer.scale[i]), 0,
                    layer.data.shape[i] - 1))
        for i in range(n)
    )


def copy_data(layer) -> Any:
    """A copy of a layer's data that a worker may read while the user goes on painting.

    numpy data is copied (a user's layer is never shared with a worker); dask and zarr data
    are lazy and read-only, so they are passed as they are.
    """
    data = layer.data
    if isinstance(data, np.ndarray):
        return data.copy()
    return data


def put_layer(viewer: napari.viewer.Viewer, name: str, data, kind: str, *, like=None,
              **kwargs):
    """Update the layer called ``name`` when it exists with the same type, else add it.

    ``like`` (a layer) lends its scale, translate and units, so results sit on their input.
    """
    if like is not None:
        n = np.ndim(data) if kind != "image" or not kwargs.get("rgb") else np.ndim(data) - 1
        offset = like.ndim - n
        if offset >= 0:
            kwargs.setdefault("scale", tuple(like.scale)[offset:])
            kwargs.setdefault("translate", tuple(like.translate)[offset:])
            kwargs.setdefault("units", tuple(like.units)[offset:])
    for layer in viewer.layers:
        if layer.name == name and layer._type_string == kind:
            layer.data = data
            for key in ("scale", "translate", "units"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            if kind == "image" and "contrast_limits" in kwargs:
                layer.contrast_limits = kwargs["contrast_limits"]
            return layer
    add = {"image": viewer.add_image, "labels": viewer.add_labels}[kind]
    return add(data, name=name, **kwargs)


def visible_region(layer, n_lead: int, *, max_side: int = 1024) -> tuple[slice, ...]:
    """Slices of ``layer``'s axes after the first ``n_lead`` that the canvas shows now.

    From the layer's corner pixels (updated by napari on each draw); the whole extent where
    napari has not drawn yet. Each side is capped at ``max_side`` pixels around the centre
    of the view, so a zoomed-out view of a huge image asks for a screen's worth, not all.
    """
    shape = layer.data.shape[n_lead:]
    if getattr(layer, "rgb", False):
        shape = shape[:-1]
    corners = np.asarray(getattr(layer, "corner_pixels", np.zeros((2, 0))), int)
    out = []
    for i, size in enumerate(shape):
        axis = n_lead + i
        lo, hi = 0, size
        if corners.shape[1] > axis and corners[1, axis] > corners[0, axis]:
            lo, hi = max(0, corners[0, axis]), min(size, corners[1, axis] + 1)
        if hi - lo > max_side:
            mid = (lo + hi) // 2
            lo, hi = mid - max_side // 2, mid - max_side // 2 + max_side
        out.append(slice(int(lo), int(hi)))
    return tuple(out)


def painted_region(atoms: Any, shape: tuple[int, ...]) -> tuple[slice, ...] | None:
    """The bounding box of a Labels paint event's changes (``event.value``), or None.

    napari reports a paint as history atoms: ``(indices, old, new)`` tuples with one index
    array per axis, or mask atoms carrying their bounding box as ``slice_key``.
    """
    lo = np.full(len(shape), np.iinfo(np.int64).max)
    hi = np.full(len(shape), -1)
    for atom in atoms or ():
        key = getattr(atom, "slice_key", None)
        if key is not None:
            a = [s.indices(n)[0] for s, n in zip(key, shape)]
            b = [s.indices(n)[1] - 1 for s, n in zip(key, shape)]
        else:
            indices = atom[0]
            if len(indices) != len(shape) or not len(indices[0]):
                continue
            a = [int(np.min(ix)) for ix in indices]
            b = [int(np.max(ix)) for ix in indices]
        lo, hi = np.minimum(lo, a), np.maximum(hi, b)
    if (hi < lo).any():
        return None
    return tuple(slice(int(x), int(y) + 1) for x, y in zip(lo, hi))


def class_features(names: list[str]) -> dict[str, list]:
    """A paint layer's ``features`` naming its classes: row ``v`` is label value ``v``.

    napari shows a Labels layer's features for the value under the cursor in its status bar,
    so a painter reads ``class: membrane`` while painting.
    """
    return {"index": list(range(len(names) + 1)), "class": ["not painted", *names]}


def class_names_of(layer) -> list[str]:
    """The class names a paint layer carries (value 1 = the first), or an empty list.

    From ``metadata["napari_unet"]["class_names"]`` (Load's *Add paint layer*), else from a
    ``"class"`` feature indexed by label value (:func:`class_features`).
    """
    names = (layer.metadata.get("napari_unet") or {}).get("class_names")
    if names:
        return [str(n) for n in names]
    features = getattr(layer, "features", None)
    if features is None or "class" not in getattr(features, "columns", ()):
        return []
    index = list(features["index"]) if "index" in features.columns else list(
        range(len(features)))
    by_value = {int(v): str(c) for v, c in zip(index, features["class"])}
    top = max(by_value, default=0)
    if top < 1 or any(v not in by_value for v in range(1, top + 1)):
        return []
    return [by_value[v] for v in range(1, top + 1)]


#: Paintings with values up to this are checked value by value (no sort, no int64 copy).
_FEW_VALUES = 64


def painted_values(data: Any) -> np.ndarray:
    """The values > 0 present in a painting, sorted (read once, without a full int64 copy).

    A painting has a few classes, so each value is looked for with one comparison pass;
    past :data:`_FEW_VALUES` (an instance mask) it falls back to :func:`numpy.unique`.
    """
    data = np.asarray(data)
    if data.size == 0:
        return np.zeros(0, np.int64)
    top = int(data.max())
    if top <= 0:
        return np.zeros(0, np.int64)
    if top > _FEW_VALUES:
        values = np.unique(data)
        return values[values > 0].astype(np.int64)
    return np.array([v for v in range(1, top + 1) if (data == v).any()], np.int64)
