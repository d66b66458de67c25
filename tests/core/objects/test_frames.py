"""Post-processing: classes, instances (untiled and tiled), object table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from napari_unet.core.metrics import match_instances
from napari_unet.core.objects.frames import (
    InstanceOptions,
    instances,
    instances_from_probabilities,
    instances_tiled,
    object_table,
    objects_per_frame,
    probabilities_to_classes,
    structure_objects,
    volume_spacing,
)
from napari_unet.core.progress import run

DATA = Path(__file__).resolve().parents[2] / "data"


def three_class(labels: np.ndarray, blur: float = 0.0) -> np.ndarray:
    """(background, interior, boundary) probabilities from instance labels."""
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    cls = np.where(labels == 0, 0, np.where(edge, 2, 1))
    p = np.stack([cls == k for k in range(3)]).astype(np.float32)
    if blur:
        p = ndi.gaussian_filter(p, (0,) + (blur,) * labels.ndim)
        p /= p.sum(0)
    return p


def random_blobs(shape: tuple[int, ...], n: int, radius: float, seed: int) -> np.ndarray:
    """Touching round objects: a Voronoi split of a union of balls."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (n, len(shape))) * np.array(shape)
    grid = np.indices(shape).reshape(len(shape), -1).T
    d = ((grid[:, None, :] - centres[None]) ** 2).sum(-1)
    nearest = d.argmin(1)
    inside = d.min(1) <= radius**2
    return np.where(inside, nearest + 1, 0).reshape(shape).astype(np.int32)


# ----------------------------------------------------------------------------- classes


def test_classes_argmax_as_painting_values():
    p = np.zeros((3, 2, 2), np.float32)
    p[0, 0, 0] = p[1, 0, 1] = p[2, 1, 0] = p[2, 1, 1] = 1.0
    out = probabilities_to_classes(p)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[1, 2], [3, 3]])


def test_classes_threshold_binary():
    fg = np.array([[0.2, 0.4], [0.6, 0.9]], np.float32)
    two = np.stack([1 - fg, fg])
    np.testing.assert_array_equal(probabilities_to_classes(two), [[1, 1], [2, 2]])
    np.testing.assert_array_equal(probabilities_to_classes(two, threshold=0.3), [[1, 2], [2, 2]])
    np.testing.assert_array_equal(probabilities_to_classes(fg[None]), [[1, 1], [2, 2]])
    with pytest.raises(ValueError, match="threshold"):
        probabilities_to_classes(np.ones((3, 2, 2)), threshold=0.5)


# --------------------------------------------------------------------------- instances


def two_squares_2d() -> np.ndarray:
    lab = np.zeros((12, 20), np.int32)
    lab[2:10, 2:10] = 1
    lab[2:10, 10:18] = 2
    return lab


def test_touching_squares_split_exactly():
    lab = two_squares_2d()
    out = instances_from_probabilities(three_class(lab))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, lab)


def test_touching_cuboids_3d_with_spacing():
    lab = np.zeros((8, 10, 16), np.int32)
    lab[1:7, 1:9, 1:8] = 1
    lab[1:7, 1:9, 8:15] = 2
    out = instances_from_probabilities(three_class(lab), spacing=(2.0, 0.5, 0.5))
    np.testing.assert_array_equal(out, lab)
    # each cuboid is 6 * 8 * 7 = 336 voxels of 0.5 um^3 = 168 um^3
    kept = instances_from_probabilities(three_class(lab), spacing=(2.0, 0.5, 0.5), min_size=160)
    assert kept.max() == 2
    gone = instances_from_probabilities(three_class(lab), spacing=(2.0, 0.5, 0.5), min_size=170)
    assert gone.max() == 0


def test_min_size_in_physical_units_2d():
    lab = np.zeros((16, 16), np.int32)
    lab[2:6, 2:7] = 1  # 20 px -> 5 um^2 at 0.5 x 0.5 um
    lab[8:15, 8:15] = 2  # 49 px -> 12.25 um^2
    p = three_class(lab)
    assert instances(p, spacing=0.5, min_size=4).max() == 2
    out = instances(p, spacing=0.5, min_size=6)
    assert out.max() == 1
    np.testing.assert_array_equal(out > 0, lab == 2)


def test_foreground_without_seed_is_kept_as_object():
    lab = np.zeros((10, 10), np.int32)
    lab[2:8, 2:8] = 1
    p = three_class(lab)
    p[:, 4:6, 4:6] = np.array([0.0, 0.0, 1.0])[:, None, None]  # boundary all through: no seed
    p[:, 2:8, 2:8] = np.array([0.0, 0.0, 1.0])[:, None, None]
    out = instances_from_probabilities(p)
    np.testing.assert_array_equal(out, lab)


def test_holes_filled_unless_larger_than_limit():
    lab = np.zeros((14, 14), np.int32)
    lab[2:12, 2:12] = 1
    lab[5:9, 5:9] = 0  # a 16 px hole
    p = three_class(lab)
    filled = instances_from_probabilities(p)
    assert filled[6, 6] == 1 and (filled == 1).sum() == 100
    kept = instances_from_probabilities(p, fill_holes=False)
    assert kept[6, 6] == 0
    small_only = instances_from_probabilities(p, max_hole_size=15)
    assert small_only[6, 6] == 0
    assert instances_from_probabilities(p, max_hole_size=16)[6, 6] == 1


def test_hole_between_two_objects_is_not_filled():
    lab = np.zeros((12, 16), np.int32)
    lab[2:10, 2:8] = 1
    lab[2:10, 8:14] = 2
    lab[5:7, 6:10] = 0  # a gap touching both objects
    out = instances_from_probabilities(three_class(lab))
    assert (out[5:7, 6:10] == 0).all()
    assert out.max() == 2


def test_seed_threshold_splits_a_dumbbell():
    yy, xx = np.mgrid[:20, :40]
    fg = ((yy - 10) ** 2 + (xx - 10) ** 2 <= 64) | ((yy - 10) ** 2 + (xx - 29) ** 2 <= 64)
    fg |= (np.abs(yy - 10) <= 2) & (xx > 10) & (xx < 30)
    interior = np.where(fg, 0.3, 0.0)
    interior[(yy - 10) ** 2 + (xx - 10) ** 2 <= 16] = 0.9
    interior[(yy - 10) ** 2 + (xx - 29) ** 2 <= 16] = 0.9
    p = np.stack([1.0 - fg, interior, fg - interior]).astype(np.float32)
    out = instances_from_probabilities(p, seed_threshold=0.5)
    assert out.max() == 2
    assert out[10, 10] != out[10, 29]
    # a low seed threshold makes the whole foreground one seed
    assert instances_from_probabilities(p, seed_threshold=0.2).max() == 1
    # min_seed_size drops the seeds (49 px each): one object without a seed
    assert instances_from_probabilities(p, min_seed_size=60).max() == 1


def test_distance_breaks_ties_at_the_neck():
    """On a flat landscape, seeds grow from the middle: the split falls at the narrow neck."""
    yy, xx = np.mgrid[:24, :44]
    left = (yy - 12) ** 2 + (xx - 11) ** 2 <= 100
    right = (yy - 12) ** 2 + (xx - 31) ** 2 <= 100
    fg = left | right
    interior = np.where(fg, 0.3, 0.0)
    interior[6:18, 5:18] = np.where(left[6:18, 5:18], 0.9, 0.3)  # a large seed on the left
    interior[12, 31] = 0.9  # a one-pixel seed on the right
    p = np.stack([1.0 - fg, interior, fg - interior]).astype(np.float32)
    out = instances_from_probabilities(p)
    right_id = out[12, 31]
    right_only = right & (xx > 22)
    assert out.max() == 2
    assert (out[right_only] == right_id).mean() > 0.97


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="probabilities"):
        instances_from_probabilities(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="spacing"):
        instances_from_probabilities(np.zeros((3, 5, 5)), spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="unknown"):
        instances(np.zeros((3, 5, 5)), seed_treshold=0.3)


def test_options_round_trip():
    o = InstanceOptions(seed_threshold=0.7, min_size=3.5, channels=(0, 2, 1))
    assert InstanceOptions.from_dict(o.to_dict()) == o


# ------------------------------------------------------------------------------- tiled


@pytest.mark.parametrize(
    ("shape", "block", "halo"),
    [((96, 80), (32, 24), 16), ((24, 40, 36), (12, 16, 16), (6, 10, 10))],
)
def test_tiled_equals_untiled(shape, block, halo):
    n = 25 if len(shape) == 2 else 12
    lab = random_blobs(shape, n=n, radius=9.0, seed=1)
    p = three_class(lab, blur=0.7)
    whole = instances_from_probabilities(p, min_size=5)
    tiled = instances(p, block_shape=block, halo=halo, min_size=5)
    assert whole.max() == n
    assert match_instances(whole, lab, thresholds=0.9)[0].f1 == 1.0
    np.testing.assert_array_equal(tiled, whole)  # same objects, same numbering


def test_tiled_generator_reports_progress_and_writes_out():
    zarr = pytest.importorskip("zarr")
    lab = random_blobs((64, 64), n=12, radius=8.0, seed=3)
    p = three_class(lab, blur=1.0)
    out = zarr.create_array(store={}, shape=(64, 64), chunks=(32, 32), dtype="int32")
    gen = instances_tiled(zarr.array(p), block_shape=(32, 32), halo=16, out=out)
    records = []
    result = run(gen, records.append)
    assert result is out
    assert records[-1].step == records[-1].total == 12
    np.testing.assert_array_equal(out[:], instances_from_probabilities(p))
    dask_array = pytest.importorskip("dask.array")
    lazy = dask_array.from_array(p, chunks=(3, 32, 32))
    np.testing.assert_array_equal(instances(lazy, block_shape=(32, 32), halo=16), out[:])


def test_tiled_objects_crossing_borders_keep_one_id():
    lab = np.zeros((40, 40), np.int32)
    lab[5:35, 5:35] = 1  # one big square over four blocks
    out = instances(three_class(lab), block_shape=(20, 20), halo=4)
    np.testing.assert_array_equal(out, lab)


# ------------------------------------------------------------------------- real mask


def test_real_nuclei_mask_round_trip():
    """A crop of a DSB 2018 nuclei mask (CC0; 128 x 128, 17 nuclei, some touching)."""
    lab = tifffile.imread(DATA / "dsb2018_mask_crop.tif").astype(np.int32)
    p = three_class(lab, blur=1.0)
    out = instances(p, min_size=10)
    scores = match_instances(out, lab, thresholds=(0.5, 0.8))
    assert scores[0].f1 >= 0.95
    assert scores[1].f1 >= 0.85
    tiled = instances(p, block_shape=(48, 48), halo=24, min_size=10)
    np.testing.assert_array_equal(tiled, out)


# ------------------------------------------------------------------------------- table


def test_object_table_hand_computed():
    lab = np.zeros((4, 6), np.int32)
    lab[0:2, 0:2] = 3  # 4 px, centroid (0.5, 0.5)
    lab[3, 2:6] = 7  # 4 px, centroid (3, 3.5)
    lab[2, 5] = 7  # 5 px, centroid (2.8, 3.8)
    prob = np.zeros((2, 4, 6), np.float32)
    prob[0] = 1.0
    prob[0, 0:2, 0:2] = 0.25  # foreground probability 0.75 on object 3
    table = object_table(lab, probabilities=prob, spacing=(0.5, 2.0))
    np.testing.assert_array_equal(table["label"], [3, 7])
    np.testing.assert_array_equal(table["pixels"], [4, 5])
    np.testing.assert_allclose(table["area"], [4.0, 5.0])
    np.testing.assert_allclose(table["centroid-0"], [0.5, 2.8])
    np.testing.assert_allclose(table["centroid-1"], [0.5, 3.8])
    np.testing.assert_allclose(table["mean_probability"], [0.75, 0.0])
    t3 = object_table(lab[None], spacing=(2.0, 1.0, 1.0))
    np.testing.assert_allclose(t3["volume"], [8.0, 10.0])
    with pytest.raises(TypeError, match="labels"):
        object_table(lab.astype(float))


# ------------------------------------------------------------------- objects per frame

INSTANCE_META = {"task": "instances"}


def two_objects_in_a_stack() -> np.ndarray:
    """(Z, Y, X) instance labels: a cube over slices 0-2 and a square in slice 4 only."""
    lab = np.zeros((5, 12, 12), np.int32)
    lab[0:3, 2:7, 2:7] = 1
    lab[4, 4:10, 4:10] = 2
    return lab


def test_time_points_are_numbered_each_on_its_own():
    lab = two_squares_2d()
    p = np.stack([three_class(lab), three_class(lab[:, ::-1])], axis=1)  # (C, T, Y, X)
    out = run(objects_per_frame(p, INSTANCE_META, axes="TYX"))
    assert out.dtype == np.int32 and out.shape == (2, 12, 20)
    for t in range(2):
        np.testing.assert_array_equal(out[t], instances_from_probabilities(p[:, t]))
    assert out[0].max() == out[1].max() == 2
    # the time axis may sit anywhere
    moved = run(objects_per_frame(np.moveaxis(p, 1, 3), INSTANCE_META, axes="YXT"))
    np.testing.assert_array_equal(np.moveaxis(moved, 2, 0), out)


def test_a_2d_model_over_z_gives_3d_objects():
    lab = two_objects_in_a_stack()
    p = three_class(lab)
    out = run(objects_per_frame(p, INSTANCE_META, axes="ZYX"))
    np.testing.assert_array_equal(out, lab)  # ids 1 and 2, not 1 in every slice
    np.testing.assert_array_equal(out, instances_from_probabilities(p))
    # semantic models too: one object volume, numbered over the stack
    semantic = np.stack([lab == 0, lab > 0]).astype(np.float32)
    np.testing.assert_array_equal(
        run(objects_per_frame(semantic, {"task": "semantic"}, axes="ZYX")),
        structure_objects(semantic))
    # a T stack of such volumes: per time point, each a 3D volume; a channel letter is ignored
    pt = np.stack([p, p], axis=1)
    out_t = run(objects_per_frame(pt, INSTANCE_META, axes="TCZYX"))
    np.testing.assert_array_equal(out_t, np.stack([lab, lab]))


def test_volume_axes_in_any_order_and_spacing_follows_them():
    lab = two_objects_in_a_stack()
    p = three_class(lab)
    sp = (2.0, 0.5, 0.25)
    expected = instances_from_probabilities(p, spacing=sp, min_seed_size=1.0)
    meta = {"task": "instances", "instance_options": {"min_seed_pixels": 8.0}}
    zyx = run(objects_per_frame(p, meta, axes="ZYX", spacing=sp))
    xzy = run(objects_per_frame(np.transpose(p, (0, 3, 1, 2)), meta, axes="XZY",
                                spacing=(0.25, 2.0, 0.5)))
    np.testing.assert_array_equal(np.transpose(xzy, (1, 2, 0)), zyx)
    np.testing.assert_array_equal(zyx, expected)


def test_spacing_reaches_the_objects():
    """min_size of a semantic model's objects is physical: spacing decides what is kept."""
    lab = two_objects_in_a_stack()  # 75 and 36 voxels
    semantic = np.stack([lab == 0, lab > 0]).astype(np.float32)
    small = structure_objects(semantic, spacing=(1.0, 0.5, 0.5), min_size=12.0)
    assert small.max() == 1  # 75 * 0.25 = 18.75 kept, 36 * 0.25 = 9 dropped
    with pytest.MonkeyPatch.context() as mp:
        seen = []
        import napari_unet.core.objects.frames as frames

        def spy(p, meta, spacing=None):
            seen.append(spacing)
            return structure_objects(p, spacing=spacing, min_size=12.0)

        mp.setattr(frames, "objects_for_model", spy)
        out = run(objects_per_frame(semantic, {}, axes="ZYX", spacing=(1.0, 0.5, 0.5)))
        np.testing.assert_array_equal(out, small)
        run(objects_per_frame(np.stack([semantic] * 2, 1), {}, axes="TZYX", spacing=0.5))
    assert seen == [(1.0, 0.5, 0.5), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)]


def test_spacing_needs_one_value_per_volume_axis():
    p = three_class(two_objects_in_a_stack())
    with pytest.raises(ValueError, match=r"expected 3 values \(one per axis of ZYX\), found 2"):
        run(objects_per_frame(p, INSTANCE_META, axes="ZYX", spacing=(0.5, 0.5)))
    pt = np.stack([p[:, 0], p[:, 1]], axis=1)  # (C, T, Y, X): T is no volume axis
    with pytest.raises(ValueError, match=r"expected 2 values \(one per axis of YX\), found 3"):
        run(objects_per_frame(pt, INSTANCE_META, axes="TYX", spacing=(1.0, 0.5, 0.5)))
    assert volume_spacing("TZCYX", (2, 1, 1)) == (2.0, 1.0, 1.0)
    assert volume_spacing("YX", None) is None
    with pytest.raises(ValueError, match="spacing"):
        volume_spacing("YX", (1.0, 0.0))
    with pytest.raises(ValueError, match="axes"):
        run(objects_per_frame(p, INSTANCE_META, axes="YX"))
    with pytest.raises(ValueError, match="regression"):
        run(objects_per_frame(p, {"task": "regression"}, axes="ZYX"))


def test_lazy_instance_probabilities_of_one_frame_go_block_by_block(tmp_path):
    zarr = pytest.importorskip("zarr")
    lab = random_blobs((64, 64), n=12, radius=8.0, seed=3)
    p = three_class(lab, blur=1.0)
    records = []
    out = run(objects_per_frame(zarr.array(p), INSTANCE_META, axes="YX",
                                out=tmp_path / "objects.zarr", block_shape=(32, 32), halo=16),
              records.append)
    assert records[-1].total == 12  # 4 blocks, 3 passes: the tiled path
    assert tuple(out.chunks) == (32, 32)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "objects.zarr"))[...],
                                  instances_from_probabilities(p))
    # frames with an out array are written frame by frame, in memory one frame at a time
    target = np.full((2, 64, 64), -1, np.int32)
    result = run(objects_per_frame(zarr.array(np.stack([p, p], 1)), INSTANCE_META,
                                   axes="TYX", out=target), records.append)
    assert result is target and records[-1].total == 2
    np.testing.assert_array_equal(target[1], instances_from_probabilities(p))
