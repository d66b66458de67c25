"""The interactive loop in a real viewer: paint while it trains, a preview that gets out of the
way, Stop that answers on a huge lazy image, and honest words at the end."""

from __future__ import annotations

import time

import numpy as np
import pytest

from .conftest import dock, tiny, wait_idle


@pytest.mark.slow
def test_strokes_painted_while_training_reach_the_trainer(em_viewer, qtbot):
    viewer = em_viewer
    _image, paint = viewer.layers
    train = dock(viewer, "Train")
    tiny(train, steps=100_000)
    train._preview_timer.setInterval(200)
    viewer.layers.selection.active = paint
    train.start()
    qtbot.waitUntil(lambda: train.trainer is not None and len(train.plot.losses) >= 3,
                    timeout=60_000)
    before = sum(train.trainer.painted_pixels().values())
    # the user paints a new stroke of membrane (2) in an unpainted corner, with the brush
    paint.brush_size = 9
    empty = np.argwhere(paint.data[400:500, 400:500] == 0)[0] + 400
    for dx in range(0, 40, 3):
        paint.paint((int(empty[0]), int(empty[1]) + dx), 2)
    painted = int((paint.data > 0).sum())
    qtbot.waitUntil(lambda: sum(train.trainer.painted_pixels().values()) == painted > before,
                    timeout=10_000)
    assert train._painting.forwarded >= 1
    # the preview never took the selection from the paint layer
    qtbot.waitUntil(lambda: train._preview_source != "", timeout=30_000)
    assert viewer.layers.selection.active is paint
    train.stop()
    wait_idle(qtbot, train)
    used = train.state.model.meta["training"]["labelled_pixels"]
    assert sum(used.values()) == painted > before
    # the preview is hidden once training ends: it showed a model of the moment
    assert not viewer.layers["EM membranes preview"].visible


@pytest.mark.slow
def test_continue_goes_on_with_the_same_run(em_viewer, qtbot):
    train = dock(em_viewer, "Train")
    tiny(train, steps=6)
    train.preview_combo.setCurrentIndex(1)
    train.start()
    wait_idle(qtbot, train)
    first = train.state.model
    trainer = train.trainer
    train.continue_button.click()
    wait_idle(qtbot, train)
    assert train.trainer is trainer, "Continue goes on with the run's trainer"
    record = train.state.model.meta["training"]
    assert record["steps"] == 12 and record["segments"] == 2
    assert train.state.model is not first
    assert train.plot.steps == list(range(1, 13)), "one step axis across Stop and Continue"


@pytest.mark.slow
def test_stop_answers_fast_on_a_huge_lazy_image(make_napari_viewer, qtbot):
    da = pytest.importorskip("dask.array")
    viewer = make_napari_viewer()
    image = da.random.RandomState(0).random((8000, 8000), chunks=(1000, 1000)).astype(
        np.float32)
    viewer.add_image(image, name="big")
    paint = np.zeros((8000, 8000), np.uint8)
    paint[4000:4010, 3900:4100] = 1
    paint[4100:4110, 3900:4100] = 2
    viewer.add_labels(paint, name="big paint")
    train = dock(viewer, "Train")
    tiny(train, steps=100_000)
    train._preview_timer.setInterval(100)
    train.start()
    # the first answer comes before training; Stop is measured while it trains and previews
    qtbot.waitUntil(lambda: (len(train.plot.losses) >= 2 and "U-Net" in train._preview_source)
                    or len(train.plot.losses) >= 20, timeout=120_000)
    qtbot.wait(300)  # previews keep being asked for while it trains
    t = time.perf_counter()
    train.stop()
    wait_idle(qtbot, train)
    latency = time.perf_counter() - t
    # one training step plus at most one preview tile: far below the 23 s of a whole-slice
    # preview (bound generous for a loaded CI machine)
    assert latency < 5.0, f"Stop took {latency:.1f} s"


@pytest.mark.slow
def test_too_few_strokes_to_validate_are_said_not_hidden(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    img = rng.normal(size=(128, 128)).astype(np.float32)
    img[40:80, 40:80] += 3
    viewer.add_image(img, name="blob")
    paint = np.zeros((128, 128), np.uint8)
    paint[10:14, 10:30] = 1  # 80 + 80 pixels: too few to hold some out for validation
    paint[58:62, 50:70] = 2
    viewer.add_labels(paint, name="blob paint")
    train = dock(viewer, "Train")
    tiny(train, steps=5)
    train.preview_combo.setCurrentIndex(1)
    train.start()
    wait_idle(qtbot, train)
    assert train.state.model is not None
    assert "no validation yet: paint more" in train.status.text()
    assert "ready to Predict" not in train.status.text()


def test_a_volume_preview_covers_a_slab_around_the_current_slice(make_napari_viewer):
    from napari_unet._widgets._inputs import view_request
    from napari_unet.core.training.preview import PREVIEW_SIDE, PREVIEW_SLAB

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((2, 60, 500, 300), np.float32), name="stack")  # T Z Y X
    viewer.dims.set_point(0, 1)
    viewer.dims.set_point(1, 30)
    index, out_index, region_axes = view_request(viewer, [layer], "TZYX", dims=3)
    assert index[:2] == (1, slice(30 - PREVIEW_SLAB // 2, 30 + PREVIEW_SLAB // 2))
    assert all(s.stop - s.start <= PREVIEW_SIDE[3] for s in index[2:])
    assert region_axes == "ZYX" and out_index == index
    viewer.dims.set_point(1, 59)  # at the last slice the slab stays inside the stack
    assert view_request(viewer, [layer], "TZYX", dims=3)[0][1] == slice(60 - PREVIEW_SLAB, 60)
    # a 2D model previews the current slice, a screen's worth of it
    index2d = view_request(viewer, [layer], "TZYX", dims=2)[0]
    assert index2d[:2] == (1, 59) and index2d[2] == slice(0, 500)


@pytest.mark.slow
def test_a_3d_run_shows_its_first_answer_on_a_slab_around_the_slice(make_napari_viewer, qtbot,
                                                                     repo_root):
    import tifffile

    from napari_unet.core.training.preview import PREVIEW_SLAB

    d = repo_root / "sample_data"
    image, strokes = (tifffile.imread(d / f"nuclei3d_{k}.tif") for k in ("image", "strokes"))
    viewer = make_napari_viewer()
    viewer.add_image(image, name="nuclei", metadata={"axes": "ZYX"})
    viewer.add_labels(strokes, name="nuclei paint")
    viewer.dims.set_point(0, 50)
    train = dock(viewer, "Train")
    tiny(train, steps=20, patch=32, dims="3D")
    train.image_combo.setCurrentText("nuclei")
    train.labels_combo.setCurrentText("nuclei paint")
    train.start()
    assert train.worker is not None, train.status.text()
    # before the U-Net has learnt anything, the shallow classifier answers, in 3D
    qtbot.waitUntil(lambda: train._preview_source.startswith("shallow"), timeout=60_000)
    shown = (viewer.layers["nuclei preview"].data > 0).any((1, 2))
    assert shown[50] and shown.sum() == PREVIEW_SLAB  # the slab around the slice, not the stack
    wait_idle(qtbot, train)
    assert train.state.model is not None, train.status.text()
