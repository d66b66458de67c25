"""Per-image normalisation: per channel, sampled for big lazy arrays, never in place."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_unet.core.normalize import SAMPLE_ELEMENTS, Normalization, NormStats


def test_percentiles_per_channel_map_to_zero_and_one():
    rng = np.random.default_rng(0)
    image = np.stack([rng.normal(10, 2, (40, 30)), rng.normal(1000, 100, (40, 30))], axis=-1)
    rule = Normalization(low=1.0, high=99.0)
    stats = rule.stats(image, axes="YXC")
    assert len(stats.low) == 2
    np.testing.assert_allclose(stats.low, np.percentile(image, 1, axis=(0, 1)))
    before = image.copy()
    out = rule.apply(image, stats, axes="YXC")
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_array_equal(image, before)  # never in place
    for c in range(2):
        assert abs(np.percentile(out[..., c], 1)) < 1e-4
        assert abs(np.percentile(out[..., c], 99) - 1) < 1e-4


def test_big_lazy_images_are_sampled_and_stats_stay_close():
    rng = np.random.default_rng(1)
    side = int(np.sqrt(SAMPLE_ELEMENTS * 3))
    ramp = np.linspace(0, 1, side, dtype=np.float32)
    image = ramp[:, None] + 0.01 * rng.standard_normal((side, side), dtype=np.float32)
    stats = Normalization().stats(da.from_array(image, chunks=512), axes="YX")
    exact = np.percentile(image, [1.0, 99.8])
    assert abs(stats.low[0] - exact[0]) < 0.01 and abs(stats.high[0] - exact[1]) < 0.01


def test_constant_images_and_mode_none_do_not_divide_by_zero():
    image = np.full((8, 8), 7, np.uint8)
    rule = Normalization()
    out = rule.apply(image, rule.stats(image, axes="YX"), axes="YX")
    assert np.isfinite(out).all() and (out == 0).all()
    plain = Normalization(mode="none")
    np.testing.assert_array_equal(plain.apply(image, plain.stats(image, axes="YX"), axes="YX"),
                                  image.astype(np.float32))


def test_round_trips_and_bad_rules():
    rule = Normalization(low=2.0, high=98.0)
    assert Normalization.from_dict(rule.to_dict()) == rule
    assert Normalization.from_dict(None) == Normalization()
    stats = NormStats(low=(1.0, 2.0), high=(3.0, 4.0))
    assert NormStats.from_dict(stats.to_dict()) == stats
    with pytest.raises(ValueError, match="low < high"):
        Normalization(low=50, high=10)
    with pytest.raises(ValueError, match="mode"):
        Normalization(mode="zscore")
    with pytest.raises(ValueError, match="2 axes, but the image has 3"):
        Normalization().stats(np.zeros((2, 3, 4)), axes="YX")
    with pytest.raises(ValueError, match="NaN"):
        Normalization().stats(np.array([[np.nan, 1.0]]), axes="YX")
