"""Results as OME-Zarr (core/ngff.py): written by the project, read back by ome-zarr-py, bioio
and (where a reader is installed) napari with the right shapes, scale, units, channel names and
label images; pyramids for big results; staged writes that never destroy earlier results."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_unet.core.ngff import PYRAMID_SIDE, ResultStore, ngff_unit, write_results


def _results(shape=(30, 40), k=3, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random((k, *shape)).astype(np.float32)
    p /= p.sum(0, keepdims=True)
    classes = (np.argmax(p, 0) + 1).astype(np.uint8)
    instances = np.zeros(shape, np.int32)
    instances[..., 2:8, 3:9] = 1
    instances[..., 15:20, 20:30] = 2
    return p, classes, instances


def _ome_nodes(path: Path):
    from ome_zarr.format import FormatV04
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    return list(Reader(parse_url(str(path), fmt=FormatV04()))())


@pytest.mark.slow
def test_round_trip_with_ome_zarr_py_and_bioio(tmp_path):
    p, classes, instances = _results()
    path = write_results(tmp_path / "cells.ome.zarr",
                         {"probabilities": p, "classes": classes, "instances": instances,
                          "uncertainty": p[0]},
                         axes="YX", scale={"Y": 0.5, "X": 0.25}, units={"Y": "µm", "X": "um"},
                         class_names=["background", "cell", "edge"])
    assert path == tmp_path / "cells.ome.zarr"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["cells.ome.zarr"]  # nothing left over

    nodes = _ome_nodes(path)
    image = nodes[0]
    assert image.metadata["name"] == "probabilities"
    assert [a["name"] for a in image.metadata["axes"]] == ["c", "y", "x"]
    assert image.metadata["axes"][1]["unit"] == "micrometer"
    assert image.metadata["coordinateTransformations"][0][0]["scale"] == [1.0, 0.5, 0.25]
    assert image.metadata["channel_names"] == ["background", "cell", "edge"]
    np.testing.assert_array_equal(np.asarray(image.data[0]), p)
    labels = {n.metadata["name"]: n for n in nodes if n.metadata.get("name") in
              ("classes", "instances")}
    assert set(labels) == {"classes", "instances"}
    np.testing.assert_array_equal(np.asarray(labels["classes"].data[0]), classes)
    np.testing.assert_array_equal(np.asarray(labels["instances"].data[0]), instances)
    assert labels["instances"].data[0].dtype == np.int32
    assert labels["classes"].metadata["coordinateTransformations"][0][0]["scale"] == [0.5, 0.25]
    colors = labels["classes"].metadata["color"]  # ome-zarr-py reads the image-label colours
    assert set(colors) == {1, 2, 3}
    meta = json.loads((path / "labels" / "classes" / ".zattrs").read_text())["image-label"]
    assert [q["class"] for q in meta["properties"]] == ["background", "cell", "edge"]
    uncertainty = zarr.open_group(str(path / "uncertainty"), mode="r")
    np.testing.assert_array_equal(uncertainty["0"][...], p[0])

    from bioio import BioImage

    img = BioImage(path)
    assert img.channel_names == ["background", "cell", "edge"]
    assert (img.physical_pixel_sizes.Y, img.physical_pixel_sizes.X) == (0.5, 0.25)
    assert img.dims.C == 3 and (img.dims.Y, img.dims.X) == (30, 40)
    np.testing.assert_allclose(img.get_image_data("CYX"), p)


def test_time_comes_first_and_the_class_axis_after_it(tmp_path):
    """NGFF orders t, c, then space: (K, T, Y, X) probabilities are stored as (T, K, Y, X)."""
    p, classes, _ = _results(shape=(2, 30, 40))
    path = write_results(tmp_path / "t.ome.zarr", {"probabilities": da.from_array(p, chunks=7),
                                                   "classes": classes},
                         axes="TYX", scale={"T": 5.0, "Y": 2.0, "X": 2.0},
                         units={"T": "s", "Y": "nm", "X": "nm"})
    root = zarr.open_group(str(path), mode="r")
    np.testing.assert_array_equal(root["0"][...], np.moveaxis(p, 0, 1))
    axes = root.attrs["multiscales"][0]["axes"]
    assert [(a["name"], a.get("unit")) for a in axes] == [
        ("t", "second"), ("c", None), ("y", "nanometer"), ("x", "nanometer")]
    from bioio import BioImage

    img = BioImage(path)
    assert (img.dims.T, img.dims.C) == (2, 3)
    np.testing.assert_allclose(img.get_image_data("TCYX"), np.moveaxis(p, 0, 1))


def test_streamed_writes_in_the_predictor_order(tmp_path):
    """ResultStore.arrays take (K, *axes) writes, also for axes NGFF stores in another order
    (T first), so the predictor writes tile by tile as into a plain zarr array."""
    p, classes, _ = _results(shape=(4, 2, 16, 16))  # Z, T, Y, X
    store = ResultStore(tmp_path / "s.ome.zarr", kinds=("probabilities", "classes"),
                        axes="ZTYX", shape=classes.shape, n_classes=3)
    for z in range(4):
        for t in range(2):  # as predict writes: loop axes by integer, tiles by slice
            key = (z, t, slice(0, 8), slice(None))
            store.arrays["probabilities"][(slice(None), *key)] = p[(slice(None), *key)]
            store.arrays["probabilities"][(slice(None), z, t, slice(8, 16))] = p[
                (slice(None), z, t, slice(8, 16))]
            store.arrays["classes"][z, t] = classes[z, t]
    np.testing.assert_array_equal(store.arrays["probabilities"][:, 1], p[:, 1])
    store.finish()
    root = zarr.open_group(str(tmp_path / "s.ome.zarr"), mode="r")
    assert [a["name"] for a in root.attrs["multiscales"][0]["axes"]] == ["t", "c", "z", "y",
                                                                         "x"]
    np.testing.assert_array_equal(root["0"][...], np.transpose(p, (2, 0, 1, 3, 4)))
    np.testing.assert_array_equal(root["labels/classes/0"][...],
                                  np.transpose(classes, (1, 0, 2, 3)))


def test_pyramid_for_big_results(tmp_path):
    """Y over PYRAMID_SIDE: levels halve Y and X (mean for probabilities, every second pixel
    for labels) until both fit; scales double; the mean's pixels are shifted to their centre."""
    ny = 2 * PYRAMID_SIDE + 6
    p, _, instances = _results(shape=(ny, 24), k=2)
    path = write_results(tmp_path / "big.ome.zarr",
                         {"probabilities": p, "instances": instances},
                         axes="YX", scale={"Y": 0.5, "X": 0.5})
    root = zarr.open_group(str(path), mode="r")
    shapes = [root[str(i)].shape for i in range(3)]
    assert shapes == [(2, ny, 24), (2, ny // 2, 12), (2, ny // 4, 6)]
    assert "3" not in root
    np.testing.assert_allclose(root["1"][...],
                               p.reshape(2, ny // 2, 2, 12, 2).mean(axis=(2, 4)), rtol=1e-6)
    labels = zarr.open_group(str(path / "labels" / "instances"), mode="r")
    np.testing.assert_array_equal(labels["1"][...], instances[::2, ::2])
    np.testing.assert_array_equal(labels["2"][...], instances[::4, ::4])
    datasets = root.attrs["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"] for d in datasets] == [
        [1.0, 0.5, 0.5], [1.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
    assert datasets[1]["coordinateTransformations"][1]["translation"] == [0.0, 0.25, 0.25]
    nodes = _ome_nodes(path)
    assert [a.shape for a in nodes[0].data] == shapes


def test_labels_only_give_a_root_image_too(tmp_path):
    _, classes, _ = _results()
    path = write_results(tmp_path / "c.ome.zarr", {"classes": classes}, axes="YX")
    root = zarr.open_group(str(path), mode="r")
    np.testing.assert_array_equal(root["0"][...], classes)
    np.testing.assert_array_equal(root["labels/classes/0"][...], classes)
    assert root["labels"].attrs["labels"] == ["classes"]


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    p, classes, _ = _results()
    with pytest.raises(ValueError, match="arrays\\['classes'\\]: expected 2 axes"):
        write_results(tmp_path / "x.ome.zarr", {"classes": classes[None]}, axes="YX")
    with pytest.raises(TypeError, match="integer labels"):
        write_results(tmp_path / "x.ome.zarr", {"instances": p[0]}, axes="YX")
    with pytest.raises(ValueError, match="samples"):
        write_results(tmp_path / "x.ome.zarr", {"classes": classes}, axes="SX")
    with pytest.raises(ValueError, match="one shape"):
        write_results(tmp_path / "x.ome.zarr", {"probabilities": p, "classes": classes[:5]},
                      axes="YX")
    with pytest.raises(ValueError, match="class_names: expected 3"):
        write_results(tmp_path / "x.ome.zarr", {"probabilities": p}, axes="YX",
                      class_names=["a"])
    assert list(tmp_path.iterdir()) == []
    mine = tmp_path / "mine.ome.zarr"  # a user's folder that is not a zarr store
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="found a folder with other files"):
        write_results(mine, {"classes": classes}, axes="YX")
    assert [q.name for q in mine.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file.ome.zarr"
    a_file.write_text("mine")
    with pytest.raises(ValueError, match="found a file"):
        write_results(a_file, {"classes": classes}, axes="YX")
    assert a_file.read_text() == "mine"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["file.ome.zarr", "mine.ome.zarr"]


def test_a_failing_rewrite_keeps_the_earlier_store(tmp_path):
    _, classes, _ = _results()
    path = write_results(tmp_path / "r.ome.zarr", {"classes": classes}, axes="YX")

    class Broken:  # an array that fails half way through being read
        shape, dtype, ndim = classes.shape, classes.dtype, 2

        def __getitem__(self, key):
            raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        write_results(path, {"classes": Broken()}, axes="YX", class_names=["a", "b", "c"])
    np.testing.assert_array_equal(zarr.open_group(str(path), mode="r")["0"][...], classes)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["r.ome.zarr"]
    write_results(path, {"classes": classes + 1}, axes="YX")  # a good rerun replaces it
    np.testing.assert_array_equal(zarr.open_group(str(path), mode="r")["0"][...], classes + 1)


def test_units_are_ngff_names():
    assert ngff_unit("µm") == ngff_unit("um") == ngff_unit("micrometer") == "micrometer"
    assert ngff_unit("s") == "second"
    assert ngff_unit("pixel") is None and ngff_unit(None) is None and ngff_unit("furlong") is None


@pytest.mark.slow
def test_napari_opens_the_store_when_a_reader_is_installed(tmp_path, make_napari_viewer):
    """napari itself reads no OME-Zarr; with napari-ome-zarr (or another reader claiming the
    store) it must give the probabilities with their scale and the label images."""
    from npe2 import PluginManager

    p, classes, _ = _results()
    path = write_results(tmp_path / "n.ome.zarr", {"probabilities": p, "classes": classes},
                         axes="YX", scale={"Y": 0.5, "X": 0.25}, units={"Y": "um", "X": "um"})
    viewer = make_napari_viewer()
    manager = PluginManager.instance()
    manager.discover()
    readers = [r for r in manager.iter_compatible_readers([str(path)])
               if r.plugin_name != "napari"]
    if not readers:
        pytest.skip("no napari reader for OME-Zarr in this environment (napari-ome-zarr "
                    "is not installed; napari's own zarr reader refuses NGFF groups)")
    layers = viewer.open(str(path), plugin=readers[0].plugin_name)
    images = [layer for layer in layers if type(layer).__name__ == "Image"]
    labels = [layer for layer in layers if type(layer).__name__ == "Labels"]
    assert len(images) == 3 and all(n in layer.name for n, layer in
                                    zip(("class 1", "class 2", "class 3"), images))
    assert [layer.name.endswith("classes") for layer in labels] == [True]
    for layer in (*images, *labels):
        assert tuple(layer.scale) == (0.5, 0.25)
        assert [str(u) for u in layer.units] == ["micrometer", "micrometer"]
    np.testing.assert_array_equal(np.asarray(labels[0].data), classes)
