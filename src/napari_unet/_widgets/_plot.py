"""The live training plot: training loss, validation loss and mean validation IoU per step."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QWidget

#: at most one redraw per this many seconds (a redraw costs the main thread tens of ms)
REDRAW_EVERY_S = 0.5

pg.setConfigOptions(antialias=False, background="#262930", foreground="#d1d2d4")


class TrainingPlot(pg.PlotWidget):
    """A compact pyqtgraph plot that grows as training records arrive."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(120)
        self.setLabel("bottom", "step")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self._train = self.plot([], [], pen=pg.mkPen("#58a6ff", width=1.5), name="train loss")
        self._val = self.plot([], [], pen=pg.mkPen("#ff9f43", width=2), symbol="o",
                              symbolSize=5, name="val loss")
        self._iou = self.plot([], [], pen=pg.mkPen("#2ecc71", width=2), symbol="t",
                              symbolSize=6, name="val mean IoU")
        self._drawn_at = 0.0
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.timeout.connect(self._redraw)
        self.clear_curves()

    def clear_curves(self) -> None:
        """Forget all points (a new training run starts)."""
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.val_ious: list[float] = []
        self._redraw()

    def add_record(self, record) -> None:
        """Add one :class:`~napari_unet.core.training.train.TrainProgress` record."""
        phase = getattr(record, "phase", "train")
        if phase == "train" and record.loss is not None:
            self.steps.append(record.step)
            self.losses.append(float(record.loss))
        elif phase == "validate" and record.val_loss is not None:
            self.val_steps.append(record.step)
            self.val_losses.append(float(record.val_loss))
            ious = [v for v in (record.val_iou or ()) if v is not None]
            self.val_ious.append(float(np.mean(ious)) if ious else np.nan)
        else:
            return
        wait = REDRAW_EVERY_S - (time.perf_counter() - self._drawn_at)
        if wait <= 0:
            self._redraw()
        elif not self._flush.isActive():
            self._flush.start(int(wait * 1000))

    def _redraw(self) -> None:
        self._drawn_at = time.perf_counter()
        self._train.setData(self.steps, self.losses)
        self._val.setData(self.val_steps, self.val_losses)
        self._iou.setData(self.val_steps, self.val_ious)
