"""The Predict widget's object table: one row per object, click to go there, save as CSV."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Rows shown in the widget at most (the CSV has them all).
MAX_ROWS = 5000
#: The columns shown, in order, when the table has them (mean intensities per channel too).
SHOWN = ("frame", "label", "area", "volume", "mean_intensity", "mean_probability")
HEADERS = {"frame": "frame", "label": "object", "area": "area", "volume": "volume",
           "mean_intensity": "mean intensity", "mean_probability": "mean probability"}


def shown_columns(table: Mapping[str, np.ndarray]) -> list[str]:
    """The columns of ``table`` shown in the widget, in order."""
    cols = [c for c in SHOWN if c in table]
    extra = sorted(c for c in table if c.startswith("mean_intensity_"))
    at = cols.index("mean_probability") if "mean_probability" in cols else len(cols)
    return cols[:at] + extra + cols[at:]


def _text(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{float(value):.4g}"
    return str(value)


class ObjectTable(QGroupBox):
    """A collapsible table of objects (untick its title to fold it away).

    ``on_row`` is called with a row's index in the table when the user clicks it;
    ``save`` writes the table (see :meth:`save`).
    """

    def __init__(self, on_row: Callable[[int], None], save: Callable[[str], object],
                 parent: QWidget | None = None) -> None:
        super().__init__("Objects", parent)
        self.setCheckable(True)
        self.setChecked(True)
        self.table: dict[str, np.ndarray] = {}
        self._on_row, self._save = on_row, save
        layout = QVBoxLayout(self)
        self.inner = QWidget()
        inner = QVBoxLayout(self.inner)
        inner.setContentsMargins(0, 0, 0, 0)
        self.view = QTableWidget()
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setMinimumHeight(80)
        self.view.setMaximumHeight(220)
        self.view.verticalHeader().setVisible(False)
        self.view.setToolTip("click a row to go to that object")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save table (CSV)…")
        row.addWidget(self.summary, 1)
        row.addWidget(self.save_button)
        inner.addWidget(self.view)
        inner.addLayout(row)
        layout.addWidget(self.inner)
        self.toggled.connect(self.inner.setVisible)
        self.view.cellClicked.connect(lambda r, _c: self._on_row(r))
        self.save_button.clicked.connect(self._browse_save)
        self.setVisible(False)

    def show_table(self, table: Mapping[str, np.ndarray], *, note: str = "") -> None:
        """Show ``table`` (columns of equal length); the first :data:`MAX_ROWS` rows."""
        self.table = {k: np.asarray(v) for k, v in table.items()}
        cols = shown_columns(self.table)
        n = len(self.table.get("label", ()))
        shown = min(n, MAX_ROWS)
        self.view.clear()
        self.view.setColumnCount(len(cols))
        self.view.setHorizontalHeaderLabels(
            [HEADERS.get(c, c.replace("mean_intensity_", "mean intensity ")) for c in cols])
        self.view.setRowCount(shown)
        for j, col in enumerate(cols):
            values = self.table[col]
            for i in range(shown):
                self.view.setItem(i, j, QTableWidgetItem(_text(values[i])))
        self.view.resizeColumnsToContents()
        more = f" (the first {shown} shown; the CSV has all)" if shown < n else ""
        self.summary.setText(f"{n} object{'s' if n != 1 else ''}{more}{note}")
        self.setVisible(True)

    def clear_table(self) -> None:
        """Forget the table and hide the section."""
        self.table = {}
        self.view.setRowCount(0)
        self.setVisible(False)

    def _browse_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the object table", "objects.csv",
                                              "CSV (*.csv)")
        if path:  # the dialog asked before replacing a file
            self._save(str(Path(path)))
