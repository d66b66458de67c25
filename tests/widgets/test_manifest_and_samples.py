"""The plugin as napari sees it: manifest, docked widgets and sample data."""

from __future__ import annotations

import numpy as np
import pytest
from npe2 import PluginManager
from qtpy.QtWidgets import QLabel

from napari_unet._widgets import LoadWidget, ModelWidget, PredictWidget, TrainWidget

WIDGETS = {"Load": LoadWidget, "Train": TrainWidget, "Predict": PredictWidget,
           "Model": ModelWidget}
SAMPLES = {
    # key: (image shape, image dtype, scale, painted classes)
    "em_membranes": ((512, 512), np.uint8, (4.0, 4.0), {0, 1, 2}),
    "fluo_nuclei": ((360, 360), np.uint8, (1.0, 1.0), {0, 1, 2}),
    "nuclei_3d": ((100, 100, 100), np.uint8, (0.28372, 0.12679, 0.12679), {0, 1, 2}),
}


def test_manifest_is_valid_and_lists_widgets_and_samples():
    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-unet")
    assert {w.display_name for w in manifest.contributions.widgets} == set(WIDGETS)
    assert {s.key for s in manifest.contributions.sample_data} == set(SAMPLES)


@pytest.mark.parametrize("name", list(WIDGETS))
@pytest.mark.slow
def test_every_widget_docks_and_says_what_it_does(make_napari_viewer, name):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-unet", name)
    assert isinstance(widget, WIDGETS[name])
    assert viewer.window.dock_widgets[f"{name} (napari-unet)"] is widget
    text = widget.findChild(QLabel, "napari_unet_description").text()
    assert name in text and len(text) > 80


@pytest.mark.parametrize("key", list(SAMPLES))
@pytest.mark.slow
def test_every_sample_opens_with_image_and_paint_layers(make_napari_viewer, key):
    shape, dtype, scale, classes = SAMPLES[key]
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", key)
    image, paint = viewer.layers
    assert image._type_string == "image" and paint._type_string == "labels"
    assert image.data.shape == shape and image.data.dtype == dtype
    assert paint.data.shape == shape and paint.data.dtype == np.uint8
    np.testing.assert_allclose(image.scale, scale)
    np.testing.assert_allclose(paint.scale, scale)
    assert set(np.unique(paint.data)) == classes
    painted = (paint.data > 0).mean()
    assert 0.0005 < painted < 0.05, "a sample holds a few strokes, not a dense mask"
    assert paint.metadata["napari_unet"]["class_names"][0] == "background"


@pytest.mark.slow
def test_3d_sample_is_painted_on_three_slices_only(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "nuclei_3d")
    paint = viewer.layers[1].data
    painted_slices = np.flatnonzero(paint.reshape(paint.shape[0], -1).any(axis=1))
    assert painted_slices.tolist() == [25, 50, 75]
