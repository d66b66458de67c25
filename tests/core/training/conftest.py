"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest
import tifffile


@pytest.fixture(scope="module")
def nuclei(repo_root):
    """The top-left 256 x 256 of the fluorescence nuclei sample: image, strokes, truth (bool).

    Test modules that need another crop define their own ``nuclei``, which takes precedence.
    """
    d = repo_root / "sample_data"
    image = tifffile.imread(d / "fluo_nuclei_image.tif")[:256, :256]
    strokes = tifffile.imread(d / "fluo_nuclei_strokes.tif")[:256, :256]
    truth = tifffile.imread(d / "fluo_nuclei_truth.tif")[:256, :256] > 0
    return image, strokes, truth
