"""The command line reads real files' metadata: axes, pixel sizes and units from an OME-TIFF
and an OME-Zarr written here, scenes of a multi-series tif by --scene; the user's --axes and
--spacing win and the progress line says what was taken from the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet.cli import main

TINY = {"depth": 2, "base_channels": 4, "patch_shape": [32, 32], "batch_size": 2,
        "max_steps": 2, "val_every": 2, "prior": "off", "start": "none", "seed": 0,
        "augment": {"elastic": 0.0, "scale": 0.0}}


def _disks(n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """n slices of 48 x 48 bright disks (ZYX) and strokes on them."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:48, :48]
    images, paints = [], []
    for i in range(n):
        disk = (rows - 14 - 8 * i) ** 2 + (cols - 30 + 6 * i) ** 2 < 64
        images.append((100 * disk + rng.normal(20, 5, (48, 48))).astype(np.float32))
        paint = np.zeros((48, 48), np.uint8)
        paint[2:5, 2:40] = 1
        paint[disk & (np.abs(rows - 14 - 8 * i) < 2)] = 2
        paints.append(paint)
    return np.stack(images), np.stack(paints)


@pytest.fixture
def files(tmp_path):
    """OME-TIFFs of 2 channels (DAPI, GFP): one 2D (CYX, 0.1 µm), one 3D (ZCYX, 0.5/0.1/0.1
    µm); strokes for the 2D one; a TINY training config."""
    image, paint = _disks()
    two = np.stack([image, image[:, ::-1]], axis=1)  # ZCYX
    names = {"Channel": {"Name": ["DAPI", "GFP"]}}
    tif = tmp_path / "cells.ome.tif"
    tifffile.imwrite(tif, two, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5,
        **names})
    flat = tmp_path / "flat.ome.tif"
    tifffile.imwrite(flat, two[1], metadata={
        "axes": "CYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, **names})
    strokes = tmp_path / "flat_strokes.tif"
    tifffile.imwrite(strokes, paint[1])
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    return tif, flat, strokes, config


@pytest.mark.slow  # two trainings and two predictions of a tiny model
def test_train_and_predict_take_axes_and_spacing_from_an_ome_tiff(files, tmp_path, capsys,
                                                                  guard):
    tif, flat, strokes, config = files
    model = tmp_path / "m.unet.safetensors"
    out = tmp_path / "res"
    guard.arm(model, out)
    assert main(["train", str(flat), "--labels", str(strokes), "--out", str(model),
                 "--config", str(config), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "axes CYX (from the file: axes CYX; pixel size Y 0.1 micrometer, X 0.1 " \
           "micrometer; channels DAPI, GFP)" in err
    assert main(["info", str(model), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["axes"] == "CYX"
    assert card["training_data"]["spacing"] == {"Y": 0.1, "X": 0.1}
    assert card["training_data"]["units"] == {"Y": "micrometer", "X": "micrometer"}

    # the 3D file's own axes (ZCYX), not the model's (CYX): predicted slice by slice
    assert main(["predict", str(model), str(tif), "--out", str(out), "--output", "classes",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "cells.ome.tif: wrote cells_classes.tif (from the file: axes ZCYX; pixel size Z " \
           "0.5 micrometer" in err
    assert tifffile.imread(out / "cells_classes.tif").shape == (3, 48, 48)


def test_user_axes_and_spacing_win_over_the_file(files, tmp_path, capsys, guard):
    tif, _, _, config = files
    model = tmp_path / "m.unet.safetensors"
    out = tmp_path / "res"
    strokes = tmp_path / "stack_strokes.tif"
    tifffile.imwrite(strokes, _disks()[1], photometric="minisblack")
    # a one-channel file that says ZYX, trained as a stack of independent samples
    one = tmp_path / "one.ome.tif"
    tifffile.imwrite(one, tifffile.imread(tif)[:, 0], metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5})
    guard.arm(model, out)
    assert main(["train", str(one), "--labels", str(strokes), "--out", str(model),
                 "--config", str(config), "--device", "cpu", "--axes", "SYX"]) == 0
    err = capsys.readouterr().err
    assert "axes SYX" in err and "from the file: axes" not in err
    assert main(["predict", str(model), str(one), "--out", str(out), "--output",
                 "instances", "--device", "cpu", "--axes", "SYX", "--spacing", "0.2,0.2"]) == 0
    err = capsys.readouterr().err
    assert "from the file" not in err  # axes and spacing both given: nothing taken
    assert tifffile.imread(out / "one_instances.tif").shape == (3, 48, 48)


@pytest.mark.slow  # trains a tiny model
def test_predict_reads_an_ome_zarr_written_by_ome_zarr_py(files, tmp_path, capsys, guard):
    from ome_zarr.writer import write_image

    _, _, _, config = files
    image, paint = _disks(1)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, image[0])
    model = tmp_path / "m.unet.safetensors"
    store = tmp_path / "cells.ome.zarr"
    write_image(image[0], zarr.open_group(str(store), mode="w"), axes="yx",
                scale={"y": 0.3, "x": 0.3}, axes_units={"y": "micrometer", "x": "micrometer"},
                scale_factors=[2])
    out = tmp_path / "res"
    tifffile.imwrite(tmp_path / "p.tif", paint[0])
    guard.arm(model, out)
    assert main(["train", str(plain), "--labels", str(tmp_path / "p.tif"), "--out",
                 str(model), "--config", str(config), "--device", "cpu", "-q"]) == 0
    assert main(["predict", str(model), str(store), "--out", str(out), "--output",
                 "classes", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "cells.ome.zarr: wrote cells_classes.tif (from the file: axes YX; pixel size Y " \
           "0.3 micrometer, X 0.3 micrometer" in err
    assert tifffile.imread(out / "cells_classes.tif").shape == (48, 48)


def test_scene_picks_a_series_of_a_multi_series_tif(tmp_path, capsys, guard):
    image, paint = _disks(1)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, image[0])
    strokes = tmp_path / "plain_strokes.tif"
    tifffile.imwrite(strokes, paint[0])
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    two = tmp_path / "two.tif"
    with tifffile.TiffWriter(two) as tif:
        tif.write(np.zeros((40, 40), np.float32))
        tif.write(image[0], metadata={"axes": "YX"})
    model = tmp_path / "m.unet.safetensors"
    out = tmp_path / "res"
    guard.arm(model, out, tmp_path / "no")
    assert main(["train", str(plain), "--labels", str(strokes), "--out", str(model),
                 "--config", str(config), "--device", "cpu", "-q"]) == 0
    assert main(["predict", str(model), str(two), "--out", str(out), "--scene", "1",
                 "--device", "cpu"]) == 0
    assert "scene 'series 1'" in capsys.readouterr().err
    assert tifffile.imread(out / "two_classes.tif").shape == (48, 48)
    assert main(["predict", str(model), str(two), "--out", str(tmp_path / "no"), "--scene",
                 "third"]) == 2
    err = capsys.readouterr().err
    assert "scene 'third' not found" in err and "1: 'series 1'" in err
    assert not (tmp_path / "no").exists()  # every input is checked before --out is made


def test_stores_declaring_more_than_they_hold_are_refused_before_any_work(tmp_path, capsys,
                                                                          guard):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, _disks(1)[0][0])
    empty = tmp_path / "empty.zarr"
    zarr.open_array(str(empty), mode="w", shape=(200000, 200000), chunks=(4096, 4096),
                    dtype="uint8")
    model = tmp_path / "m.unet.safetensors"
    guard.arm()
    assert main(["train", str(plain), "--labels", str(empty), "--out", str(model)]) == 2
    err = capsys.readouterr().err
    assert "labels" in err and "declares 200000x200000" in err and "stores only" in err
    assert not model.exists()
