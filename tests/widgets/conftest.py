"""Helpers for widget tests: docked widgets over a sample, tiny training settings."""

from __future__ import annotations

import time

import pytest
from qtpy.QtCore import QTimer


def dock(viewer, name: str):
    """Dock the napari-unet widget ``name`` and return it."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-unet", name)
    return widget


def tiny(train_widget, *, steps: int = 6, patch: int = 64, dims: str = "2D") -> None:
    """Settings that train in seconds on a CPU: a 2-level net, 4 channels, a step budget."""
    train_widget.dims_combo.setCurrentText(dims)
    train_widget.advanced.setChecked(True)
    train_widget.depth_spin.setValue(2)
    train_widget.width_spin.setValue(4)
    train_widget.patch_spin.setValue(patch)
    train_widget.batch_spin.setValue(2)
    train_widget.budget_kind.setCurrentText("steps")
    train_widget.budget_spin.setValue(steps)


def wait_idle(qtbot, widget, timeout: int = 120_000) -> None:
    """Wait until the widget's job (worker and result layers) has finished."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


class StallMeter:
    """Measures how long the main thread stops answering: a 10 ms QTimer and its lateness."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.gaps: list[float] = []
        self._last = None
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._last = None
        self.timer.start()

    def stop(self) -> float:
        """Stop measuring; the longest gap between two pings, in seconds."""
        self.timer.stop()
        return max(self.gaps, default=0.0)


@pytest.fixture
def stall_meter():
    meter = StallMeter()
    yield meter
    meter.timer.stop()


@pytest.fixture
def em_viewer(make_napari_viewer):
    """A viewer with the EM membranes sample (image and painted strokes) open."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "em_membranes")
    return viewer
