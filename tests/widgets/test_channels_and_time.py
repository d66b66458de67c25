"""Channels and time as users have them: channel groups, a C axis, editable axes, T vs 3D."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet._widgets._inputs import (
    image_choices,
    image_input,
    input_region,
    layer_axes,
    set_layer_axes,
)


def _add_group(viewer, data: np.ndarray, *, group: str = "cells.czi", axes: str = "ZYX"):
    """Split a C-first array into channel layers as Load and the reader do (contract C2)."""
    names = [f"ch{i}" for i in range(data.shape[0])]
    return [
        viewer.add_image(channel, name=f"{group} {name}", metadata={
            "axes": axes, "source": f"/data/{group}", "image_group": group, "channel": i,
            "channel_names": names})
        for i, (channel, name) in enumerate(zip(data, names))
    ]


def test_a_channel_group_is_one_input_with_the_channel_axis_first(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    data = rng.random((2, 3, 20, 24), dtype=np.float32)
    _add_group(viewer, data)
    viewer.add_image(rng.random((20, 24)), name="single")
    choices = image_choices(viewer)
    assert "cells.czi (2 channels)" in choices
    assert {"single", "cells.czi ch0", "cells.czi ch1"} <= set(choices)

    stacked, axes, scale, layers = image_input(viewer, "cells.czi (2 channels)")
    assert axes == "CZYX"
    assert [layer.name for layer in layers] == ["cells.czi ch0", "cells.czi ch1"]
    np.testing.assert_array_equal(stacked, data)
    assert len(scale) == 3
    region = input_region(layers, axes, (slice(None), 1, slice(2, 5), slice(0, 4)))
    np.testing.assert_array_equal(region, data[:, 1, 2:5, 0:4])

    one, axes, _, layers = image_input(viewer, "single")
    assert axes == "YX" and layers[0].name == "single" and one is layers[0].data

    viewer.layers.remove("cells.czi ch1")  # one channel left: no group entry any more
    assert "cells.czi (2 channels)" not in image_choices(viewer)
    with pytest.raises(ValueError, match="not in the viewer any more"):
        image_input(viewer, "cells.czi (2 channels)")


def test_axes_come_from_metadata_else_the_core_guess_and_edits_touch_only_metadata(
        make_napari_viewer):
    viewer = make_napari_viewer()
    data = np.zeros((3, 2, 16, 16), np.uint16)
    layer = viewer.add_image(data, name="stack")
    assert layer_axes(layer, dims=2) == "TZYX"  # the core's guess for 4 unnamed dims
    layer.metadata["axes"] = "zcyx"
    assert layer_axes(layer, dims=2) == "ZCYX"
    layer.metadata["axes"] = "YX"  # does not fit the data: ignored, guessed again
    assert layer_axes(layer, dims=2) == "TZYX"
    assert set_layer_axes(layer, "ztyx") == "ZTYX"
    assert layer.metadata["axes"] == "ZTYX" and layer.data is data
    with pytest.raises(ValueError, match="stack"):
        set_layer_axes(layer, "ZYX")
    assert layer.metadata["axes"] == "ZTYX"
    rgb = viewer.add_image(np.zeros((8, 8, 3), np.uint8), name="rgb", rgb=True)
    assert layer_axes(rgb, dims=2) == "YXC"
