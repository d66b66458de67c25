"""Training data that is what it claims: images paired with labels by name, paintings with
plausible classes, finite intensities in every normalisation mode, finite budgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_unet.core.normalize import Normalization
from napari_unet.core.pairing import check_painting, pair_by_name
from napari_unet.core.training.config import TrainConfig


def _names(pairs):
    return [(a.name, b.name) for a, b in pairs]


def test_pairs_by_name_and_by_number_not_by_sort_order():
    imgs = [Path("i/img_02.tif"), Path("i/img_10.tif")]
    assert _names(pair_by_name(imgs, [Path("l/mask_10.tif"), Path("l/mask_2.tif")])) == [
        ("img_02.tif", "mask_2.tif"), ("img_10.tif", "mask_10.tif")]
    assert _names(pair_by_name([Path("a.tif"), Path("b.tif")],
                               [Path("b.png"), Path("a.png")])) == [("a.tif", "a.png"),
                                                                    ("b.tif", "b.png")]
    assert _names(pair_by_name([Path("cell.tif")], [Path("cell_labels.tif")])) == [
        ("cell.tif", "cell_labels.tif")]


@pytest.mark.parametrize("labels", [["x.tif", "y.tif"], ["m_1.tif", "n_1.tif"], ["a.tif"]])
def test_ambiguous_or_unmatched_names_are_refused(labels):
    with pytest.raises(ValueError, match=r"pair|one label file per image"):
        pair_by_name([Path("img_1.tif"), Path("img_2.tif")], [Path(n) for n in labels])


def test_implausible_paintings_are_refused():
    image = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="the image itself"):
        check_painting(image.copy(), image=image)
    stray = np.zeros((32, 32), np.uint16)
    stray[0, 0] = 60000
    with pytest.raises(ValueError, match=r"values up to 60000.*is this the image"):
        check_painting(stray)
    assert check_painting(stray, task="instances") == 60000  # objects may be many
    assert check_painting(stray, n_classes=60000) == 60000  # asked for explicitly
    with pytest.raises(ValueError, match="whole-number"):
        check_painting(np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match=">= 0"):
        check_painting(np.full((4, 4), -1, np.int16))
    assert check_painting(np.array([[0, 1], [2, 2]], np.uint8)) == 2


@pytest.mark.parametrize("mode", ["percentile", "none"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 3e38])
def test_non_finite_or_absurd_values_are_refused_in_every_mode(mode, bad):
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    image[7, 9] = bad
    with pytest.raises(ValueError, match="image: expected"):
        Normalization(mode=mode).stats(image, axes="YX")


def test_ordinary_images_still_normalise():
    Normalization(mode="none").stats(np.arange(64, dtype=np.uint16).reshape(8, 8), axes="YX")
    stats = Normalization().stats(np.zeros((8, 8), np.float32), axes="YX")
    assert stats.low == stats.high == (0.0,)


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0, 0.0, "10"])
def test_nan_and_infinite_budgets_are_refused(seconds):
    with pytest.raises(ValueError, match="max_seconds"):
        TrainConfig(max_seconds=seconds)
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=1.5)
