"""Honest feedback: the warnings a trained model comes with."""

from __future__ import annotations

from napari_unet.core.training.feedback import training_warnings


def test_no_held_out_strokes_says_paint_more():
    out = training_warnings({"task": "semantic"}, 2)
    assert len(out) == 1 and out[0].startswith("no validation yet: paint more")


def test_a_class_not_learnt_is_named():
    meta = {"task": "semantic",
            "validation": {"loss": 0.4, "iou": {"background": 0.9, "nucleus": 0.02}}}
    out = training_warnings(meta, 2, {1, 2})
    assert len(out) == 1 and "'nucleus' is not learnt yet (held-out IoU 0.02)" in out[0]


def test_a_single_class_preview_is_a_warning_and_a_good_model_has_none():
    meta = {"task": "semantic",
            "validation": {"loss": 0.2, "iou": {"background": 0.9, "nucleus": 0.8}}}
    assert training_warnings(meta, 2, {1, 2}) == []
    assert training_warnings(meta, 2, None) == []
    assert "single class" in training_warnings(meta, 2, {1})[0]
    assert training_warnings({"task": "regression"}, 1, {1}) == []


def test_a_u_net_still_behind_the_previews_shallow_classifier_is_a_warning():
    meta = {"task": "semantic", "training": {"shallow_iou": 0.70},
            "validation": {"loss": 0.3, "iou": {"interior": 0.6, "membrane": 0.4}}}
    out = training_warnings(meta, 2, {1, 2})
    assert len(out) == 1 and "quick classifier of the preview still beats the U-Net" in out[0]
    assert "0.70 against 0.50" in out[0]
    meta["training"]["shallow_iou"] = 0.52  # within the tie the strokes cannot break
    assert training_warnings(meta, 2, {1, 2}) == []
    meta["training"] = {}  # no preview ran
    assert training_warnings(meta, 2, {1, 2}) == []
