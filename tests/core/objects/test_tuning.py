"""Fitting the instance post-processing to labelled data, and its use after training."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from napari_unet.core.metrics import match_dataset
from napari_unet.core.objects.frames import instances
from napari_unet.core.objects.tuning import (
    SEED_THRESHOLDS,
    model_instance_options,
    tune_instance_options,
)
from napari_unet.core.progress import run
from napari_unet.core.training.train import TrainConfig, train


def soft_probabilities(labels: np.ndarray, blur: float) -> np.ndarray:
    """What a briefly trained model gives: blurred classes, interiors bleed over boundaries."""
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    cls = np.where(labels == 0, 0, np.where(edge, 2, 1))
    p = np.stack([cls == k for k in range(3)]).astype(np.float32)
    p = ndi.gaussian_filter(p, (0, blur, blur))
    return p / p.sum(0)


@pytest.fixture(scope="module")
def nuclei(repo_root):
    """The real nuclei masks of the DSB sample, cut in two halves (fit on one, check on the
    other); the nuclei are dilated until neighbours touch, as cells in a dense culture do."""
    truth = tifffile.imread(repo_root / "sample_data" / "fluo_nuclei_truth.tif").astype(np.int64)
    grown = truth.copy()
    for _ in range(4):  # grey dilation grows every nucleus into the background only
        bigger = ndi.grey_dilation(grown, size=3)
        grown = np.where(grown == 0, bigger, grown)
    return grown[:, :180], grown[:, 180:]


def f1(prob: np.ndarray, truth: np.ndarray, **options) -> float:
    return match_dataset([instances(prob, **options)], [truth], thresholds=0.5)[0].f1


def test_fitted_options_split_touching_objects_and_generalise(nuclei):
    fit_on, check_on = nuclei
    blur = 2.0
    p_fit, p_check = soft_probabilities(fit_on, blur), soft_probabilities(check_on, blur)
    options, best, default = tune_instance_options([p_fit], [fit_on])
    assert default == pytest.approx(f1(p_fit, fit_on))
    assert best == pytest.approx(f1(p_fit, fit_on, **options))
    assert best > default + 0.05  # soft interiors merge neighbours at the default seed threshold
    assert options["seed_threshold"] > 0.5
    # the fitted options carry over to the other half of the image
    assert f1(p_check, check_on, **options) > f1(p_check, check_on) + 0.05


def test_bad_input_and_model_options():
    with pytest.raises(ValueError, match="one instance mask per probability map"):
        tune_instance_options([np.zeros((3, 8, 8))], [])
    with pytest.raises(ValueError, match="do not fit instance mask"):
        tune_instance_options([np.zeros((3, 8, 8))], [np.zeros((9, 9), int)])
    assert model_instance_options({}) == {}
    meta = {"instance_options": {"seed_threshold": 0.8, "foreground_threshold": 0.4,
                                 "min_seed_pixels": 10.0}}
    opts = model_instance_options(meta, spacing=(0.5, 0.5), ndim=2)
    assert opts == {"seed_threshold": 0.8, "foreground_threshold": 0.4, "min_seed_size": 2.5}


def test_training_an_instance_model_fits_its_post_processing(repo_root):
    d = repo_root / "sample_data"
    image = tifffile.imread(d / "fluo_nuclei_image.tif")[:160, :160]
    truth = tifffile.imread(d / "fluo_nuclei_truth.tif")[:160, :160].astype(np.int32)
    tiny = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4}
    config = TrainConfig(task="instances", max_steps=4, **tiny)
    phases = []
    model = run(train(config, [(image, truth)], device="cpu"), lambda r: phases.append(r.phase))
    assert phases.index("tune") == len(phases) - 2 and phases[-1] == "done"
    fitted = model.meta["instance_options"]
    assert fitted["seed_threshold"] in SEED_THRESHOLDS
    assert 0.0 <= fitted["default_f1_at_0.5"] <= fitted["f1_at_0.5"] <= 1.0
    off = TrainConfig(task="instances", max_steps=2, tune_instances=False, **tiny)
    assert "instance_options" not in run(train(off, [(image, truth)], device="cpu")).meta
