"""The Train widget's size presets: step budgets with a cap and early stopping, in words."""

from __future__ import annotations

import pytest

from napari_unet.core.training.presets import PRESETS

from .conftest import dock


@pytest.mark.slow
def test_presets_set_steps_a_cap_and_patience_and_say_what_they_buy(make_napari_viewer):
    viewer = make_napari_viewer()
    w = dock(viewer, "Train")
    w.preset_combo.setCurrentText("fast")
    assert w.budget_kind.currentText() == "steps"
    assert w.budget_spin.value() == PRESETS["fast"].steps_2d
    assert "600 steps" in w.preset_label.text() and "stops early" in w.preset_label.text()
    config = w.make_config("YX")
    assert config.max_steps == 600 and config.max_seconds == PRESETS["fast"].max_seconds
    assert config.patience == PRESETS["fast"].patience and config.start == "auto"
    w.dims_combo.setCurrentText("3D")  # a 3D step costs more: fewer steps
    assert w.budget_spin.value() == PRESETS["fast"].steps_3d
    w.dims_combo.setCurrentText("2D")
    w.preset_combo.setCurrentText("accurate")
    assert w.budget_spin.value() == PRESETS["accurate"].steps_2d
    w.show_preset(20.0)  # after a run: the time it takes at this machine's speed
    assert "about 300 s" in w.preset_label.text()
    w.start_combo.setCurrentText("random weights")  # refuse the shipped starting models
    assert w.make_config("YX").start == "none"
