"""Train and Predict from the widgets with a real viewer, as a person would click them."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import dock, tiny, wait_idle


@pytest.mark.slow
def test_train_stop_continue_then_predict_whole_image(em_viewer, qtbot, stall_meter):
    viewer = em_viewer
    image, paint = viewer.layers
    painting_before = paint.data.copy()
    image_before = image.data.copy()
    train, predict = dock(viewer, "Train"), dock(viewer, "Predict")
    assert train.image_combo.currentText() == "EM membranes"
    assert train.labels_combo.currentText() == "EM membranes paint"
    tiny(train, steps=400)

    train.start()
    stall_meter.start()  # from here on the main thread only updates the plot and preview
    assert train.worker is not None and not train.train_button.isEnabled()
    qtbot.waitUntil(lambda: len(train.plot.losses) >= 3, timeout=60_000)
    train.stop()
    wait_idle(qtbot, train)
    assert stall_meter.stop() < 1.0, "the GUI froze while training"
    model = train.state.model
    assert model is not None and model.meta["task"] == "semantic"
    steps_first = len(train.plot.losses)
    assert steps_first < 400, "Stop ended training early"
    assert model.meta["class_names"] == ["background", "membrane"]

    train.budget_spin.setValue(4)
    train.continue_button.click()
    wait_idle(qtbot, train)
    assert len(train.plot.losses) > steps_first, "Continue adds to the same curve"
    assert train.state.model is not model

    predict.scope_combo.setCurrentText("whole stack")
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("probabilities", "classes", "uncertainty"))
    predict.start()
    stall_meter.start()
    qtbot.waitUntil(lambda: predict.worker is None, timeout=60_000)
    assert stall_meter.stop() < 1.0, "the GUI froze while predicting"
    wait_idle(qtbot, predict)
    probs = viewer.layers["EM membranes membrane probability"]  # one layer per structure
    classes = viewer.layers["EM membranes classes"]
    unsure = viewer.layers["EM membranes uncertainty"]
    assert "EM membranes background probability" not in viewer.layers
    assert probs.data.shape == (512, 512) and probs.data.dtype == np.float32
    assert 0 <= probs.data.min() <= probs.data.max() <= 1
    assert classes.data.shape == (512, 512) and classes.data.dtype == np.uint8
    assert set(np.unique(classes.data)) <= {1, 2}
    assert unsure.data.shape == (512, 512) and 0 <= unsure.data.min() <= unsure.data.max() <= 1
    np.testing.assert_allclose(classes.scale, image.scale)
    np.testing.assert_allclose(probs.scale, image.scale)

    # predicting again updates the layers instead of adding new ones
    n_layers = len(viewer.layers)
    predict.start()
    wait_idle(qtbot, predict)
    assert len(viewer.layers) == n_layers
    # the user's layers were never changed
    np.testing.assert_array_equal(paint.data, painting_before)
    np.testing.assert_array_equal(image.data, image_before)


@pytest.mark.slow
def test_training_shows_a_live_preview(em_viewer, qtbot):
    train = dock(em_viewer, "Train")
    tiny(train, steps=100_000)
    train._preview_timer.setInterval(200)
    train.start()
    preview = em_viewer.layers["EM membranes preview"]
    assert preview.data.shape == (512, 512) and preview.data.max() == 0
    qtbot.waitUntil(lambda: preview.data.max() > 0, timeout=60_000)
    train.stop()
    wait_idle(qtbot, train)
    assert set(np.unique(preview.data)) <= {1, 2}, "the whole slice is previewed"
    np.testing.assert_allclose(preview.scale, em_viewer.layers["EM membranes"].scale)
    # the shallow classifier's held-out score goes with the model, for the warnings
    assert 0.0 <= train.state.model.meta["training"]["shallow_iou"] <= 1.0


@pytest.mark.slow
def test_3d_stack_predict_current_slice_and_instances(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "nuclei_3d")
    image = viewer.layers["Nuclei 3D"]
    train, predict = dock(viewer, "Train"), dock(viewer, "Predict")
    tiny(train, steps=150)
    train.start()
    wait_idle(qtbot, train)
    assert train.state.model is not None and train.state.model.dims == 2
    assert not predict.output_checks["instances"].isChecked(), "objects are opt-in (semantic)"

    viewer.dims.set_point(0, 50 * image.scale[0])
    predict.scope_combo.setCurrentText("current slice")
    for name, check in predict.output_checks.items():
        check.setChecked(name == "classes")
    predict.start()
    wait_idle(qtbot, predict)
    classes = viewer.layers["Nuclei 3D classes"].data
    assert classes.shape == (100, 100, 100)
    assert classes[50].min() >= 1, "the current slice is predicted"
    assert classes[:50].max() == 0 and classes[51:].max() == 0, "other slices are not"
    np.testing.assert_allclose(viewer.layers["Nuclei 3D classes"].scale, image.scale)

    # a semantic model's objects: the nuclei class, split where nuclei touch, as a 3D volume
    predict.scope_combo.setCurrentText("whole stack")
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("classes", "instances"))
    predict.start()
    wait_idle(qtbot, predict)
    classes = viewer.layers["Nuclei 3D classes"].data
    objects = viewer.layers["Nuclei 3D instances"].data
    assert objects.shape == (100, 100, 100) and objects.dtype == np.int32
    assert (classes == 2).any(), "the model found nuclei"
    assert (objects[classes == 2] > 0).all(), "every nucleus pixel is in an object"
    assert objects.max() == len(np.unique(objects)) - 1, "objects are numbered 1..N"
    z_extent = [np.ptp(np.nonzero(objects == i)[0]) for i in range(1, objects.max() + 1)]
    assert max(z_extent) >= 5, "a 2D model over Z gives 3D objects"
    np.testing.assert_allclose(viewer.layers["Nuclei 3D instances"].scale, image.scale)


@pytest.mark.slow
def test_cancel_stops_a_prediction(em_viewer, qtbot):
    train, predict = dock(em_viewer, "Train"), dock(em_viewer, "Predict")
    tiny(train, steps=2)
    train.start()
    wait_idle(qtbot, train)
    predict.tile_spin.setValue(64)  # many tiles, so there is something to cancel
    predict.start()
    predict.cancel()
    wait_idle(qtbot, predict)
    assert predict.status.text() == "cancelled"
    assert "EM membranes classes" not in em_viewer.layers
    assert predict.predict_button.isEnabled()


@pytest.mark.slow
def test_removing_a_layer_while_training_is_reported_not_fatal(em_viewer, qtbot):
    train = dock(em_viewer, "Train")
    tiny(train, steps=100_000)
    train.start()
    qtbot.waitUntil(lambda: len(train.plot.losses) >= 1, timeout=60_000)
    em_viewer.layers.remove("EM membranes paint")
    assert "removed while training" in train.status.text()
    train.stop()
    wait_idle(qtbot, train)
    assert train.state.model is not None, "training ends normally with the copied data"


@pytest.mark.slow
def test_invalid_pairs_get_clear_messages(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((64, 64)).astype(np.float32), name="img")
    viewer.add_labels(np.zeros((64, 64), np.uint8), name="empty paint")
    small = np.ones((32, 32), np.uint8)
    small[:4, :4] = 2
    viewer.add_labels(small, name="small paint")
    train = dock(viewer, "Train")
    tiny(train, steps=2)
    train.labels_combo.setCurrentText("empty paint")
    train.start()
    assert train.worker is None and "not started" in train.status.text()
    assert "class" in train.status.text()

    train.labels_combo.setCurrentText("small paint")
    train.start()
    assert train.worker is None and "shape" in train.status.text()
    assert train.train_button.isEnabled()


@pytest.mark.slow
def test_instance_model_from_a_mask_gives_objects(make_napari_viewer, qtbot):
    from napari_unet._sample_data import read_sample

    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "fluo_nuclei")
    viewer.add_labels(read_sample("fluo_nuclei_truth.tif"), name="nuclei mask")
    train, predict = dock(viewer, "Train"), dock(viewer, "Predict")
    train.task_combo.setCurrentText("instances")
    train.labels_combo.setCurrentText("nuclei mask")
    tiny(train, steps=4)
    train.start()
    wait_idle(qtbot, train)
    model = train.state.model
    assert model.meta["task"] == "instances" and model.out_channels == 3
    assert predict.output_checks["instances"].isChecked(), "objects by default (instances)"
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("instances", "probabilities"))
    predict.start()
    wait_idle(qtbot, predict)
    objects = viewer.layers["Fluorescence nuclei instances"]
    assert objects.data.shape == (360, 360) and objects.data.dtype == np.int32
    for c in model.meta["class_names"][1:]:  # classes 2..K, one layer each
        assert viewer.layers[f"Fluorescence nuclei {c} probability"].data.shape == (360, 360)
