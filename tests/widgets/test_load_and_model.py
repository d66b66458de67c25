"""Load images and paint layers; save, load and export models from the Model widget."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet._sample_data import read_sample
from napari_unet._widgets.model import card_rows

from .conftest import dock, tiny, wait_idle


@pytest.mark.slow
def test_load_files_as_stack_with_voxel_size_and_add_paint_layer(make_napari_viewer, tmp_path):
    image = read_sample("em_membranes_image.tif")
    for i in range(3):
        tifffile.imwrite(tmp_path / f"slice_{i}.tif", np.roll(image, 10 * i, axis=0))
    viewer = make_napari_viewer()
    load = dock(viewer, "Load")
    load.path_edit.setText(str(tmp_path))
    load.voxel_edit.setText("0.05, 0.004, 0.004")
    (layer,) = load.open()
    assert layer.data.shape == (3, 512, 512)
    np.testing.assert_allclose(layer.scale, (0.05, 0.004, 0.004))

    load.class_list.item(1).setText("membrane")
    load._add_class_item("mitochondria")
    assert load.class_names() == ["background", "membrane", "mitochondria"]
    load.image_combo.setCurrentText(layer.name)
    paint = load.add_paint_layer()
    assert paint.data.shape == (3, 512, 512) and paint.data.dtype == np.uint8
    assert paint.data.max() == 0
    np.testing.assert_allclose(paint.scale, layer.scale)
    assert paint.metadata["napari_unet"]["class_names"][2] == "mitochondria"
    assert paint.selected_label == 2


@pytest.mark.slow
def test_load_zarr_stays_lazy_and_channels_split(make_napari_viewer, tmp_path):
    store = zarr.open_array(tmp_path / "big.zarr", mode="w", shape=(2, 64, 96),
                            chunks=(1, 32, 32), dtype="uint16")
    store[:] = np.arange(2 * 64 * 96, dtype=np.uint16).reshape(2, 64, 96)
    viewer = make_napari_viewer()
    load = dock(viewer, "Load")
    load.path_edit.setText(str(tmp_path / "big.zarr"))
    load.axes_edit.setText("CYX")
    layers = load.open()
    assert len(layers) == 2
    assert all(not isinstance(lyr.data, np.ndarray) for lyr in layers), "zarr stays lazy"
    assert layers[0].data.shape == (64, 96)


@pytest.mark.slow
def test_bad_load_inputs_are_reported(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    load = dock(viewer, "Load")
    load.path_edit.setText(str(tmp_path / "missing.tif"))
    assert load.open() == []
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((8, 8), np.uint8))
    load.path_edit.setText(str(tmp_path / "a.tif"))
    load.axes_edit.setText("ZYX")
    assert load.open() == [] and len(viewer.layers) == 0


@pytest.mark.parametrize("fmt", ["torchscript"])
@pytest.mark.slow
def test_save_load_export_and_model_card(make_napari_viewer, qtbot, tmp_path, fmt):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "fluo_nuclei")
    train, model_widget = dock(viewer, "Train"), dock(viewer, "Model")
    assert "no model yet" in model_widget.card.toPlainText()
    tiny(train, steps=3)
    train.start()
    wait_idle(qtbot, train)
    card = dict(card_rows(train.state.model))
    assert card["task"] == "semantic" and "nucleus" in card["classes"]
    assert card["training"].startswith("3 steps")
    shown = model_widget.card.toPlainText()
    assert "semantic" in shown and "nucleus" in shown and "3 steps" in shown

    path = tmp_path / "nuclei"
    model_widget.path_edit.setText(str(path))
    model_widget.save()
    qtbot.waitUntil(lambda: model_widget.worker is None, timeout=30_000)
    saved = tmp_path / "nuclei.unet.safetensors"
    assert saved.is_file() and "saved to" in model_widget.status.text()

    trained = train.state.model
    model_widget.path_edit.setText(str(saved))
    model_widget.load()
    qtbot.waitUntil(lambda: model_widget.worker is None, timeout=30_000)
    loaded = train.state.model
    assert loaded is not trained and "loaded from" in train.state.source
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    model_widget.path_edit.setText(str(tmp_path / "nuclei.pt"))
    model_widget.export_combo.setCurrentText(fmt)
    model_widget.export()
    qtbot.waitUntil(lambda: model_widget.worker is None, timeout=60_000)
    assert (tmp_path / "nuclei.pt").is_file(), model_widget.status.text()


@pytest.mark.slow
def test_predict_with_a_model_file(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model = UNet(depth=2, base_channels=4, out_channels=2)
    model.meta.update(task="semantic", class_names=["background", "nucleus"])
    path = save_model(model, tmp_path / "m.unet.safetensors")
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "fluo_nuclei")
    predict = dock(viewer, "Predict")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(path))
    predict.start()
    wait_idle(qtbot, predict)
    classes = viewer.layers["Fluorescence nuclei classes"]
    assert classes.data.shape == (360, 360) and classes.data.dtype == np.uint8


@pytest.mark.slow
def test_predict_without_a_model_says_so(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "fluo_nuclei")
    predict = dock(viewer, "Predict")
    predict.start()
    assert predict.worker is None and "no current model" in predict.status.text()


def _file_model(tmp_path):
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model = UNet(depth=2, base_channels=4, out_channels=2)
    model.meta.update(task="semantic", class_names=["background", "nucleus"])
    return save_model(model, tmp_path / "m.unet.safetensors")


@pytest.mark.slow
def test_lazy_zarr_image_gives_zarr_backed_results(make_napari_viewer, qtbot, tmp_path):
    image = read_sample("fluo_nuclei_image.tif")
    store = zarr.open_array(tmp_path / "img.zarr", mode="w", shape=image.shape,
                            chunks=(128, 128), dtype=image.dtype)
    store[:] = image
    viewer = make_napari_viewer()
    viewer.add_image(zarr.open_array(tmp_path / "img.zarr", mode="r"), name="lazy nuclei")
    predict = dock(viewer, "Predict")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(_file_model(tmp_path)))
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("probabilities", "classes", "uncertainty"))
    predict.start()
    wait_idle(qtbot, predict)
    probs = viewer.layers["lazy nuclei nucleus probability"].data
    classes = viewer.layers["lazy nuclei classes"].data
    assert not isinstance(probs, np.ndarray) and isinstance(classes, zarr.Array)
    assert probs.shape == (360, 360) and classes.shape == (360, 360)
    assert not isinstance(viewer.layers["lazy nuclei uncertainty"].data, np.ndarray)
    # the same model on the numpy image gives the same classes
    viewer.add_image(image, name="numpy nuclei")
    predict.image_combo.setCurrentText("numpy nuclei")
    predict.start()
    wait_idle(qtbot, predict)
    np.testing.assert_array_equal(viewer.layers["numpy nuclei classes"].data, classes[:])


@pytest.mark.slow
def test_predict_current_view_fills_only_the_visible_part(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-unet", "fluo_nuclei")
    predict = dock(viewer, "Predict")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(_file_model(tmp_path)))
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center = (90, 90)
    camera.zoom = 8
    qtbot.wait(50)
    predict.scope_combo.setCurrentText("current view")
    for name, check in predict.output_checks.items():
        check.setChecked(name == "classes")
    predict.start()
    wait_idle(qtbot, predict)
    classes = viewer.layers["Fluorescence nuclei classes"].data
    assert classes.shape == (360, 360)
    done = classes > 0
    assert 0 < done.sum() < 0.5 * done.size, "only the visible region is predicted"
    rows, cols = np.nonzero(done)
    assert rows.min() <= 90 <= rows.max() and cols.min() <= 90 <= cols.max()


@pytest.mark.slow
def test_model_widget_loads_a_bioimageio_zip_that_predicts_as_the_cli(make_napari_viewer,
                                                                      qtbot, tmp_path):
    import torch

    from napari_unet._sample_data import sample_path
    from napari_unet.cli import main
    from napari_unet.core.export import export_bioimageio
    from napari_unet.core.model import UNet

    torch.manual_seed(2)
    model = UNet(depth=2, base_channels=4, out_channels=2,
                 meta={"task": "semantic", "axes": "YX",
                       "class_names": ["background", "nucleus"]}).eval()
    package = export_bioimageio(model, tmp_path / "nuclei.zip")
    image_file = sample_path("fluo_nuclei_image.tif")
    assert main(["predict", str(package), str(image_file), "--out", str(tmp_path / "cli"),
                 "--output", "probabilities", "-q"]) == 0
    from_cli = tifffile.imread(tmp_path / "cli" / "fluo_nuclei_image_probabilities.tif")

    viewer = make_napari_viewer()
    viewer.add_image(tifffile.imread(image_file), name="nuclei")
    model_widget, predict = dock(viewer, "Model"), dock(viewer, "Predict")
    model_widget.path_edit.setText(str(package))
    model_widget.load()
    qtbot.waitUntil(lambda: model_widget.worker is None, timeout=30_000)
    assert "loaded" in model_widget.status.text(), model_widget.status.text()
    assert model_widget.state.model is not None and "nucleus" in model_widget.card.toPlainText()
    for name, check in predict.output_checks.items():
        check.setChecked(name == "probabilities")
    predict.model_combo.setCurrentText("current model")
    predict.start()
    wait_idle(qtbot, predict)
    in_viewer = np.asarray(viewer.layers["nuclei nucleus probability"].data)
    assert from_cli.shape == (2, 360, 360) and in_viewer.shape == (360, 360)
    np.testing.assert_allclose(in_viewer, from_cli[1], atol=1e-5)
    # the Predict widget's "model file" opens the same package
    viewer.layers.remove("nuclei nucleus probability")
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(package))
    predict.start()
    wait_idle(qtbot, predict)
    np.testing.assert_allclose(viewer.layers["nuclei nucleus probability"].data, from_cli[1],
                               atol=1e-5)
