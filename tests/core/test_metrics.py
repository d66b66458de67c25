"""Metrics against hand-computed small cases, 2D and 3D."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import adapted_rand_error as skimage_are

from napari_unet.core.metrics import (
    adapted_rand_error,
    class_scores,
    confusion_matrix,
    match_dataset,
    match_instances,
    overlap_iou,
)

# ----------------------------------------------------------------------------- classes


def test_class_scores_by_hand_with_ignore():
    target = np.array([[1, 1, 2, 2], [1, 0, 2, 0]])
    pred = np.array([[1, 2, 2, 2], [1, 1, 1, 2]])
    # scored pixels (target != 0): class 1 -> tp 2, fp 1 (target 2 at [1,2]), fn 1 ([0,1])
    # class 2 -> tp 2, fp 1 ([0,1]), fn 1 ([1,2])
    s = class_scores(pred, target)
    np.testing.assert_array_equal(s["class"], [1, 2])
    np.testing.assert_allclose(s["iou"], [2 / 4, 2 / 4])
    np.testing.assert_allclose(s["dice"], [4 / 6, 4 / 6])
    np.testing.assert_array_equal(s["support"], [3, 3])
    m = confusion_matrix(pred, target, classes=[1, 2])
    np.testing.assert_array_equal(m, [[2, 1, 0], [1, 2, 0], [0, 0, 0]])
    # without ignore, 0 is a class of its own
    s_all = class_scores(pred, target, ignore=None)
    np.testing.assert_array_equal(s_all["class"], [0, 1, 2])
    assert s_all["iou"][0] == 0.0
    # scoring a subset of classes still counts false positives on the others' pixels
    one = class_scores(pred, target, classes=[2], ignore=None)
    np.testing.assert_allclose(one["iou"], [2 / 5])  # tp 2, fp 2 ([0,1], [1,3]), fn 1 ([1,2])


def test_class_scores_3d_absent_class_is_nan():
    target = np.ones((2, 3, 3), np.uint8)
    target[1] = 2
    pred = target.copy()
    pred[1, 0, 0] = 1
    s = class_scores(pred, target, classes=[1, 2, 3])
    np.testing.assert_allclose(s["iou"][:2], [9 / 10, 8 / 9])
    assert np.isnan(s["iou"][2]) and np.isnan(s["dice"][2])
    # predictions outside the listed classes land in the last column
    m = confusion_matrix(np.full_like(target, 5), target, classes=[1, 2])
    np.testing.assert_array_equal(m, [[0, 0, 9], [0, 0, 9], [0, 0, 0]])


def test_class_scores_reject_mismatched_shapes_and_floats():
    with pytest.raises(ValueError, match="same shape"):
        class_scores(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(TypeError, match="prediction"):
        class_scores(np.zeros((2, 2)), np.zeros((2, 2), int))


# ----------------------------------------------------------------------------- objects


def test_matching_by_hand_2d():
    target = np.zeros((10, 10), np.int32)
    target[0:4, 0:4] = 1  # 16 px
    target[6:10, 6:10] = 2  # 16 px
    pred = np.zeros_like(target)
    pred[0:4, 0:4] = 5  # exact: IoU 1
    pred[6:10, 8:10] = 9  # half of object 2: IoU 8 / 16 = 0.5
    pred[0:2, 7:9] = 4  # a false positive
    ti, pi, iou = overlap_iou(pred, target)
    pairs = {(int(a), int(b)): float(c) for a, b, c in zip(ti, pi, iou, strict=True)}
    assert pairs == {(1, 5): 1.0, (2, 9): 0.5}
    at5, at75 = match_instances(pred, target, thresholds=[0.5, 0.75])
    assert (at5.tp, at5.fp, at5.fn) == (2, 1, 0)
    assert at5.precision == pytest.approx(2 / 3) and at5.recall == 1.0
    assert at5.f1 == pytest.approx(4 / 5)
    assert at5.average_precision == pytest.approx(2 / 3)
    assert at5.mean_matched_iou == pytest.approx(0.75)
    assert (at75.tp, at75.fp, at75.fn) == (1, 2, 1)
    assert at75.average_precision == pytest.approx(1 / 4)
    assert at75.f1 == pytest.approx(2 / 5)


def test_matching_is_optimal_not_greedy():
    # T1 = [0, 10), T2 = [10, 20); P1 = [4, 14): IoU(P1,T1) = 6/14, IoU(P1,T2) = 4/16;
    # P2 = [0, 4): IoU(P2,T1) = 0.4. Greedy takes P1-T1 and finds 1 match; optimal finds 2.
    target = np.zeros((1, 20), np.int32)
    target[0, :10], target[0, 10:] = 1, 2
    pred = np.zeros_like(target)
    pred[0, 4:14], pred[0, 0:4] = 1, 2
    (s,) = match_instances(pred, target, thresholds=0.25)
    assert (s.tp, s.fp, s.fn) == (2, 0, 0)
    assert s.mean_matched_iou == pytest.approx((0.25 + 0.4) / 2)
    (s,) = match_instances(pred, target, thresholds=0.42)
    assert s.tp == 1


def test_matching_3d_cubes():
    target = np.zeros((6, 6, 6), np.int32)
    target[0:4, 0:4, 0:4] = 3  # 64 voxels
    pred = np.zeros_like(target)
    pred[1:5, 0:4, 0:4] = 1  # shifted one plane: 48 shared, union 80, IoU 0.6
    (a, b) = match_instances(pred, target, thresholds=[0.6, 0.61])
    assert a.tp == 1 and a.f1 == 1.0 and a.mean_matched_iou == pytest.approx(0.6)
    assert b.tp == 0 and b.f1 == 0.0 and b.average_precision == 0.0


def test_empty_images():
    empty = np.zeros((4, 4), np.int32)
    one = empty.copy()
    one[1:3, 1:3] = 1
    (s,) = match_instances(empty, empty)
    assert s.f1 == 1.0 and s.tp == s.fp == s.fn == 0
    (s,) = match_instances(empty, one)
    assert (s.fn, s.precision, s.recall, s.f1) == (1, 1.0, 0.0, 0.0)
    (s,) = match_instances(one, empty)
    assert (s.fp, s.precision, s.f1) == (1, 0.0, 0.0)
    with pytest.raises(ValueError, match="thresholds"):
        match_instances(one, one, thresholds=1.5)


def test_match_dataset_sums_counts_before_ratios():
    t1 = np.zeros((4, 4), np.int32)
    t1[0:2, 0:2] = 1
    t2 = np.zeros((4, 4), np.int32)
    t2[0:2, 0:2], t2[2:4, 2:4] = 1, 2
    p2 = np.zeros((4, 4), np.int32)
    p2[0:2, 0:2] = 1
    (s,) = match_dataset([t1, p2], [t1, t2])
    assert (s.tp, s.fp, s.fn, s.n_true, s.n_pred) == (2, 0, 1, 3, 2)
    assert s.f1 == pytest.approx(4 / 5)
    assert s.to_dict()["average_precision"] == pytest.approx(2 / 3)


# -------------------------------------------------------------------------------- Rand


def test_adapted_rand_by_hand():
    true = np.array([[1, 2], [3, 2]])
    test = np.ones((2, 2), int)
    # pairs: same-in-both 2 (x2 ordered), same-in-test 12, same-in-true 2
    err, precision, recall = adapted_rand_error(test, true)
    assert precision == pytest.approx(2 / 12) and recall == 1.0
    assert err == pytest.approx(1 - 2 * (1 / 6) / (1 / 6 + 1))
    assert adapted_rand_error(true, true)[0] == 0.0


@pytest.mark.parametrize("shape", [(30, 40), (8, 12, 10)])
def test_adapted_rand_matches_skimage(shape):
    rng = np.random.default_rng(0)
    true = rng.integers(0, 6, shape)
    test = np.where(rng.random(shape) < 0.8, true, rng.integers(0, 8, shape))
    err, precision, recall = adapted_rand_error(test, true)
    ref_err, ref_p, ref_r = skimage_are(true, test)
    assert err == pytest.approx(ref_err)
    # scikit-image names them the other way round (its issue #6485); ours follow SNEMI3D:
    # precision over the test segmentation's pairs
    assert (precision, recall) == pytest.approx((ref_r, ref_p))
