from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_unet.core.prediction.uncertainty import uncertainty


def test_certain_pixels_score_zero_and_even_ones_score_one():
    p = np.zeros((3, 2, 2), np.float32)
    p[0, 0, 0] = 1.0  # certain
    p[:, 0, 1] = 1 / 3  # all equal
    p[:2, 1, 0] = 0.5  # two of three classes equal
    p[2, 1, 1] = 1.0
    u = uncertainty(p)
    assert u.dtype == np.float32 and u.shape == (2, 2)
    np.testing.assert_allclose(u[0, 0], 0.0, atol=1e-5)
    np.testing.assert_allclose(u[0, 1], 1.0, atol=1e-5)
    np.testing.assert_allclose(u[1, 0], np.log(2) / np.log(3), atol=1e-5)
    np.testing.assert_allclose(u[1, 1], 0.0, atol=1e-5)


def test_chunked_lazy_input_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 7, 5, 9))
    p = np.exp(logits) / np.exp(logits).sum(0)
    expected = uncertainty(p.astype(np.float32))
    lazy = uncertainty(da.from_array(p, chunks=(2, 3, 5, 9)), chunk=40)
    np.testing.assert_allclose(lazy, expected, atol=1e-6)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="classes >= 2"):
        uncertainty(np.ones((1, 4, 4)))
