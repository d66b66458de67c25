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


@pytest.mark.slow
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


@pytest.mark.slow
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


def _strokes(shape: tuple[int, ...]) -> np.ndarray:
    """Background (1) and object (2) strokes on every 2D slice of ``shape``."""
    paint = np.zeros(shape, np.uint8)
    paint[..., 2:6, 4:40] = 1
    paint[..., 20:26, 8:30] = 2
    paint[..., 40:44, 10:44] = 1
    return paint


def _cells(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """An image whose object rows (20..26) are bright in channel 0 only."""
    image = np.random.default_rng(seed).random(shape).astype(np.float32)
    image[..., 18:28, :] += 2.0
    return image


@pytest.mark.slow
def test_a_two_channel_zcyx_layer_trains_a_two_input_model_that_predicts_it(
        make_napari_viewer, qtbot):
    from tests.widgets.conftest import dock, tiny, wait_idle

    viewer = make_napari_viewer()
    image = np.stack([_cells((3, 48, 48)), _cells((3, 48, 48), seed=1)], axis=1)  # Z, C, Y, X
    viewer.add_image(image, name="cells", metadata={"axes": "ZCYX", "source": "cells.tif"},
                     scale=(2.0, 1.0, 0.5, 0.5))
    viewer.add_labels(_strokes((3, 48, 48)), name="cells paint")
    train, predict = dock(viewer, "Train"), dock(viewer, "Predict")
    tiny(train, steps=3, patch=32)
    train.image_combo.setCurrentText("cells")
    train.labels_combo.setCurrentText("cells paint")
    assert train.axes_edit.text() == "ZCYX", "the layer's axes are shown"
    train.start()
    assert train.worker is not None, train.status.text()
    preview = viewer.layers["cells preview"]  # per pixel: no channel axis, the image's scale
    assert preview.data.shape == (3, 48, 48)
    np.testing.assert_allclose(preview.scale, (2.0, 0.5, 0.5))
    wait_idle(qtbot, train)
    model = train.state.model
    assert model is not None, train.status.text()
    assert model.in_channels == 2
    assert "C" in model.meta["axes"] and len(model.meta["axes"]) == 4, model.meta["axes"]

    predict.image_combo.setCurrentText("cells")
    predict.scope_combo.setCurrentText("whole stack")
    for name, check in predict.output_checks.items():
        check.setChecked(name == "classes")
    predict.start()
    wait_idle(qtbot, predict)
    classes = [layer for layer in viewer.layers
               if layer.name.startswith("cells") and layer.name.endswith("classes")]
    assert classes, [layer.name for layer in viewer.layers]
    assert classes[0].data.shape == (3, 48, 48)
    assert set(np.unique(classes[0].data)) <= {1, 2}


@pytest.mark.slow
def test_a_channel_group_trains_as_one_multi_channel_input(make_napari_viewer, qtbot):
    from tests.widgets.conftest import dock, tiny, wait_idle

    viewer = make_napari_viewer()
    _add_group(viewer, np.stack([_cells((48, 48)), _cells((48, 48), seed=1)]), axes="YX")
    viewer.add_labels(_strokes((48, 48)), name="paint")
    train = dock(viewer, "Train")
    tiny(train, steps=3, patch=32)
    train.image_combo.setCurrentText("cells.czi (2 channels)")
    assert train.axes_edit.text() == "CYX"
    train.labels_combo.setCurrentText("paint")
    train.start()
    assert train.worker is not None, train.status.text()
    wait_idle(qtbot, train)
    model = train.state.model
    assert model is not None and model.in_channels == 2, train.status.text()
    assert model.meta["axes"] == "CYX"


@pytest.mark.slow
def test_axes_are_editable_in_train_and_a_time_stack_refuses_a_3d_model(make_napari_viewer,
                                                                        qtbot):
    from tests.widgets.conftest import dock, tiny

    viewer = make_napari_viewer()
    data = np.random.default_rng(0).random((3, 4, 48, 48)).astype(np.float32)
    layer = viewer.add_image(data, name="timelapse")
    viewer.add_labels(_strokes((3, 4, 48, 48)), name="timelapse paint")
    train = dock(viewer, "Train")
    tiny(train, steps=2, patch=32, dims="3D")
    train.image_combo.setCurrentText("timelapse")
    train.labels_combo.setCurrentText("timelapse paint")
    assert train.axes_edit.text() == "TZYX", "the core's guess, shown"

    train.axes_edit.editingFinished.emit()  # focus left the field, nothing typed
    assert "axes" not in layer.metadata, "a guess is not written as the layer's axes"
    train.axes_edit.clear()
    qtbot.keyClicks(train.axes_edit, "ztyx")
    train.axes_edit.editingFinished.emit()
    assert layer.metadata["axes"] == "ZTYX" and layer.data is data, "metadata only"
    assert train.axes_edit.text() == "ZTYX"
    train.start()
    text = train.status.text()
    assert train.worker is None and text.startswith("not started"), text
    assert "time axis" in text and "2D" in text and "--" not in text, text
    assert train.train_button.isEnabled()

    train.axes_edit.clear()  # one letter short: refused, the field shows the axes again
    qtbot.keyClicks(train.axes_edit, "ZYX")
    train.axes_edit.editingFinished.emit()
    assert "axes not changed" in train.status.text()
    assert train.axes_edit.text() == "ZTYX" and layer.metadata["axes"] == "ZTYX"
