"""`napari-unet predict --format ome-zarr` and `--output table`: one OME-Zarr store per input
(probabilities image, classes and instances label images, physical scale) that ome-zarr-py and
bioio read back, equal to the tif outputs; one CSV row per object and time point; the same
store from distributed prediction; bad input refused before anything is written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def instance_model(tmp_path_factory) -> Path:
    """A hand-built instance model: bright blobs are interior ringed by boundary."""
    from napari_unet.core.modelfile import save_model
    from tests.cli.test_cli import brightness_model

    model = brightness_model("instances")
    model.meta["class_names"] = ["background", "nucleus", "edge"]
    return save_model(model, tmp_path_factory.mktemp("model") / "inst.unet.safetensors")


@pytest.fixture
def nuclei(tmp_path) -> Path:
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, tifffile.imread(SAMPLES / "fluo_nuclei_image.tif")[:96, :128])
    return path


def _read(path: Path) -> dict[str, np.ndarray]:
    root = zarr.open_group(str(path), mode="r")
    out = {"probabilities": root["0"][...]}
    for kind in root["labels"].attrs["labels"]:
        out[kind] = root[f"labels/{kind}/0"][...]
    return out


def test_one_store_per_input_with_scale_labels_and_a_table(instance_model, nuclei, tmp_path,
                                                           guard):
    out = tmp_path / "res"
    guard.arm(out)
    assert main(["predict", str(instance_model), str(nuclei), "--out", str(out),
                 "--format", "ome-zarr", "--output", "probabilities,classes,instances,table",
                 "--spacing", "0.5,0.25", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["nuclei.ome.zarr", "nuclei_objects.csv"]
    store = out / "nuclei.ome.zarr"

    from ome_zarr.format import FormatV04
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(str(store), fmt=FormatV04()))())
    assert nodes[0].metadata["channel_names"] == ["background", "nucleus", "edge"]
    assert nodes[0].metadata["coordinateTransformations"][0][0]["scale"] == [1.0, 0.5, 0.25]
    assert nodes[0].data[0].shape == (3, 96, 128)
    names = [n.metadata.get("name") for n in nodes]
    assert "classes" in names and "instances" in names
    # (bioio reads the same layout back: tests/core/test_ngff.py)

    # the same numbers as the tif outputs
    tif = tmp_path / "tif"
    assert main(["predict", str(instance_model), str(nuclei), "--out", str(tif),
                 "--output", "probabilities,classes,instances", "-q"]) == 0
    guard.allowed.append(tif)
    got = _read(store)
    for kind in ("probabilities", "classes", "instances"):
        np.testing.assert_array_equal(got[kind], tifffile.imread(tif / f"nuclei_{kind}.tif"))

    instances = got["instances"]
    assert instances.max() > 1
    with open(out / "nuclei_objects.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["label"]) for r in rows] == list(np.unique(instances[instances > 0]))
    pixels = np.bincount(instances.ravel())
    assert [int(r["pixels"]) for r in rows] == [int(pixels[int(r["label"])]) for r in rows]
    assert all(float(r["area"]) == int(r["pixels"]) * 0.125 for r in rows)
    image = tifffile.imread(nuclei).astype(np.float64)
    first = instances == int(rows[0]["label"])
    assert float(rows[0]["mean_intensity"]) == pytest.approx(image[first].mean())
    assert float(rows[0]["mean_probability"]) == pytest.approx(
        1 - got["probabilities"][0][first].mean(), rel=1e-5)


def test_the_files_pixel_sizes_and_units_reach_the_store(instance_model, tmp_path):
    """An OME-TIFF with physical sizes: the store has its scale and units (--spacing, whose
    unit is not known, replaces both)."""
    image = tifffile.imread(SAMPLES / "fluo_nuclei_image.tif")[:64, :64]
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, image, metadata={"axes": "YX", "PhysicalSizeY": 0.3,
                                            "PhysicalSizeYUnit": "µm", "PhysicalSizeX": 0.2,
                                            "PhysicalSizeXUnit": "µm"})
    assert main(["predict", str(instance_model), str(path), "--out", str(tmp_path / "a"),
                 "--format", "ome-zarr", "--output", "classes", "-q"]) == 0
    root = zarr.open_group(str(tmp_path / "a" / "cells.ome.zarr"), mode="r")
    meta = root["labels/classes"].attrs["multiscales"][0]
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.3, 0.2]
    assert [a.get("unit") for a in meta["axes"]] == ["micrometer", "micrometer"]
    assert main(["predict", str(instance_model), str(path), "--out", str(tmp_path / "b"),
                 "--format", "ome-zarr", "--output", "classes", "--spacing", "2,2", "-q"]) == 0
    root = zarr.open_group(str(tmp_path / "b" / "cells.ome.zarr"), mode="r")
    meta = root["labels/classes"].attrs["multiscales"][0]
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 2.0]
    assert [a.get("unit") for a in meta["axes"]] == [None, None]


def test_a_time_lapse_stores_t_first_and_tables_rows_per_time_point(instance_model, tmp_path):
    stack = tmp_path / "movie.tif"
    frames = tifffile.imread(SAMPLES / "fluo_nuclei_image.tif")[:64, :64]
    tifffile.imwrite(stack, np.stack([frames, frames[::-1]]))
    out = tmp_path / "out"
    assert main(["predict", str(instance_model), str(stack), "--out", str(out), "--axes",
                 "TYX", "--format", "ome-zarr", "--output", "table", "-q"]) == 0
    root = zarr.open_group(str(out / "movie.ome.zarr"), mode="r")
    assert [a["name"] for a in root.attrs["multiscales"][0]["axes"]] == ["t", "c", "y", "x"]
    assert root["0"].shape == (2, 3, 64, 64)
    instances = root["labels/instances/0"][...]  # the store keeps the table's objects
    with open(out / "movie_objects.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for t in (0, 1):
        ids = [int(r["label"]) for r in rows if r["frame"] == str(t)]
        assert ids == list(np.unique(instances[t][instances[t] > 0]))
    assert {r["frame"] for r in rows} == {"0", "1"}


@pytest.mark.slow
def test_distributed_prediction_writes_the_same_store(instance_model, nuclei, tmp_path):
    """A Dask cluster (threads, in this process) writes the same layout and numbers."""
    from distributed import Client, LocalCluster

    from napari_unet.core.modelfile import load_model
    from napari_unet.core.ngff import ResultStore
    from napari_unet.core.prediction.distributed import predict_distributed
    from napari_unet.core.progress import run

    model = load_model(instance_model)
    image = tifffile.imread(nuclei)
    made = []

    def factory(chunks):
        made.append(ResultStore(tmp_path / "d.ome.zarr", kinds=("probabilities", "classes"),
                                axes="YX", shape=image.shape, n_classes=3, chunks=chunks,
                                scale={"Y": 0.5, "X": 0.25}))
        return made[-1]

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        run(predict_distributed(model, image, axes="YX", scheduler=client, tile_shape=64,
                                outputs={"probabilities": None, "classes": None},
                                store=factory))
    made[0].finish()
    assert main(["predict", str(instance_model), str(nuclei), "--out", str(tmp_path / "one"),
                 "--format", "ome-zarr", "--output", "probabilities,classes",
                 "--tile-size", "64", "--batch-size", "1", "--device", "cpu", "-q"]) == 0
    a, b = _read(tmp_path / "d.ome.zarr"), _read(tmp_path / "one" / "nuclei.ome.zarr")
    # level-0 chunks are the tile cores (96 rows in two tiles): no two tasks write one chunk
    assert zarr.open_group(str(tmp_path / "d.ome.zarr"), mode="r")["0"].chunks == (1, 48, 64)
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)
    assert np.mean(a["classes"] != b["classes"]) < 1e-3


@pytest.mark.slow
def test_the_cli_scheduler_writes_the_store(instance_model, nuclei, tmp_path):
    """`--scheduler local:1 --format ome-zarr`: worker processes fill the same store."""
    args = ["--format", "ome-zarr", "--output", "classes,instances", "--tile-size", "64",
            "--device", "cpu", "-q"]
    assert main(["predict", str(instance_model), str(nuclei), "--out", str(tmp_path / "d"),
                 "--scheduler", "local:1", *args]) == 0
    assert main(["predict", str(instance_model), str(nuclei), "--out", str(tmp_path / "s"),
                 *args]) == 0
    a, b = _read(tmp_path / "d" / "nuclei.ome.zarr"), _read(tmp_path / "s" / "nuclei.ome.zarr")
    assert sorted(a) == sorted(b) == ["classes", "instances", "probabilities"]
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(a["instances"], b["instances"])


def test_bad_input_exits_2_and_writes_nothing(instance_model, tmp_path, capsys, guard):
    stack = tmp_path / "samples.tif"
    tifffile.imwrite(stack, np.zeros((2, 32, 32), np.uint8))
    mine = tmp_path / "out" / "samples.ome.zarr"  # a user's folder where the store would go
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep")
    guard.arm()
    assert main(["predict", str(instance_model), str(stack), "--out", str(tmp_path / "out"),
                 "--format", "ome-zarr", "-q"]) == 2
    assert "folder with other files" in capsys.readouterr().err
    (mine / "notes.txt").unlink()
    mine.rmdir()
    mine.write_text("a file of mine")
    guard.arm()
    assert main(["predict", str(instance_model), str(stack), "--out", str(tmp_path / "out"),
                 "--format", "ome-zarr", "-q"]) == 2
    assert "found a file" in capsys.readouterr().err
    mine.unlink()
    guard.arm()
    assert main(["predict", str(instance_model), str(stack), "--out", str(tmp_path / "out"),
                 "--axes", "SYX", "--format", "ome-zarr", "-q"]) == 2
    assert "no axis for samples" in capsys.readouterr().err
