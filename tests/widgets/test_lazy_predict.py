"""Lazy images end to end in Predict: the current view reads only what is shown, and the zarr
stores of lazy results go where the user says and are removed with their layers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from .conftest import dock, wait_idle

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

CHUNK = 128


class CountingArray:
    """A numpy array behind a dask array that records every region dask reads from it."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads: list[tuple[slice, ...]] = []
        self.main_thread_reads = 0
        self._lock = threading.Lock()

    def __getitem__(self, key):
        with self._lock:
            self.reads.append(key)
            self.main_thread_reads += threading.current_thread() is threading.main_thread()
        return self.data[key]


def _file_model(tmp_path, names=("background", "nucleus")):
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model

    model = UNet(depth=2, base_channels=4, out_channels=len(names))
    model.meta.update(task="semantic", class_names=list(names))
    return save_model(model, tmp_path / "m.unet.safetensors")


def _use(predict, model_path, outputs) -> None:
    predict.model_combo.setCurrentText("model file")
    predict.model_file.setText(str(model_path))
    for name, check in predict.output_checks.items():
        check.setChecked(name in outputs)


@pytest.mark.slow
def test_current_view_of_a_dask_image_reads_only_the_chunks_in_view(
        make_napari_viewer, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    source = CountingArray(rng.integers(0, 255, (1024, 1280), dtype=np.uint8))
    viewer = make_napari_viewer(show=True)
    layer = viewer.add_image(da.from_array(source, chunks=CHUNK), name="big")
    predict = dock(viewer, "Predict")
    _use(predict, _file_model(tmp_path), ("classes",))
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center, camera.zoom = (300.0, 700.0), 6.0
    qtbot.wait(100)
    rows, cols = (np.asarray(layer.corner_pixels)[:, i] for i in (0, 1))
    assert rows[1] - rows[0] < 300, "the view shows a small part of the image"
    source.reads.clear()
    source.main_thread_reads = 0
    with dask.config.set(scheduler="synchronous"):  # reads happen on the thread that asks
        predict.start(scope="current view")
        wait_idle(qtbot, predict)
    assert source.main_thread_reads == 0, "the worker reads the region, not the main thread"
    reads = [key for key in source.reads if all(k.stop > k.start for k in key)]
    assert reads, predict.status.text()
    for r, c in reads:  # every region read overlaps the view
        assert r.start <= rows[1] and r.stop > rows[0] and c.start <= cols[1] \
            and c.stop > cols[0], (r, c)
    assert min(r.start for r, _ in reads) >= rows[0] // CHUNK * CHUNK
    assert max(c.stop for _, c in reads) <= (cols[1] // CHUNK + 1) * CHUNK
    classes = viewer.layers["big classes"]
    assert isinstance(classes.data, np.ndarray), "a region's result is a small numpy layer"
    assert classes.data.shape == (rows[1] - rows[0] + 1, cols[1] - cols[0] + 1)
    np.testing.assert_allclose(classes.translate, (rows[0], cols[0]))
    assert "done" in predict.status.text()


@pytest.mark.slow
def test_lazy_results_live_in_the_chosen_folder_and_go_with_their_layers(
        make_napari_viewer, qtbot, tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (96, 112), dtype=np.uint8)
    store = zarr.open_array(str(tmp_path / "img.zarr"), mode="w", shape=image.shape,
                            chunks=(64, 64), dtype=image.dtype)
    store[:] = image
    viewer = make_napari_viewer()
    viewer.add_image(zarr.open_array(str(tmp_path / "img.zarr"), mode="r"), name="lazy")
    predict = dock(viewer, "Predict")
    _use(predict, _file_model(tmp_path), ("probabilities", "classes", "uncertainty"))
    stores = tmp_path / "stores"
    predict.store_dir.setText(str(stores))
    predict.start()
    wait_idle(qtbot, predict)
    first = sorted(stores.iterdir())
    assert len(first) == 1 and first[0].is_dir(), "one zarr store in the chosen folder"
    results = [lyr for lyr in viewer.layers if lyr.name.startswith("lazy ")]
    assert len(results) == 3 and isinstance(viewer.layers["lazy classes"].data, zarr.Array)

    predict.start()  # a repeated prediction replaces the layers' data: the old store goes
    wait_idle(qtbot, predict)
    second = sorted(stores.iterdir())
    assert len(second) == 1 and second != first

    for lyr in results[:-1]:
        viewer.layers.remove(lyr)
    assert second[0].is_dir(), "a layer still shows the store"
    viewer.layers.remove(results[-1])
    assert not second[0].exists(), "the store went with its last layer"

    predict.keep_check.setChecked(True)  # kept: stays after its layers and the viewer close
    predict.start()
    wait_idle(qtbot, predict)
    (kept,) = sorted(stores.iterdir())
    predict.keep_check.setChecked(False)
    predict.start(scope="whole stack")
    wait_idle(qtbot, predict)
    assert len(list(stores.iterdir())) == 2 and kept.is_dir()
    viewer.close()
    assert [p.name for p in stores.iterdir()] == [kept.name], "closing removes the rest"
