"""Predict's results for people: axes and channel groups in, OME-Zarr and an object table
out, and a jump to where the model is least sure."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ..core._unet import sensitive_unet
from .conftest import dock, wait_idle


def _model_file(tmp_path, *, in_channels: int = 1, dims: int = 2, seed: int = 0):
    from napari_unet.core.modelfile import save_model

    model = sensitive_unet(seed, in_channels=in_channels, out_channels=2, dims=dims)
    model.meta.update(task="semantic", class_names=["background", "nucleus"])
    return save_model(model, tmp_path / f"m{in_channels}_{dims}d.unet.safetensors")


def _use(predict, path, outputs) -> None:
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(path))
    for name, check in predict.output_checks.items():
        check.setChecked(name in outputs)


def _camera(viewer):
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 200).astype(np.float32)


@pytest.mark.slow
def test_axes_field_is_shown_kept_and_a_3d_model_refuses_a_time_series(
        make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.add_image(_image((3, 40, 48)), name="movie", metadata={"axes": "TYX"})
    predict = dock(viewer, "Predict")
    assert predict.axes_edit.text() == "TYX", "prefilled from the layer's metadata"
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model3d = UNet(dims=3, depth=2, base_channels=2, out_channels=2)
    _use(predict, save_model(model3d, tmp_path / "3d.unet.safetensors"), ("classes",))
    predict.start()
    text = predict.status.text()
    assert predict.worker is None and text.startswith("not started")
    assert "time series" in text and "2D model" in text and "--" not in text
    assert len(viewer.layers) == 1

    predict.axes_edit.setText("zyx")  # the user says the axis is depth: kept with the layer
    predict.axes_edit.editingFinished.emit()
    assert layer.metadata["axes"] == "ZYX" and predict.axes_edit.text() == "ZYX"
    predict.axes_edit.setText("ZYXC")
    predict.axes_edit.editingFinished.emit()
    assert layer.metadata["axes"] == "ZYX", "axes that do not fit are not kept"
    assert "movie" in predict.status.text()


@pytest.mark.slow
def test_a_channel_group_is_predicted_as_one_two_channel_input(
        make_napari_viewer, qtbot, tmp_path):
    from napari_unet.core.modelfile import load_model
    from napari_unet.core.prediction.predict import predict_image

    data = np.stack([_image((64, 72), 1), _image((64, 72), 2)])
    viewer = make_napari_viewer()
    for c in range(2):
        viewer.add_image(data[c], name=f"cells ch{c}", scale=(0.5, 0.5), metadata={
            "axes": "YX", "source": "/data/cells.czi", "image_group": "cells", "channel": c,
            "channel_names": ["ch0", "ch1"]})
    predict = dock(viewer, "Predict")
    path = _model_file(tmp_path, in_channels=2)
    _use(predict, path, ("classes", "probabilities"))
    predict.image_combo.setCurrentText("cells (2 channels)")
    assert predict.axes_edit.text() == "CYX"
    predict.start()
    wait_idle(qtbot, predict)
    classes = viewer.layers["cells classes"]
    expected = predict_image(load_model(path), data, axes="CYX", output="classes")
    np.testing.assert_array_equal(classes.data, expected)
    np.testing.assert_allclose(classes.scale, (0.5, 0.5))
    assert viewer.layers["cells nucleus probability"].data.shape == (64, 72)


@pytest.mark.slow
def test_save_results_writes_one_ome_zarr_with_the_pixel_size_and_never_overwrites(
        make_napari_viewer, qtbot, tmp_path):
    zarr = pytest.importorskip("zarr")
    viewer = make_napari_viewer()
    viewer.add_image(_image((2, 48, 56)), name="stack", scale=(2.0, 0.25, 0.25),
                     units=("micrometer",) * 3, metadata={"axes": "ZYX"})
    predict = dock(viewer, "Predict")
    assert not predict.save_button.isEnabled()
    _use(predict, _model_file(tmp_path), ("probabilities", "classes", "instances",
                                          "uncertainty"))
    predict.start()
    wait_idle(qtbot, predict)
    assert predict.save_button.isEnabled()
    worker = predict.save_results(str(tmp_path / "stack results"))
    assert worker is not None, predict.status.text()
    wait_idle(qtbot, predict)
    out = tmp_path / "stack results.ome.zarr"
    assert "saved the results" in predict.status.text(), predict.status.text()
    root = zarr.open_group(str(out), mode="r")
    attrs = root.attrs.asdict()
    multiscales = attrs.get("multiscales") or attrs["ome"]["multiscales"]
    axes = [a["name"] for a in multiscales[0]["axes"]]
    assert axes == ["c", "z", "y", "x"]
    scale = multiscales[0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    np.testing.assert_allclose(scale[1:], (2.0, 0.25, 0.25))
    assert multiscales[0]["axes"][2]["unit"] == "micrometer"
    level0 = root[multiscales[0]["datasets"][0]["path"]]
    assert level0.shape == (2, 2, 48, 56)
    np.testing.assert_array_equal(root["labels/classes"][multiscales[0]["datasets"][0]["path"]],
                                  viewer.layers["stack classes"].data)
    stamp = (out / ".zattrs").stat().st_mtime_ns if (out / ".zattrs").exists() else None

    # an existing path is refused (the file dialog asks first), and nothing changes
    assert predict.save_results(str(out)) is None
    assert "exists already" in predict.status.text()
    if stamp is not None:
        assert (out / ".zattrs").stat().st_mtime_ns == stamp
    # the image's own file, or results no longer shown, are refused too
    viewer.layers.remove("stack classes")
    viewer.layers.remove("stack nucleus probability")
    viewer.layers.remove("stack instances")
    viewer.layers.remove("stack uncertainty")
    assert not predict.save_button.isEnabled()
    assert predict.save_results(str(tmp_path / "again")) is None
    assert "no results to save" in predict.status.text()


@pytest.mark.slow
def test_object_table_rows_go_to_their_objects_and_save_as_csv(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(_image((80, 96), 3), name="nuclei", scale=(0.5, 0.5),
                             units=("micrometer", "micrometer"))
    predict = dock(viewer, "Predict")
    assert predict.objects.isHidden()
    _use(predict, _model_file(tmp_path, seed=1), ("classes", "instances", "probabilities"))
    predict.start()
    wait_idle(qtbot, predict)
    instances = viewer.layers["nuclei instances"].data
    labels = [v for v in np.unique(instances) if v > 0]
    assert labels, "the test model finds objects"
    table = predict.objects.table
    assert not predict.objects.isHidden()
    assert predict.objects.view.rowCount() == len(labels) == len(table["label"])
    headers = [predict.objects.view.horizontalHeaderItem(j).text()
               for j in range(predict.objects.view.columnCount())]
    assert headers == ["object", "area", "mean intensity", "mean probability"]
    row = len(labels) // 2
    label = int(table["label"][row])
    ys, xs = np.nonzero(instances == label)
    np.testing.assert_allclose(table["area"][row], ys.size * 0.25)
    np.testing.assert_allclose(table["mean_intensity"][row], image.data[ys, xs].mean(),
                               rtol=1e-5)

    predict.objects.view.cellClicked.emit(row, 0)  # clicking the row centres on the object
    np.testing.assert_allclose(_camera(viewer).center[-2:], (ys.mean() * 0.5, xs.mean() * 0.5),
                               atol=1e-6)
    assert f"object {label}" in predict.status.text()

    predict.save_table(str(tmp_path / "objects.csv"))
    wait_idle(qtbot, predict)
    with open(tmp_path / "objects.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(labels) and int(rows[row]["label"]) == label
    before = (tmp_path / "objects.csv").read_bytes()
    predict.save_table(str(tmp_path / "objects.csv"))
    assert "exists already" in predict.status.text()
    assert (tmp_path / "objects.csv").read_bytes() == before
    predict.objects.setChecked(False)  # the section folds away
    assert predict.objects.inner.isHidden()
    viewer.layers.remove("nuclei instances")
    assert predict.objects.isHidden(), "no objects, no table"


@pytest.mark.slow
def test_go_to_the_most_uncertain_region_moves_slice_and_camera(
        make_napari_viewer, qtbot, tmp_path):
    from napari_unet.core.prediction.uncertainty import most_uncertain_window

    viewer = make_napari_viewer()
    viewer.add_image(_image((4, 96, 128), 5), name="stack", scale=(3.0, 0.5, 0.5),
                     metadata={"axes": "ZYX"})
    predict = dock(viewer, "Predict")
    assert not predict.uncertain_button.isEnabled()
    _use(predict, _model_file(tmp_path), ("uncertainty",))
    predict.start()
    wait_idle(qtbot, predict)
    assert predict.uncertain_button.isEnabled()
    unsure = viewer.layers["stack uncertainty"].data
    assert viewer.layers["stack uncertainty"].metadata["axes"] == "ZYX"
    z, y, x = most_uncertain_window(unsure, (1, 64, 64))
    predict.uncertain_button.click()
    assert viewer.dims.point[0] == pytest.approx(z.start * 3.0), "the slice moved there"
    np.testing.assert_allclose(_camera(viewer).center[-2:],
                               ((y.start + y.stop - 1) / 2 * 0.5, (x.start + x.stop - 1) / 2 * 0.5))
    window_mean = unsure[z, y, x].mean()
    assert window_mean >= unsure[:, :64, :64].mean(axis=(1, 2)).max() - 1e-6
    assert "paint there next" in predict.status.text()
    viewer.layers.remove("stack uncertainty")
    assert not predict.uncertain_button.isEnabled()


@pytest.mark.slow
def test_current_slice_of_a_stack_fills_that_slice_only_and_is_not_saved_as_whole(
        make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(_image((5, 40, 48), 7), name="stack", scale=(2.0, 1.0, 1.0),
                     metadata={"axes": "ZYX"})
    predict = dock(viewer, "Predict")
    _use(predict, _model_file(tmp_path), ("classes",))
    viewer.dims.set_point(0, 3 * 2.0)
    predict.start(scope="current slice")
    wait_idle(qtbot, predict)
    classes = viewer.layers["stack classes"].data
    assert classes.shape == (5, 40, 48)
    assert classes[3].min() >= 1 and classes[[0, 1, 2, 4]].max() == 0
    assert predict.save_results(str(tmp_path / "slice")) is None
    assert "predict the whole stack" in predict.status.text()
    assert not (tmp_path / "slice.ome.zarr").exists()
