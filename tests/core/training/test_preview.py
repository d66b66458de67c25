"""The live preview's choice and its first answer, through the core API the widget uses."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile

from napari_unet.core.normalize import Normalization
from napari_unet.core.prediction.predict import predict_image
from napari_unet.core.progress import run
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.preview import STROKE_TIE, Previewer, first_answer_data
from napari_unet.core.training.prior import corrected_classes
from napari_unet.core.training.train import TrainConfig, train_segment

TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4,
        "start": "none"}


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


def test_the_first_answer_is_not_fitted_again_for_the_same_strokes(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=1, **TINY)
    pv = Previewer(Normalization.from_dict(config.normalization), image, "YX",
                   threading.Event(), seed=config.seed)
    pv.refit(first_answer_data(config, [(image, strokes)], pv.norm))
    first, score = pv.shallow, pv.shallow_iou
    tr = Trainer(config, [(image, strokes)], device="cpu")
    pv.attach(tr)
    pv.refit(tr.data)  # the trainer's copy of the same strokes: kept
    assert pv.shallow is first and pv.shallow_iou == score and pv.fitted_on is tr.data
    fewer = strokes.copy()
    fewer[:, 128:] = 0
    tr.update_labels(0, None, fewer)
    tr.apply_label_updates()
    pv.refit(tr.data)  # other strokes: fitted again
    assert pv.shallow is not first and pv.fitted_on is tr.data


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


def test_the_u_net_preview_shows_the_class_prior_correction_the_model_will_get(nuclei):
    image, strokes, _ = nuclei
    tr = Trainer(TrainConfig(max_steps=6, prior="on", teacher="off", **TINY), [(image, strokes)],
                 device="cpu")
    pv = Previewer(tr.net.normalization, image, "YX", threading.Event())
    pv.attach(tr)
    run(train_segment(tr))
    pv.unet_won = True  # (the U-Net is shown from now on)
    raw = pv.predict(image, "YX")[0]
    probs = predict_image(tr.model_copy(), image, axes="YX", norm_stats=pv.stats)
    # strokes that painted the class it answers least as if it were nearly everything: the
    # correction must move the preview's answer towards that class
    rare = int(np.argmin(np.bincount(probs.argmax(0).ravel(), minlength=2)))
    tr.seen[:] = 1.0
    tr.seen[1 - rare] = 1e6
    data, source = pv.predict(image, "YX")
    assert source == "U-Net" and data.shape == image.shape
    np.testing.assert_array_equal(data, corrected_classes(probs, tr.seen))
    assert (data == rare + 1).sum() > (raw == rare + 1).sum()


@pytest.mark.slow
def test_a_volume_gets_a_shallow_first_answer_right_on_slices_nobody_painted(repo_root):
    d = repo_root / "sample_data"
    crop = np.s_[16:56, 10:90, 10:90]  # painted on slices 25 and 50 here
    image, strokes, truth = (tifffile.imread(d / f"nuclei3d_{k}.tif")[crop]
                             for k in ("image", "strokes", "truth"))
    config = TrainConfig(max_steps=2, axes="ZYX", dims=3, **{**TINY, "patch_shape": [16, 48, 48]})
    pv = Previewer(Normalization.from_dict(config.normalization), image, "ZYX",
                   threading.Event())
    pv.refit(first_answer_data(config, [(image, strokes)], pv.norm))
    assert pv.shallow is not None and pv.shallow.dims == 3 and pv.shallow.sigma_max == 16
    data, source = pv.predict(image, "ZYX")
    assert source == "shallow" and data.shape == image.shape
    unpainted = (strokes == 0).all(axis=(1, 2))  # whole slices without a stroke
    assert unpainted.sum() > 30
    fg, true = data[unpainted] == 2, truth[unpainted] > 0
    assert (fg & true).sum() / (fg | true).sum() > 0.5  # foreground IoU away from the strokes
