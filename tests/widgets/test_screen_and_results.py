"""The docks on a laptop screen, readable result layers, closing a dock, keys and words."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import QApplication

from .conftest import dock, tiny, wait_idle

#: The keys the docks bind: Train, Stop, Predict the current view.
KEYS = ("Shift-T", "Shift-S", "Shift-R")


def _settle(qtbot, ms: int = 50) -> None:
    QApplication.processEvents()
    qtbot.wait(ms)


def _file_model(tmp_path, names=("background", "nucleus")):
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model = UNet(depth=2, base_channels=4, out_channels=len(names))
    model.meta.update(task="semantic", class_names=list(names))
    return save_model(model, tmp_path / f"m{len(names)}.unet.safetensors")


def test_every_dock_fits_a_1366x768_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-unet", "em_membranes")
    train, predict = dock(viewer, "Train"), dock(viewer, "Predict")
    window = viewer.window._qt_window
    window.showNormal()
    window.resize(1366, 768)
    _settle(qtbot, 200)
    # Train and Predict docked together (stacked): napari still fits a laptop screen
    assert window.minimumSizeHint().height() <= 768
    assert window.height() <= 768, f"the window is {window.height()} px tall"
    for button in (train.train_button, train.stop_button, predict.predict_button):
        assert button.isVisible()
        bottom = button.mapTo(window, QPoint(0, button.height())).y()
        assert 0 < bottom <= window.height(), f"{button.text()!r} is off-screen"
    assert train.status.isVisible() and train.plot.isVisible()
    for name in ("Load", "Model"):
        dock(viewer, name)
    assert len(viewer.window.dock_widgets) == 4
    for name, inner in viewer.window.dock_widgets.items():
        assert inner.minimumSizeHint().height() <= 600, (name, inner.minimumSizeHint())


@pytest.mark.slow
def test_sections_collapse(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "em_membranes")
    train = dock(viewer, "Train")
    assert not train.advanced.isChecked() and train.advanced_body.isHidden()
    folded = train.advanced.minimumSizeHint().height()
    train.advanced.setChecked(True)
    QApplication.processEvents()
    assert not train.advanced_body.isHidden()
    assert train.advanced.minimumSizeHint().height() > folded + 100
    train.advanced.setChecked(False)
    assert train.advanced_body.isHidden()
    QApplication.processEvents()
    assert train.advanced.minimumSizeHint().height() == folded
    # the pair list shows once it holds pairs; the curve folds away
    assert train.pair_list.isHidden()
    train.add_pair_button.click()
    assert not train.pair_list.isHidden() and train.pair_list.count() == 1
    train.pair_list.item(0).setSelected(True)
    train.remove_pair_button.click()
    assert train.pair_list.isHidden()
    train.curve_box.setChecked(False)
    assert train.plot.isHidden()


@pytest.mark.slow
def test_probability_layers_per_class_keep_the_view_and_the_selection(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-unet", "fluo_nuclei")
    image, paint = viewer.layers
    predict = dock(viewer, "Predict")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(_file_model(tmp_path)))
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center, camera.zoom = (100.0, 120.0), 3.0
    viewer.layers.selection.active = paint
    _settle(qtbot)
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("probabilities", "classes", "uncertainty"))
    predict.start()
    wait_idle(qtbot, predict)
    prob = viewer.layers["Fluorescence nuclei nucleus probability"]
    assert prob.data.shape == (360, 360) and prob.data.dtype == np.float32
    assert prob.blending == "additive" and not prob.visible, "classes are what shows"
    assert tuple(prob.contrast_limits) == (0.0, 1.0)
    assert "Fluorescence nuclei probabilities" not in viewer.layers
    assert "Fluorescence nuclei background probability" not in viewer.layers
    classes = viewer.layers["Fluorescence nuclei classes"]
    assert classes.visible and viewer.layers["Fluorescence nuclei uncertainty"].blending == \
        "additive"
    assert viewer.dims.ndim == 2, "no extra slider"
    assert all(len(lyr.units) == 2 for lyr in viewer.layers)
    np.testing.assert_allclose(prob.scale, image.scale)
    np.testing.assert_allclose(camera.center[-2:], (100.0, 120.0))
    assert camera.zoom == pytest.approx(3.0), "results do not reset the camera"
    assert viewer.layers.selection.active is paint, "the paint layer keeps the selection"
    assert predict.image_combo.findText(prob.name) < 0, "results are not images to predict"

    # predicting again replaces the results in the same layers, visibly
    classes.visible = False
    layers_before = list(viewer.layers)
    predict.start()
    wait_idle(qtbot, predict)
    assert list(viewer.layers) == layers_before
    assert classes.visible and "updated" in predict.status.text()
    assert viewer.layers.selection.active is paint

    # a 3-class model: one layer per structure class (2 and 3), named after it
    predict.model_file.setText(str(_file_model(tmp_path, ("background", "nucleus", "rim"))))
    for name, check in predict.output_checks.items():
        check.setChecked(name == "probabilities")
    predict.start()
    wait_idle(qtbot, predict)
    rim = viewer.layers["Fluorescence nuclei rim probability"]
    assert rim.visible and rim.data.shape == (360, 360)
    both = viewer.layers["Fluorescence nuclei nucleus probability"].data + rim.data
    assert float(both.max()) <= 1.0 + 1e-5
    assert viewer.dims.ndim == 2 and camera.zoom == pytest.approx(3.0)


@pytest.mark.slow
def test_closing_the_docks_ends_their_jobs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "em_membranes")
    train_dock, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    tiny(train, steps=100_000)
    train.preview_combo.setCurrentIndex(1)
    train.start()
    worker = train.worker
    qtbot.waitUntil(lambda: len(train.plot.losses) >= 2, timeout=60_000)
    train_dock.title.close_button.click()  # the dock's "x"
    qtbot.waitUntil(lambda: train.worker is None, timeout=30_000)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    assert train.state.model is not None, "the model trained so far is kept"
    assert "Train" not in str(list(viewer.window.dock_widgets))

    predict_dock, predict = viewer.window.add_plugin_dock_widget("napari-unet", "Predict")
    predict.tile_spin.setValue(64)  # many tiles, so there is something to cancel
    predict.start()
    assert predict.worker is not None
    predict_dock.title.close_button.click()
    wait_idle(qtbot, predict)
    assert predict.status.text() == "cancelled"
    assert "EM membranes classes" not in viewer.layers


@pytest.mark.slow
def test_shortcuts_do_not_clash_and_work_over_the_paint_layer(make_napari_viewer, qtbot,
                                                              tmp_path):
    from napari.layers import Labels
    from napari.utils.key_bindings import KeyBinding
    from napari.utils.shortcuts import _default_shortcuts

    taken = {KeyBinding.validate(key) for keys in _default_shortcuts.values() for key in keys}
    taken |= set(Labels.class_keymap)
    ours = {KeyBinding.from_str(key) for key in KEYS}
    assert not ours & taken, "a shortcut clashes with one of napari's"

    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-unet", "fluo_nuclei")
    paint = viewer.layers["Fluorescence nuclei paint"]
    train, predict = dock(viewer, "Train"), dock(viewer, "Predict")
    tiny(train, steps=100_000)
    train.preview_combo.setCurrentIndex(1)
    viewer.layers.selection.active = paint
    paint.mode = "paint"
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    _settle(qtbot)
    qtbot.keyClick(canvas, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)
    assert train.worker is not None, "Shift+T trains"
    qtbot.waitUntil(lambda: len(train.plot.losses) >= 1, timeout=60_000)
    qtbot.keyClick(canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, train)
    assert train.state.model is not None and paint.mode == "paint"

    for name, check in predict.output_checks.items():
        check.setChecked(name == "classes")
    (viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera).zoom = 6
    _settle(qtbot)
    qtbot.keyClick(canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, predict)
    done = viewer.layers["Fluorescence nuclei classes"].data > 0
    assert 0 < done.sum() < done.size, "Shift+R predicts the current view"


@pytest.mark.slow
def test_messages_use_the_widgets_words(make_napari_viewer, tmp_path):
    from napari_unet._widgets._layers import get_layer

    viewer = make_napari_viewer()
    with pytest.raises(ValueError, match="pick a labels layer"):
        get_layer(viewer, "", "labels")
    viewer.add_image(np.zeros((2, 3, 4, 32, 32), np.float32), name="5d")
    predict = dock(viewer, "Predict")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(_file_model(tmp_path)))
    predict.start()
    text = predict.status.text()
    assert text.startswith("not started") and "--" not in text and "axes field" in text.lower()

    viewer.add_image(np.random.default_rng(0).random((64, 64)).astype(np.float32), name="img")
    small = np.ones((32, 32), np.uint8)
    small[:4, :4] = 2
    viewer.add_labels(small, name="small paint")
    train = dock(viewer, "Train")
    train.image_combo.setCurrentText("img")
    train.labels_combo.setCurrentText("small paint")
    train.start()
    text = train.status.text()
    assert "the first pair (image 'img', paint 'small paint')" in text
    assert "pair 0" not in text


@pytest.mark.slow
def test_model_card_is_a_table_with_the_parameter_count(make_napari_viewer, tmp_path):
    from napari_unet._widgets.model import card_rows
    from napari_unet.core.modelfile import load_model

    viewer = make_napari_viewer()
    model_widget = dock(viewer, "Model")
    model = load_model(_file_model(tmp_path))
    model_widget.state.set_model(model, "a test")
    html = model_widget.card.toHtml()
    assert "<table" in html and "{" not in model_widget.card.toPlainText()
    rows = dict(card_rows(model))
    assert rows["parameters"] == f"{sum(p.numel() for p in model.parameters()):,}"
    assert rows["classes"] == "1 background, 2 nucleus"
    assert "None" not in model_widget.card.toPlainText()
