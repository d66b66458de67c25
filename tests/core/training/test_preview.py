"""The live preview's choice and its first answer, through the core API the widget uses."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile

from napari_unet.core.normalize import Normalization
from napari_unet.core.progress import run
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.preview import STROKE_TIE, Previewer, first_answer_data
from napari_unet.core.training.train import TrainConfig, train_segment

TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4,
        "start": "none"}


@pytest.fixture(scope="module")
def nuclei(repo_root):
    d = repo_root / "sample_data"
    image = tifffile.imread(d / "fluo_nuclei_image.tif")[:256, :256]
    strokes = tifffile.imread(d / "fluo_nuclei_strokes.tif")[:256, :256]
    truth = tifffile.imread(d / "fluo_nuclei_truth.tif")[:256, :256] > 0
    return image, strokes, truth


@pytest.mark.slow
def test_the_first_answer_comes_from_the_strokes_before_any_trainer(nuclei):
    image, strokes, truth = nuclei
    config = TrainConfig(max_steps=10, **TINY)
    pv = Previewer(Normalization.from_dict(config.normalization), image, "YX",
                   threading.Event())
    pv.refit(first_answer_data(config, [(image, strokes)], pv.norm))
    data, source = pv.predict(image, "YX")
    assert source == "shallow" and data.shape == image.shape
    fg = data == 2
    assert (fg & truth).sum() / (fg | truth).sum() > 0.6  # a useful answer, not a blank


@pytest.mark.slow
def test_the_u_net_takes_over_when_it_ties_the_shallow_one_and_stays(nuclei):
    image, strokes, _ = nuclei
    tr = Trainer(TrainConfig(max_steps=30, lr=1e-2, **TINY), [(image, strokes)], device="cpu")
    pv = Previewer(tr.net.normalization, image, "YX", threading.Event())
    pv.attach(tr)
    pv.refit(tr.data)
    assert pv.source() == "shallow"  # no U-Net validation yet
    run(train_segment(tr))
    pv.shallow_iou = 1.0  # (as the strokes would rate a shallow classifier that fits them)
    tr.val_iou = [1.0 - 2 * STROKE_TIE] * tr.data.n_classes  # clearly behind it
    assert pv.source() == "shallow"
    tr.val_iou = [1.0 - STROKE_TIE / 2] * tr.data.n_classes  # a tie the strokes cannot break
    assert pv.source() == "U-Net"
    tr.val_iou = [0.0] * tr.data.n_classes
    assert pv.source() == "U-Net", "once shown, the U-Net stays"


def test_stop_interrupts_a_preview(nuclei):
    image, strokes, _ = nuclei
    tr = Trainer(TrainConfig(max_steps=3, **TINY), [(image, strokes)], device="cpu")
    stop = threading.Event()
    pv = Previewer(tr.net.normalization, image, "YX", stop)
    pv.attach(tr)
    pv.refit(tr.data)
    stop.set()
    assert pv.predict(np.tile(image, (2, 2)), "YX") is None
