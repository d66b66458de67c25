"""Progress records yielded by the long-running core generators.

Records are small frozen dataclasses; the core never renders them. The command line shows them
with a progress bar, the widgets with ``napari.utils.progress`` and a plot.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from napari_unet.core.arguments import check_callback, check_generator

T = TypeVar("T")


def _frozen_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Progress:
    """One step of a long job.

    Parameters
    ----------
    step : int
        Steps done so far (0 before the first one).
    total : int
        Steps expected in all; may grow when a job re-plans (for example after an
        out-of-memory retry).
    message : str
        A short human-readable line, e.g. ``"tile 3/12"`` or ``"out of memory: batch 8 -> 4"``.
    loss : float or None
        The current loss, for jobs that have one.
    metrics : Mapping[str, Any]
        Any further figures, keyed by name.
    """

    step: int
    total: int
    message: str = ""
    loss: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=_frozen_mapping)

    @property
    def fraction(self) -> float:
        """Share of the job done, in [0, 1]."""
        return 1.0 if self.total <= 0 else min(1.0, self.step / self.total)


def run(
    generator: Generator[Any, None, T],
    on_progress: Callable[[Any], object] | None = None,
) -> T:
    """Drive a core generator to its end and return its value.

    Every long job in the core (training, prediction, tiled objects, distributed prediction)
    is a generator that yields progress records and returns its result; this is the one
    place that drains such a generator.

    Parameters
    ----------
    generator : generator
        E.g. ``train(config, pairs)`` or ``predict(model, image, axes="YX")``.
    on_progress : callable, optional
        Called with each record as it comes (a progress bar, a log, a stop check).

    Returns
    -------
    object
        The generator's return value (``StopIteration.value``).
    """
    check_generator(generator)
    check_callback(on_progress, what="on_progress")
    while True:
        try:
            record = next(generator)
        except StopIteration as end:
            return end.value
        if on_progress is not None:
            on_progress(record)
