"""Objects of one class of a semantic model, split by a distance-transform watershed."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from napari_unet.core.metrics import match_dataset
from napari_unet.core.postprocess import class_objects


def two_class(foreground: np.ndarray) -> np.ndarray:
    """(background, structure) probabilities from a foreground probability."""
    fg = foreground.astype(np.float32)
    return np.stack([1.0 - fg, fg])


def discs(centres, radius: float, shape=(64, 80)) -> np.ndarray:
    yy, xx = np.indices(shape)
    return np.any([(yy - y) ** 2 + (xx - x) ** 2 <= radius**2 for y, x in centres], axis=0)


def test_two_touching_discs_split_into_two_halves():
    p = two_class(discs([(32, 25), (32, 43)], 10))  # overlapping: one connected blob
    whole = class_objects(p, 1, split=0)
    assert whole.max() == 1
    parts = class_objects(p, 1)
    assert parts.max() == 2
    sizes = np.bincount(parts.ravel())[1:]
    assert abs(int(sizes[0]) - int(sizes[1])) <= 0.05 * sizes.sum()
    assert (parts > 0).sum() == (whole > 0).sum()  # splitting loses no pixel
    # the cut runs through the neck, between the centres
    assert parts[32, 25] != parts[32, 43]


def test_touching_real_nuclei_3d_are_separated(repo_root):
    """The real 3D nuclei of the sample, grown until neighbours touch: connected components
    merge them, the split recovers most."""
    truth = tifffile.imread(repo_root / "sample_data" / "nuclei3d_truth.tif").astype(np.int64)
    grown = truth.copy()
    for _ in range(2):
        bigger = ndi.grey_dilation(grown, size=3)
        grown = np.where(grown == 0, bigger, grown)
    p = two_class(ndi.gaussian_filter((grown > 0).astype(np.float32), 1.0))

    def f1(**kw) -> float:
        objects = class_objects(p, 1, min_size=20, **kw)
        return match_dataset([objects], [grown], thresholds=0.5)[0].f1

    merged, split = f1(split=0), f1()
    assert split >= 0.75
    assert split > merged + 0.3


def test_a_membrane_network_does_not_swallow_the_cells_it_encloses(repo_root):
    """The EM sample's real membranes: the cells are holes of the network, not its objects."""
    truth = tifffile.imread(repo_root / "sample_data" / "em_membranes_truth.tif")
    membrane = truth == 2
    objects = class_objects(two_class(membrane), 1)
    assert objects.max() > 10, "the network is cut at its narrow places"
    assert (objects > 0).sum() < 1.1 * membrane.sum()
    assert (objects[membrane] > 0).all()


def test_sizes_are_in_the_units_of_spacing():
    p = two_class(discs([(20, 20)], 6) | discs([(50, 60)], 9))
    pixels = class_objects(p, 1)
    assert pixels.max() == 2
    # an isotropic spacing scales distances and sizes alike: the same objects
    np.testing.assert_array_equal(class_objects(p, 1, spacing=0.5), pixels)
    small = np.bincount(pixels.ravel())[1:].min()  # the radius-6 disc, ~113 pixels
    kept = class_objects(p, 1, spacing=0.5, min_size=0.25 * small - 1)  # area in units^2
    gone = class_objects(p, 1, spacing=0.5, min_size=0.25 * small + 1)
    assert kept.max() == 2 and gone.max() == 1


def test_thin_structures_without_a_seed_are_kept():
    fg = np.zeros((30, 30), bool)
    fg[15, 3:27] = True  # one pixel wide: its distance maximum is below the split height
    objects = class_objects(two_class(fg), 1)
    assert objects.max() == 1 and (objects > 0).sum() == fg.sum()


def test_bad_input_is_named():
    p = two_class(discs([(32, 32)], 8))
    with pytest.raises(ValueError, match="channel 2 is not one of the 2"):
        class_objects(p, 2)
    with pytest.raises(ValueError, match="threshold"):
        class_objects(p, 1, threshold=0)
    with pytest.raises(ValueError, match="split must be >= 0"):
        class_objects(p, 1, split=-1)
    with pytest.raises(ValueError, match="expected an array"):
        class_objects(p[0], 1)
    with pytest.raises(ValueError, match="spacing"):
        class_objects(p, 1, spacing=(1.0, 1.0, 1.0))
