"""Label changes posted while training runs: a thread-safe mailbox the loop empties.

The napari widget posts the region a brush stroke changed (main thread); the training
thread applies all pending changes between two steps. A script can post the same way.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["LabelUpdates"]


class LabelUpdates:
    """Pending ``target[region] = values`` changes, per training pair."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[int, tuple[slice, ...] | None, np.ndarray]] = []
        #: Label changes applied so far (posts, not pixels).
        self.applied = 0

    def post(self, index: int, region: tuple[slice, ...] | None, values: Any) -> None:
        """Queue a change of pair ``index``'s target (``region`` None: the whole target)."""
        values = np.array(values)  # a copy: the caller's array may change again
        with self._lock:
            self._pending.append((index, region, values))

    @property
    def pending(self) -> int:
        """Changes waiting to be applied."""
        with self._lock:
            return len(self._pending)

    def apply(self, targets: list[np.ndarray]) -> bool:
        """Write the pending changes into ``targets`` (in order); whether any was pending.

        Raises
        ------
        ValueError
            When a change does not fit its target (shape or region), naming both.
        """
        with self._lock:
            pending, self._pending = self._pending, []
        for index, region, values in pending:
            target = targets[index]
            if region is None:
                if values.shape != target.shape:
                    raise ValueError(f"label update of pair {index}: expected shape "
                                     f"{target.shape}, found {values.shape}")
                target[...] = values
            else:
                target[region] = values
            self.applied += 1
        return bool(pending)
