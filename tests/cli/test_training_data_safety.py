"""`napari-unet train` never trains on a lie: labels that are the image or hold implausibly
many classes, folders that do not pair by name, and NaN/infinite budgets are refused before
training; SIGTERM stops training like Ctrl-C, saves the model and exits 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
IMAGE = SAMPLES / "em_membranes_image.tif"
STROKES = SAMPLES / "em_membranes_strokes.tif"


def _train(tmp_path: Path, image, labels, *extra: str) -> int:
    return main(["train", *map(str, image if isinstance(image, list) else [image]),
                 "--labels", *map(str, labels if isinstance(labels, list) else [labels]),
                 "--out", str(tmp_path / "m.unet.safetensors"), "--steps", "1",
                 "--device", "cpu", "-q", *extra])


def test_the_image_given_as_labels_is_refused(tmp_path, guard, capsys):
    guard.arm()
    assert _train(tmp_path, IMAGE, IMAGE) == 2
    assert "the image itself" in capsys.readouterr().err


def test_a_stray_value_with_thousands_of_classes_is_refused(tmp_path, guard, capsys):
    strokes = tifffile.imread(STROKES).astype(np.uint16)
    strokes[5, 5] = 60000
    tifffile.imwrite(tmp_path / "strokes.tif", strokes)
    guard.arm()
    t0 = time.perf_counter()
    assert _train(tmp_path, IMAGE, tmp_path / "strokes.tif") == 2
    assert time.perf_counter() - t0 < 10
    err = capsys.readouterr().err
    assert "values up to 60000" in err and "is this the image" in err


def test_fractional_labels_are_refused(tmp_path, guard, capsys):
    tifffile.imwrite(tmp_path / "l.tif", np.random.default_rng(0).random((512, 512)))
    guard.arm()
    assert _train(tmp_path, IMAGE, tmp_path / "l.tif") == 2
    assert "whole-number labels" in capsys.readouterr().err


@pytest.mark.parametrize("budget", ["nan", "inf", "-1"])
def test_nan_and_infinite_budgets_are_refused(budget, tmp_path, guard, capsys):
    guard.arm()
    assert main(["train", str(IMAGE), "--labels", str(STROKES), "--out",
                 str(tmp_path / "m.unet.safetensors"), "--max-seconds", budget, "-q"]) == 2
    assert "max_seconds" in capsys.readouterr().err


def test_folders_that_do_not_pair_by_name_are_refused(tmp_path, guard, capsys):
    for name in ("cell_a", "cell_b"):
        tifffile.imwrite(_mkdir(tmp_path / "img") / f"{name}.tif", np.zeros((8, 8)))
    for name in ("x", "y"):
        tifffile.imwrite(_mkdir(tmp_path / "lab") / f"{name}.tif", np.zeros((8, 8), np.uint8))
    guard.arm()
    assert _train(tmp_path, tmp_path / "img", tmp_path / "lab") == 2
    assert "pair one to one" in capsys.readouterr().err


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.slow
def test_folders_pair_by_number_not_by_sort_order(tmp_path, guard):
    image = tifffile.imread(IMAGE)[:128, :128]
    strokes = tifffile.imread(STROKES)[:128, :128]
    other = np.where(strokes > 0, 3 - strokes, 0).astype(strokes.dtype)  # classes swapped
    # sorted by name, img_10 would pair with mask_02: a silent disaster
    tifffile.imwrite(_mkdir(tmp_path / "img") / "img_02.tif", image)
    tifffile.imwrite(tmp_path / "img" / "img_10.tif", image[::-1])
    tifffile.imwrite(_mkdir(tmp_path / "lab") / "mask_2.tif", strokes)
    tifffile.imwrite(tmp_path / "lab" / "mask_10.tif", other[::-1])
    out = tmp_path / "m.unet.safetensors"
    config = {"depth": 2, "base_channels": 4, "patch_shape": [64, 64], "batch_size": 2,
              "max_steps": 1, "prior": "off", "start": "none"}
    (tmp_path / "c.json").write_text(json.dumps(config))
    guard.arm(out)
    assert main(["train", str(tmp_path / "img"), "--labels", str(tmp_path / "lab"), "--out",
                 str(out), "--config", str(tmp_path / "c.json"), "--device", "cpu",
                 "-q"]) == 0
    from napari_unet.core.modelfile import read_card

    data = read_card(out)["training_data"]
    assert [Path(p).name for p in data["images"]] == ["img_02.tif", "img_10.tif"]
    assert [Path(p).name for p in data["labels"]] == ["mask_2.tif", "mask_10.tif"]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_training_saves_and_exits_143(tmp_path):
    out = tmp_path / "m.unet.safetensors"
    config = {"depth": 2, "base_channels": 4, "patch_shape": [64, 64], "batch_size": 2,
              "prior": "off", "start": "none", "max_steps": None, "max_seconds": 300}
    (tmp_path / "c.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "napari_unet.cli", "train", str(IMAGE), "--labels",
         str(STROKES), "--out", str(out), "--config", str(tmp_path / "c.json"), "--device",
         "cpu"], stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("train:") and "%|" in line:  # a first progress bar: training runs
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, rest
    assert "saved" in rest and out.exists()
