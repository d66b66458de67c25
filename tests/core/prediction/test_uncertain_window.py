"""Where to paint next: the window of highest mean uncertainty, exact or on a coarse grid."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.prediction.uncertainty import most_uncertain_window


def test_finds_the_most_uncertain_window_in_2d():
    u = np.random.default_rng(0).uniform(0, 0.2, (300, 400)).astype(np.float32)
    u[200:240, 50:90] = 0.9
    assert most_uncertain_window(u, (40, 40)) == (slice(200, 240), slice(50, 90))


def test_a_window_of_one_slice_picks_the_slice_of_a_stack():
    u = np.zeros((5, 100, 100), np.float32)
    u[3, 10:20, 70:80] = 1.0
    u[1, 50:60, 50:60] = 0.5
    assert most_uncertain_window(u, (1, 10, 10)) == (slice(3, 4), slice(10, 20), slice(70, 80))


def test_huge_lazy_maps_on_a_coarse_grid_land_near_the_spot():
    da = pytest.importorskip("dask.array")
    u = np.zeros((1000, 1200), np.float32)
    u[600:664, 300:364] = 1.0
    found = most_uncertain_window(da.from_array(u, chunks=128), (64, 64), max_cells=5000)
    assert [s.stop - s.start for s in found] == [64, 64]
    assert abs(found[0].start - 600) <= 16 and abs(found[1].start - 300) <= 16


def test_window_clipped_to_the_map_and_bad_windows_refused():
    u = np.ones((10, 12), np.float32)
    assert most_uncertain_window(u, (64, 64)) == (slice(0, 10), slice(0, 12))
    with pytest.raises(ValueError, match="window: expected one positive size per axis"):
        most_uncertain_window(u, (8,))
