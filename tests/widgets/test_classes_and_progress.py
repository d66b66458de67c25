"""Classes with names and colours, progress in napari's activity dock, a cheap Train click."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.widgets.conftest import dock, tiny, wait_idle


@pytest.mark.slow
def test_clicking_train_on_a_big_image_copies_nothing_on_the_main_thread(
        make_napari_viewer, qtbot, stall_meter):
    """Prints the main thread's time in Train.start (before this change: ~580-680 ms on the
    2-core test machine, the paint layer copied to int64 twice and both layers copied) and
    its longest stall in the second after the click (the activity dock's bar comes then)."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((4000, 4000), dtype=np.float32), name="big")
    paint = np.zeros((4000, 4000), np.uint8)
    paint[100:140, 100:400] = 1
    paint[2000:2040, 2000:2300] = 2
    viewer.add_labels(paint, name="big paint")
    train = dock(viewer, "Train")
    tiny(train, steps=1)
    train.preview_combo.setCurrentIndex(1)  # the click alone, not the preview layer
    stall_meter.start()
    began = time.perf_counter()
    train.start()
    spent = time.perf_counter() - began
    qtbot.wait(1000)
    stall = stall_meter.stop()
    print(f"\nmain-thread time of Train.start on a 4000 x 4000 image: {spent * 1000:.0f} ms; "
          f"longest main-thread stall in the second after: {stall * 1000:.0f} ms")
    assert train.worker is not None, train.status.text()
    assert train._preview_target[2] == (4000, 4000)
    train.stop()
    wait_idle(qtbot, train)


@pytest.mark.slow
def test_training_shows_progress_in_the_activity_dock_and_keeps_class_names(
        make_napari_viewer, qtbot):
    from napari.utils import progress

    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    image[20:30] += 2
    viewer.add_image(image, name="cells")
    load, train = dock(viewer, "Load"), dock(viewer, "Train")
    load.class_list.item(1).setText("nucleus")
    load.image_combo.setCurrentText("cells")
    paint = load.add_paint_layer()
    paint.data[2:6, 4:60] = 1
    paint.data[22:28, 4:60] = 2
    paint.data[50:54, 4:60] = 1
    tiny(train, steps=100_000, patch=32)
    train.labels_combo.setCurrentText("cells paint")
    train.start()
    qtbot.waitUntil(lambda: train.activity.bar is not None or not train.busy, timeout=10_000)
    bar = train.activity.bar
    assert bar is not None and bar in progress._all_instances
    assert "napari-unet" in bar.desc
    qtbot.waitUntil(lambda: len(train.plot.losses) >= 2, timeout=60_000)
    assert bar.n <= 100 and "step" in bar.desc, bar.desc
    bar.cancel()  # the activity dock's cancel button: stops as Stop does
    wait_idle(qtbot, train)
    assert len(train.plot.losses) < 100_000
    assert train.activity.bar is None and bar not in progress._all_instances, "closed"
    assert train.state.model.meta["class_names"] == ["background", "nucleus"]


@pytest.mark.slow
def test_the_paint_layer_names_and_colours_its_classes(make_napari_viewer):
    from napari_unet._widgets._layers import class_colormap

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 40), np.float32), name="cells")
    load, train = dock(viewer, "Load"), dock(viewer, "Train")
    load.class_list.item(1).setText("nucleus")
    load.image_combo.setCurrentText("cells")
    paint = load.add_paint_layer()
    assert list(paint.features["class"]) == ["not painted", "background", "nucleus"]
    from napari.utils.colormaps.standardize_color import transform_color

    expected = class_colormap(2)
    for value in (1, 2):  # the class list's colours, one per class
        np.testing.assert_allclose(np.ravel(paint.colormap.map(value))[:3],
                                   transform_color(expected[value])[0][:3], atol=1e-3)
    assert expected[1] != expected[2]
    paint.data[10, 10] = 2
    status = paint.get_status((10, 10), world=True)
    text = status["coordinates"] if isinstance(status, dict) else status
    assert "class: nucleus" in text, text
    train.labels_combo.setCurrentText("cells paint")
    assert "1 background" in train.classes_label.text()
    assert "2 nucleus" in train.classes_label.text()


@pytest.mark.slow
def test_prediction_shows_progress_in_the_activity_dock_and_its_cancel_cancels(
        make_napari_viewer, qtbot, tmp_path):
    from napari.utils import progress

    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model = UNet(depth=2, base_channels=4, out_channels=2)
    model.meta.update(task="semantic", class_names=["background", "nucleus"])
    path = save_model(model, tmp_path / "m.unet.safetensors")
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((2048, 2048)).astype(np.float32),
                     name="big")
    predict = dock(viewer, "Predict")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(path))
    predict.tile_spin.setValue(64)  # many tiles: time to see the entry
    predict.start()
    qtbot.waitUntil(lambda: predict.activity.bar is not None or not predict.busy,
                    timeout=10_000)
    bar = predict.activity.bar
    assert bar is not None and bar in progress._all_instances, predict.status.text()
    assert "prediction" in bar.desc
    bar.cancel()  # the activity dock's cancel button cancels as Cancel does
    wait_idle(qtbot, predict)
    assert predict.status.text() == "cancelled"
    assert predict.activity.bar is None and bar not in progress._all_instances, "closed"
    assert "big classes" not in viewer.layers
