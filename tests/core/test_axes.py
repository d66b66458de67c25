"""Axes strings: one alphabet (T, S, C, Z, Y, X) and one checker for training and prediction,
with errors that name the input, what was expected and what was found."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.axes import AXIS_LETTERS, check_axes, parse_axes, spatial_letters
from napari_unet.core.training.targets import check_axes as check_training_axes


def test_one_alphabet_for_training_and_prediction():
    assert set(AXIS_LETTERS) == set("TSCZYX")
    for axes in ("YX", "SYX", "TYX", "CYX", "STCZYX", "yxc", "ZSYX"):
        n = len(axes)
        assert check_axes(axes, ndim=n) == axes.upper()
        parse_axes(axes, (2,) * n, dims=2)  # prediction accepts it
    # training accepts the same letters (its own rules aside: no Z for a 2D model)
    for axes in ("YX", "SYX", "TYX", "CYX", "TSCYX", "yxc"):
        assert check_training_axes(axes, dims=2, ndim=len(axes)) == axes.upper()
    assert check_training_axes("SZYX", dims=3, ndim=4) == "SZYX"


def test_samples_are_a_loop_axis_like_time():
    s_plan = parse_axes("SYX", (3, 8, 9), dims=2)
    t_plan = parse_axes("TYX", (3, 8, 9), dims=2)
    assert s_plan.loop == t_plan.loop == (0,)
    assert s_plan.spatial == t_plan.spatial == (1, 2)
    assert list(s_plan.frames()) == [(0,), (1,), (2,)]
    assert s_plan.out_axes == "SYX"
    plan3 = parse_axes("SCZYX", (2, 1, 4, 8, 8), dims=3)
    assert plan3.loop == (0,) and plan3.channel == 1 and plan3.spatial == (2, 3, 4)
    block = np.zeros((1, 4, 8, 8))
    assert plan3.to_model_order(block).shape == (1, 4, 8, 8)


@pytest.mark.parametrize(
    ("axes", "ndim", "found"),
    [
        (3, 2, "found 3"),
        ("", 2, "found ''"),
        ("YQ", 2, "unknown letters 'Q'"),
        ("YYX", 3, "repeats 'Y'"),
        ("ZYX", 2, "names 3 axes, but the image has 2"),
        ("ZY", 2, "lacks 'X'"),
        ("SZ", 2, "lacks 'YX'"),
    ],
)
def test_checker_says_what_was_expected_and_found(axes, ndim, found):
    with pytest.raises(ValueError, match=r"^input 'a\.tif': expected .*, found ") as info:
        check_axes(axes, ndim=ndim, what="input 'a.tif'")
    assert found in str(info.value)


def test_model_rules_on_top_of_the_checker():
    with pytest.raises(ValueError, match=r"^image: expected axes with a Z axis for a 3D model, "
                                         r"found 'SYX'"):
        parse_axes("SYX", (2, 8, 8), dims=3)
    with pytest.raises(ValueError, match="pair 0: expected axes without Z for a 2D model, found "
                                         "'ZYX'"):
        check_training_axes("ZYX", dims=2, ndim=3, what="pair 0")
    with pytest.raises(ValueError, match="pair 0: expected axes with the spatial axes 'ZYX' of a "
                                         "3D model, found 'SYX', which lacks 'Z'"):
        check_training_axes("SYX", dims=3, ndim=3, what="pair 0")
    with pytest.raises(ValueError, match="dims: expected 2 or 3, found 4"):
        spatial_letters(4)
