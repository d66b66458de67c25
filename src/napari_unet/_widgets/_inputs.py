"""Image inputs as users have them in the viewer: single layers and channel groups (C5).

A file whose channels were split into one layer per channel (napari's ``channel_axis``
convention) is one input to train or predict on: its layers share ``metadata["image_group"]``
and carry ``metadata["channel"]`` (their index) and ``metadata["channel_names"]`` (contract C2).
:func:`image_choices` offers such a group as one entry next to the image layers, and
:func:`image_input` turns a choice back into data with the channel axis first.

Axes come from ``layer.metadata["axes"]`` (written by Load and the reader, or typed into a
widget's axes field) when they fit the layer, else from the core's guess
(:func:`napari_unet.core.io.guess_axes`); the rules are the core's (:mod:`napari_unet.core.axes`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_unet.core.axes import check_axes
from napari_unet.core.io import guess_axes

if TYPE_CHECKING:
    import napari

_GROUP_CHOICE = re.compile(r"^(?P<group>.*) \((?P<n>\d+) channels\)$")


def _image_layers(viewer: napari.viewer.Viewer) -> list:
    """Image layers, top of the layer list first."""
    return [layer for layer in reversed(viewer.layers) if layer._type_string == "image"]


def channel_groups(viewer: napari.viewer.Viewer) -> dict[str, list]:
    """Channel groups of more than one image layer, by group name; layers in channel order.

    A layer belongs to the group named by its ``metadata["image_group"]`` (contract C2); it is
    placed by ``metadata["channel"]`` (then by its place in the layer list).
    """
    groups: dict[str, list] = {}
    for layer in reversed(_image_layers(viewer)):  # bottom first: the order napari added them
        group = layer.metadata.get("image_group")
        if isinstance(group, str) and group:
            groups.setdefault(group, []).append(layer)
    out = {}
    for group, layers in groups.items():
        if len(layers) > 1:
            out[group] = sorted(layers, key=lambda lay: int(lay.metadata.get("channel", 0)))
    return out


def group_choice(group: str, n_channels: int) -> str:
    """The choice naming a channel group: ``"cells.czi (2 channels)"``."""
    return f"{group} ({n_channels} channels)"


def image_choices(viewer: napari.viewer.Viewer) -> list[str]:
    """Image layer names (top first), then one entry per channel group of more than one layer.

    A group entry reads ``"<image_group> (<n> channels)"``; :func:`image_input` accepts both.
    """
    names = [layer.name for layer in _image_layers(viewer)]
    groups = [group_choice(g, len(layers)) for g, layers in channel_groups(viewer).items()]
    return names + [g for g in groups if g not in names]


def input_layers(viewer: napari.viewer.Viewer, choice: str) -> list:
    """The layers behind an image choice: one layer, or a channel group's layers in order.

    Raises
    ------
    ValueError
        When nothing is chosen, or the layer (or every layer of the group) is not in the
        viewer any more, saying what to do.
    """
    if not choice:
        raise ValueError("no image chosen: open or pick an image layer first")
    for layer in _image_layers(viewer):
        if layer.name == choice:
            return [layer]
    match = _GROUP_CHOICE.match(choice)
    if match:
        layers = channel_groups(viewer).get(match.group("group"))
        if layers:
            return layers
    raise ValueError(
        f"the image {choice!r} is not in the viewer any more (removed or renamed); pick another "
        "one"
    )


def layer_axes(layer, *, dims: int) -> str:
    """The axes of a layer's data: ``metadata["axes"]`` when it fits, else the core's guess.

    ``metadata["axes"]`` fits when it is a valid axes string (:func:`check_axes`) with one
    letter per dimension of ``layer.data`` (an RGB layer's colour axis counts). The guess is
    :func:`napari_unet.core.io.guess_axes` for a ``dims``-D model (an RGB layer's last axis is
    ``C``); a stack the guess cannot read for ``dims`` is guessed as for a 2D model.

    Raises
    ------
    ValueError
        When no guess fits (e.g. 5 unnamed dimensions), asking for the axes in words.
    """
    shape = tuple(layer.data.shape)
    given = layer.metadata.get("axes")
    if isinstance(given, str):
        try:
            return check_axes(given, ndim=len(shape))
        except ValueError:
            pass
    rgb = bool(getattr(layer, "rgb", False))
    for model_dims in dict.fromkeys((dims, 2)):
        try:
            return guess_axes(shape, dims=model_dims, in_channels=3 if rgb else 1)
        except ValueError:
            continue
    raise ValueError(
        f"image {layer.name!r}: cannot tell the axes of its {len(shape)} dimensions (shape "
        f"{shape}); type them in the Axes field, e.g. 'TZYX' or 'ZCYX'"
    )


def set_layer_axes(layer, axes: str) -> str:
    """Check ``axes`` against the layer's data and keep them in ``layer.metadata["axes"]``.

    Only the metadata changes, never the data. Returns the axes in upper case.

    Raises
    ------
    ValueError
        As :func:`napari_unet.core.axes.check_axes`, naming the layer.
    """
    name = check_axes(axes, ndim=len(layer.data.shape), what=f"axes of image {layer.name!r}")
    layer.metadata["axes"] = name
    return name


def _stack(arrays: list[Any]) -> Any:
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np.stack(arrays)
    import dask.array as da

    return da.stack([a if isinstance(a, da.Array) else da.from_array(a) for a in arrays])


def group_axes(layers: list, *, dims: int) -> str:
    """Axes of a channel group's stacked data: ``"C"`` plus the axes of one channel layer.

    Raises
    ------
    ValueError
        When the layers differ in shape, or their axes already name a ``C`` axis.
    """
    shapes = {tuple(layer.data.shape) for layer in layers}
    if len(shapes) > 1:
        names = ", ".join(repr(layer.name) for layer in layers)
        raise ValueError(
            f"the channel layers {names} have different shapes {sorted(shapes)}; a channel "
            "group needs layers of one shape"
        )
    axes = layer_axes(layers[0], dims=dims)
    if "C" in axes:
        raise ValueError(
            f"image {layers[0].name!r} is one channel of a group, but its axes {axes!r} have a "
            "channel axis C; correct its axes"
        )
    return "C" + axes


def image_input(viewer: napari.viewer.Viewer, choice: str, *,
                dims: int = 2) -> tuple[Any, str, tuple[float, ...], list]:
    """The data, axes, scale and layers of an image choice (from :func:`image_choices`).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    choice : str
        An image layer's name, or a channel group's entry.
    dims : {2, 3}
        The model's dimensions, for guessing axes that no layer names.

    Returns
    -------
    data : array
        The layer's data as it is (not copied), or for a group the channels stacked along a
        new first axis (numpy when every layer is numpy, else a lazy dask array).
    axes : str
        The axes of ``data`` (for a group ``"C"`` plus one channel layer's axes).
    scale : tuple of float
        The (first) layer's scale, one value per non-channel axis napari shows.
    layers : list
        The layers behind the choice.

    Raises
    ------
    ValueError
        As :func:`input_layers`, :func:`layer_axes` and :func:`group_axes`.
    """
    layers = input_layers(viewer, choice)
    scale = tuple(float(s) for s in layers[0].scale)
    axes = input_axes(layers, dims=dims)
    if len(layers) == 1:
        return layers[0].data, axes, scale, layers
    return _stack([layer.data for layer in layers]), axes, scale, layers


def input_axes(layers: list, *, dims: int) -> str:
    """The axes of an input's data without reading it: :func:`layer_axes` of its one layer,
    or :func:`group_axes` of a channel group."""
    return layer_axes(layers[0], dims=dims) if len(layers) == 1 else group_axes(layers, dims=dims)


def set_input_axes(layers: list, axes: str) -> str:
    """Keep axes typed for an input in its layers' metadata (a group's without its C).

    Raises
    ------
    ValueError
        As :func:`set_layer_axes`; for a group, when ``axes`` does not start with ``C``.
    """
    if len(layers) == 1:
        return set_layer_axes(layers[0], axes)
    name = axes.strip().upper()
    if not name.startswith("C"):
        raise ValueError(
            f"axes {axes!r} of a channel group: expected the channel axis C first (the "
            "channels are its layers), e.g. 'CZYX'"
        )
    for layer in layers:
        check_axes(name[1:], ndim=len(layer.data.shape), what=f"axes of image {layer.name!r}")
    for layer in layers:
        set_layer_axes(layer, name[1:])
    return name


def input_region(layers: list, axes: str, index: tuple) -> Any:
    """One region of an input, without stacking a whole channel group.

    ``index`` indexes the input's data (``axes`` order, with the channel axis first for a
    group); each channel layer is read only where ``index`` points. numpy regions are copies
    (a worker may read them while the user edits the layer); lazy (dask, zarr) ones stay
    lazy, so the main thread reads nothing.
    """
    if len(layers) == 1:
        region = layers[0].data[index]
        return region.copy() if isinstance(region, np.ndarray) else region
    if axes[0] != "C":
        raise ValueError(f"a channel group's axes start with C, found {axes!r}")
    chosen, rest = list(layers)[index[0]], index[1:]
    if isinstance(chosen, list):  # a slice of channels
        return _stack([layer.data[rest] for layer in chosen])
    region = chosen.data[rest]
    return region.copy() if isinstance(region, np.ndarray) else region


def training_axes(axes: str, *, dims: int, image: str) -> str:
    """The axes a training run reads an input with, from the input's axes; in GUI words.

    A 2D model learns from each slice: a ``Z`` axis becomes ``S`` (each slice a sample). A 3D
    model learns from Z stacks: an input with a time axis ``T`` is refused (its time points
    would be taken for training as if they were stacks of one kind), and so is one without
    ``Z``. The rest is the core's rule (:func:`napari_unet.core.training.targets.check_axes`).

    Raises
    ------
    ValueError
        Naming the image, its axes and what to change in the widget.
    """
    from napari_unet.core.training.targets import check_axes as check_training_axes

    name = axes.upper()
    if dims == 2 and "Z" in name:
        name = name.replace("Z", "S" if "S" not in name else "T" if "T" not in name else "Z")
    if dims == 3 and "T" in name:
        raise ValueError(
            f"image {image!r} has a time axis (axes {axes!r}): a 3D model is not trained over "
            "time in the Train widget; choose 2D in Dimensions (each slice of each time point "
            "is learnt from), or correct the Axes field if that axis is not time"
        )
    if dims == 3 and "Z" not in name:
        raise ValueError(
            f"image {image!r} has no depth axis Z (axes {axes!r}): a 3D model needs a Z "
            "stack; choose 2D in Dimensions, or correct the Axes field"
        )
    return check_training_axes(name, dims=dims, ndim=len(name), what=f"image {image!r}")


def view_request(viewer: napari.viewer.Viewer, layers: list, axes: str, *,
                 dims: int) -> tuple[tuple, tuple, str]:
    """Where the visible part of the current slice sits in an input (for a live preview).

    Parameters
    ----------
    layers : list
        The input's layers (:func:`input_layers`).
    axes : str
        The axes of the input's data (a group's with ``C`` first), letters as in training.
    dims : {2, 3}
        The model's dimensions: the last ``dims`` non-channel axes are the spatial ones.

    Returns
    -------
    index : tuple
        Indexes the input's data: the channel axis whole, the spatial axes where the canvas
        shows them (at most ``PREVIEW_SIDE[dims]`` per side; a 3D model's depth axis: the
        ``PREVIEW_SLAB`` slices around the current one), every other axis at the viewer's
        current position.
    out_index : tuple
        ``index`` without the channel axis: where the result sits in a per-pixel layer.
    region_axes : str
        The axes of ``data[index]`` (channel and spatial axes, in data order).
    """
    from napari_unet._widgets._layers import current_indices, visible_region
    from napari_unet.core.training.preview import PREVIEW_SIDE, PREVIEW_SLAB

    layer = layers[0]
    own = axes[1:] if len(layers) > 1 else axes
    plain = own.replace("C", "")
    spatial = set(plain[len(plain) - dims:])
    depth = plain[len(plain) - 3] if dims == 3 else None  # a slab of it around the slice
    napari_dims = layer.ndim  # an RGB layer's colour axis is not one of napari's dims
    current = current_indices(viewer, layer, napari_dims)
    visible = visible_region(layer, 0, max_side=PREVIEW_SIDE[dims])
    index: list = []
    for i, letter in enumerate(own):
        if letter == "C":
            index.append(slice(None))
        elif letter == depth:
            size = layer.data.shape[i]
            lo = max(0, min(current[i] - PREVIEW_SLAB // 2, size - PREVIEW_SLAB))
            index.append(slice(lo, min(size, lo + PREVIEW_SLAB)))
        elif letter in spatial:
            index.append(visible[i])
        else:
            index.append(current[i])
    if len(layers) > 1:
        index.insert(0, slice(None))
    out_index = tuple(ix for ix, letter in zip(index, axes) if letter != "C")
    region_axes = "".join(letter for ix, letter in zip(index, axes) if isinstance(ix, slice))
    return tuple(index), out_index, region_axes


def result_placement(layers: list, axes: str) -> dict[str, tuple]:
    """``scale``, ``translate`` and ``units`` for a per-pixel result of an input (no ``C``).

    A layer whose channel axis is one of napari's dimensions (e.g. ``"ZCYX"``) lends the
    values of its other axes only, so a result sits on its input; a channel group's layers
    have no channel dimension and lend theirs whole.
    """
    layer = layers[0]
    own = axes[1:] if len(layers) > 1 else axes
    keep = [i for i in range(layer.ndim) if i >= len(own) or own[i] != "C"]
    return {key: tuple(getattr(layer, key)[i] for i in keep)
            for key in ("scale", "translate", "units")}
