"""Training pairs: checks with clear errors, instance targets, held-out regions, patches."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_unet.core.normalize import Normalization
from napari_unet.core.training.dataset import prepare_pairs
from napari_unet.core.training.sampling import PatchSampler, validation_tiles
from napari_unet.core.training.targets import border_weight_map, hold_out_regions, instance_targets


def _painted(shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 1, shape).astype(np.float32)
    paint = np.zeros(shape, np.uint8)
    paint[5:10, 5:40] = 1
    paint[30:34, 10:50] = 2
    return image, paint


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "target", "axes", "dims", "match"),
    [
        (np.zeros((32, 32)), np.zeros((32, 32), np.uint8), "YX", 2, "no painted pixels"),
        (np.zeros((32, 32)), np.ones((32, 32), np.uint8), "YX", 2, "only class 1"),
        (np.zeros((32, 32)), np.ones((32, 30), np.uint8), "YX", 2, "do not match"),
        (np.zeros((32, 32)), np.ones((32, 32), np.float32), "YX", 2, "must be integers"),
        (np.zeros((32, 32)), -np.ones((32, 32), np.int16), "YX", 2, "negative"),
        (np.full((32, 32), np.nan), np.ones((32, 32), np.uint8), "YX", 2, "NaN"),
        (np.zeros((4, 32, 32)), np.ones((4, 32, 32), np.uint8), "ZYX", 2, "model is 2D"),
        (np.zeros((32, 32)), np.ones((4, 32, 32), np.uint8), "YX", 2, "do not match"),
        (np.zeros((32, 32)), np.ones((32, 32), np.uint8), "YX", 3, "3D model"),
        (np.zeros((32, 32)), np.ones((32, 32), np.uint8), "ZYX", 2, "names 3"),
        (np.zeros((32, 32)), np.ones((32, 32), np.uint8), "YQ", 2,
         r"pair 0: image: expected axes of letters from 'TSCZYX'.*found unknown letters 'Q'"),
        (np.zeros((3, 32, 32)), np.ones((3, 32, 32), np.uint8), "SYX", 3,
         r"pair 0: image: expected axes with the spatial axes 'ZYX' of a 3D model, found 'SYX'"),
        (np.zeros((3, 4, 32, 32)), np.ones((3, 4, 32, 32), np.uint8), "SZYX", 2,
         r"pair 0: image: expected axes without Z for a 2D model, found 'SZYX'"),
    ],
)
def test_bad_pairs_raise_clear_errors(image, target, axes, dims, match):
    with pytest.raises(ValueError, match=match):
        prepare_pairs([(image, target)], axes=axes, dims=dims)


def test_instances_need_two_classes_and_pairs_must_be_pairs():
    with pytest.raises(ValueError, match="only one class"):
        prepare_pairs(
            [(np.zeros((16, 16)), np.zeros((16, 16), np.uint16))], axes="YX", task="instances"
        )
    with pytest.raises(ValueError, match="pair 0"):
        prepare_pairs([np.zeros((16, 16))], axes="YX")
    with pytest.raises(ValueError, match="n_classes=2"):
        img, paint = _painted()
        paint[0, 0] = 3
        prepare_pairs([(img, paint)], axes="YX", n_classes=2)


# --- targets --------------------------------------------------------------------------------


def test_instance_targets_separate_touching_objects_with_the_paper_weights():
    inst = np.zeros((40, 40), np.uint16)
    inst[10:30, 5:18] = 1
    inst[10:30, 20:35] = 2  # two columns of background between the objects
    painting, weights = instance_targets(inst, w0=10, sigma=5)
    assert set(np.unique(painting)) == {1, 2, 3}
    # the objects' own edge pixels are boundary, the inside is interior
    assert painting[20, 17] == 3 and painting[20, 20] == 3 and painting[20, 10] == 2
    assert painting[0, 0] == 1
    # the gap pixel at column 18: distance 1 to object 1 and 2 to object 2
    assert weights[20, 18] == pytest.approx(1 + 10 * np.exp(-9 / 50), rel=1e-5)
    # far from the gap the weight is ~1, on objects exactly 1
    assert weights[0, 0] < 1.01 and weights[20, 10] == 1.0
    w = border_weight_map(inst)
    assert w.max() == pytest.approx(w[20, 18]) and w.dtype == np.float32


def test_held_out_regions_are_whole_blocks_and_keep_every_class():
    _img, paint = _painted((128, 128))
    target = paint.astype(np.int64) - 1
    masks, blocks = hold_out_regions([target], fraction=0.3, region=(32, 32), seed=1)
    m = masks[0]
    assert blocks, "something must be held out"
    # whole 32x32 blocks only
    for _, sl in blocks:
        assert m[sl].all()
    assert m.sum() == sum(np.ones(m.shape)[sl].sum() for _, sl in blocks)
    for c in (0, 1):
        assert ((target == c) & ~m).sum() >= 0.5 * (target == c).sum()
    # nothing held out when asked for nothing
    none, _ = hold_out_regions([target], fraction=0.0, region=(32, 32))
    assert not none[0].any()


# --- prepared sets --------------------------------------------------------------------------


def test_several_pairs_of_different_sizes_and_dask_input():
    a = _painted((64, 64), 0)
    b = _painted((48, 80), 1)
    lazy = (da.from_array(b[0], chunks=16), da.from_array(b[1], chunks=16))
    ts = prepare_pairs([a, lazy], axes="YX", normalization=Normalization(), val_fraction=0.0)
    assert ts.n_classes == 2 and len(ts.items) == 2
    assert ts.class_counts.tolist() == [2 * 5 * 35, 2 * 4 * 40]
    eager = prepare_pairs([a, b], axes="YX", normalization=Normalization(), val_fraction=0.0)
    np.testing.assert_allclose(ts.items[1].image, eager.items[1].image)
    # the image was normalised over the whole image: 1st and 99.8th percentile -> 0 and 1
    lo, hi = np.percentile(a[0], [1, 99.8])
    np.testing.assert_allclose(ts.items[0].image[0], (a[0] - lo) / (hi - lo), atol=1e-5)


def test_volume_painted_on_a_few_slices_is_cropped_around_them():
    vol = np.random.default_rng(0).random((60, 40, 40)).astype(np.float32)
    paint = np.zeros(vol.shape, np.uint8)
    paint[20, 5:15, 5:15] = 1
    paint[24, 20:30, 20:30] = 2
    ts = prepare_pairs([(vol, paint)], axes="ZYX", dims=3, context=(4, 8, 8), val_fraction=0)
    it = ts.items[0]
    assert it.offset[0] == 16 and it.spatial_shape[0] == 24 - 20 + 1 + 8
    assert it.image.shape[0] == 1 and it.target.ndim == 3
    np.testing.assert_array_equal(it.target[4] >= 0, paint[20, :38, :38] > 0)


def test_a_stack_axis_gives_one_sample_per_painted_index_and_channels_go_first():
    img = np.random.default_rng(0).random((3, 2, 32, 32)).astype(np.float32)  # T C Y X
    paint = np.zeros((3, 32, 32), np.uint8)
    paint[0, 2:6, 2:20] = 1
    paint[2, 20:24, 2:20] = 2
    ts = prepare_pairs([(img, paint)], axes="TCYX", val_fraction=0, context=(32, 32))
    assert [it.stack_index for it in ts.items] == [(0,), (2,)]
    assert ts.items[0].image.shape == (2, 32, 32)


def test_samples_and_time_are_both_stack_axes():
    img = np.random.default_rng(1).random((3, 32, 32)).astype(np.float32)
    paint = np.zeros((3, 32, 32), np.uint8)
    paint[0, 2:6, 2:20] = 1
    paint[1, 20:24, 2:20] = 2
    by_s = prepare_pairs([(img, paint)], axes="SYX", val_fraction=0, context=(32, 32))
    by_t = prepare_pairs([(img, paint)], axes="TYX", val_fraction=0, context=(32, 32))
    assert len(by_s.items) == len(by_t.items) == 2  # the painted samples 0 and 1
    for a, b in zip(by_s.items, by_t.items, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.target, b.target)


def test_regression_targets_are_scaled_and_nan_is_ignored():
    img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    tgt = 5 + 2 * img
    tgt[:4] = np.nan
    ts = prepare_pairs([(img, tgt)], axes="YX", task="regression", val_fraction=0)
    t = ts.items[0].target
    assert t.shape == (1, 28, 32) or t.shape == (1, 32, 32)
    assert np.nanmean(t) == pytest.approx(0, abs=1e-5) and np.nanstd(t) == pytest.approx(1, 1e-4)
    assert ts.target_scale[0] == pytest.approx(np.nanmean(tgt), rel=1e-5)


# --- patches --------------------------------------------------------------------------------


def test_patches_are_drawn_where_paint_is_and_class_balanced(repo_root):
    image = tifffile.imread(repo_root / "sample_data" / "em_membranes_image.tif")
    paint = tifffile.imread(repo_root / "sample_data" / "em_membranes_strokes.tif")
    paint = paint.copy()
    paint[(paint == 1) & (np.arange(512)[None, :] > 100)] = 0  # class 1 now 5x rarer
    ts = prepare_pairs(
        [(image, paint)],
        axes="YX",
        normalization=Normalization(),
        val_fraction=0.1,
        region=(64, 64),
    )
    sampler = PatchSampler(ts, (32, 32), jitter=0.0, seed=0)
    x, y, w = sampler.sample(400)
    assert x.shape == (400, 1, 32, 32) and y.shape == (400, 32, 32) and w is None
    centre = y[:, 16, 16]
    assert (centre >= 0).all(), "every patch is centred on a labelled pixel"
    share = (centre == 0).mean()
    assert 0.4 < share < 0.6, share
    # validation regions never reach the training targets
    it = ts.items[0]
    assert not ((it.target >= 0) & (it.val_target >= 0)).any()
    tiles = validation_tiles(ts, context=8)
    assert len(tiles) == len(ts.val_blocks) > 0
    held = sum(int((t >= 0).sum()) for _, t, _, _ in tiles)
    assert held == ts.n_val_labelled
    img, tgt, _, inner = tiles[0]
    assert img.shape[1:] == tgt.shape and all(s.start == 8 for s in inner)


def test_instance_weights_come_with_the_patches():
    inst = np.zeros((48, 48), np.uint16)
    inst[5:20, 5:20] = 1
    inst[5:20, 22:40] = 2
    img = (inst > 0).astype(np.float32)
    ts = prepare_pairs([(img, inst)], axes="YX", task="instances", val_fraction=0)
    assert ts.n_classes == 3
    _x, y, w = PatchSampler(ts, (16, 16), seed=0).sample(8)
    assert w is not None and w.shape == y.shape and w.min() >= 1.0
    assert set(np.unique(y)) <= {-1, 0, 1, 2}
