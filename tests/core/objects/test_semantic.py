"""Objects of one class of a semantic model, split by a distance-transform watershed."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from napari_unet.core.metrics import match_dataset
from napari_unet.core.objects.frames import class_objects, objects_for_model, structure_objects


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


@pytest.mark.parametrize("angle", [0.0, 0.3, 0.7, 1.1])
def test_one_elongated_object_or_ring_stays_whole(angle):
    """Equal-height ridge tops and diagonal plateaus are one dome, not many seeds."""
    yy, xx = np.indices((96, 96)) - 47.5
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    ellipse = (u / 38) ** 2 + (v / 7) ** 2 <= 1
    r = np.hypot(yy, xx)
    ring = (r >= 30) & (r <= 30 + 2 + 4 * angle)  # 2 to 6.4 px wide
    for shape in (ellipse, ring):
        objects = class_objects(two_class(shape), 1)
        assert objects.max() == 1 and (objects > 0).sum() == shape.sum()


@pytest.mark.slow
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
    np.testing.assert_array_equal(objects > 0, membrane)
    assert objects.max() > 1, "the network is cut where it narrows"


def test_filling_holes_fills_a_nucleolus_not_a_ring():
    yy, xx = np.indices((64, 128))
    nucleus = (np.hypot(yy - 32, xx - 32) <= 14) & (np.hypot(yy - 30, xx - 35) > 3)
    r = np.hypot(yy - 32, xx - 95)
    ring = (r >= 20) & (r <= 24)
    objects = class_objects(two_class(nucleus | ring), 1, fill_holes=True)
    assert objects[30, 35] == objects[32, 32] > 0, "the nucleolus joins its nucleus"
    assert objects[32, 95] == 0, "the inside of the ring is not its hole"
    assert class_objects(two_class(nucleus | ring), 1)[30, 35] == 0, "off by default"


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


def test_structure_objects_follow_the_classes_and_keep_nested_ones():
    """Three classes: a class-2 ring around a class-3 disc, and a touching pair of class-3
    discs. Objects agree with the argmax (the classes output), the enclosed disc survives the
    ring's hole filling, and the touching pair is split."""
    yy, xx = np.indices((80, 120))
    r = np.hypot(yy - 40, xx - 30)
    ring, inner = (r >= 14) & (r <= 17), r <= 8
    pair = discs([(40, 80), (40, 98)], 10, shape=(80, 120))
    p = np.full((3, 80, 120), 0.2, np.float32)
    p[0] = 0.6
    p[:, ring] = np.array([0.3, 0.45, 0.25])[:, None]  # class 2 wins with p < 0.5
    p[:, inner | pair] = np.array([0.2, 0.3, 0.5])[:, None]
    objects = structure_objects(p)
    assert objects.max() == 4  # ring, inner disc, two halves of the pair
    classes = np.argmax(p, 0)
    assert ((objects > 0) == (classes > 0)).all()
    assert len(np.unique(objects[ring])) == 1 and len(np.unique(objects[inner])) == 1
    assert objects[40, 80] != objects[40, 98]
    assert objects.max() == len(np.unique(objects)) - 1


def test_objects_for_model_picks_by_task():
    p = two_class(discs([(32, 25), (32, 43)], 10))
    np.testing.assert_array_equal(objects_for_model(p, {}), structure_objects(p))
    np.testing.assert_array_equal(objects_for_model(p, {"task": "semantic"}), structure_objects(p))
    with pytest.raises(ValueError, match="regression"):
        objects_for_model(p, {"task": "regression"})
    with pytest.raises(ValueError, match="at least one structure class"):
        structure_objects(p[:1])
