"""Command-line progress bars (tqdm on stderr): --quiet prints none; otherwise the label and a
final 100 % line, as readable lines when stderr is not a terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.cli import main
from napari_unet.cli._common import Bar, drive
from napari_unet.core.model import UNet
from napari_unet.core.modelfile import save_model
from napari_unet.core.progress import Progress


@pytest.fixture
def model_and_image(tmp_path):
    torch.manual_seed(0)
    model = UNet(depth=2, base_channels=4, out_channels=2,
                 meta={"task": "semantic", "axes": "YX"}).eval()
    path = save_model(model, tmp_path / "m.unet.safetensors")
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((96, 96), dtype=np.float32))
    return path, image


def _predict(model, image, out, *extra):
    return main(["predict", str(model), str(image), "--out", str(out), "--output", "classes",
                 "--tile-size", "48", "--device", "cpu", *extra])


def test_quiet_prints_no_bar(model_and_image, tmp_path, capsys):
    model, image = model_and_image
    assert _predict(model, image, tmp_path / "res", "--quiet") == 0
    captured = capsys.readouterr()
    assert "predict img.tif" not in captured.err
    assert "%" not in captured.err
    assert (tmp_path / "res" / "img_classes.tif").is_file()


def test_bar_in_a_log_has_the_label_and_a_final_full_line(model_and_image, tmp_path, capsys):
    model, image = model_and_image
    assert _predict(model, image, tmp_path / "res") == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("predict img")]
    assert lines, "no progress line on stderr"
    assert "\r" not in "".join(lines)  # whole lines in logs, no carriage returns
    assert len(lines) <= 12  # about one line per tenth of the job
    assert "100%" in lines[-1]


def _training_like(n: int):
    for i in range(1, n + 1):
        yield Progress(i, n + 5, loss=1.0 / i, metrics={"val_loss": 0.5})
    return "model"


def test_training_records_show_loss_and_val_and_end_full():
    """A job that ends before its planned total (a time budget) still ends at 100 %."""
    stream = io.StringIO()
    assert drive(_training_like(20), Bar("train", stream=stream)) == "model"
    lines = stream.getvalue().splitlines()
    assert "loss 0.0500" in lines[-1] and "val 0.5000" in lines[-1]
    assert "100%" in lines[-1] and "100%" not in "".join(lines[:-1])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    stream = _Terminal()
    drive(_training_like(20), Bar("train", stream=stream))
    text = stream.getvalue()
    assert "\r" in text and text.rstrip().endswith("val 0.5000]")
    assert "100%" in text.rsplit("\r", 1)[-1]


def test_an_interrupted_job_does_not_show_full():
    stream = io.StringIO()

    def failing():
        yield Progress(1, 10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(failing(), Bar("train", stream=stream))
    assert "100%" not in stream.getvalue()
