"""Running core generators in napari's thread workers, never on the main thread."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import cancelable_progress
from napari.utils.notifications import show_error

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
_AXES_FLAG = re.compile(r"give them explicitly \(e\.g\. --axes (\w+) or (\w+)\)")
_FLAG = re.compile(r"--([a-z][a-z-]*)")
_PAIR = re.compile(r"\bpair (\d+)\b")


def _pair_words(index: int, pairs: Sequence[tuple[str, str]] | None) -> str:
    nth = ORDINALS[index] if index < len(ORDINALS) else f"number {index + 1}"
    if pairs is not None and index < len(pairs):
        image, target = pairs[index]
        return f"the {nth} pair (image {image!r}, paint {target!r})"
    return f"the {nth} pair"


def gui_words(text: str, *, pairs: Sequence[tuple[str, str]] | None = None) -> str:
    """A core message in the widgets' words: no command-line flags, no "pair 0".

    ``pairs`` (the (image, paint) layer names of a training run) lets "pair 0" name its
    layers.
    """
    text = _AXES_FLAG.sub(
        r"say which axes it has: open it with the Load widget and type them in its Axes "
        r"field (e.g. \1 or \2)", text)
    text = _FLAG.sub(lambda m: f"the {m.group(1).replace('-', ' ')} setting", text)
    text = _PAIR.sub(lambda m: _pair_words(int(m.group(1)), pairs), text)
    return text


def explain(err: BaseException, *, pairs: Sequence[tuple[str, str]] | None = None) -> str:
    """A message for people: bad-input errors say what to fix; anything else names its type.

    Core messages are put in the widgets' words (see :func:`gui_words`).
    """
    if isinstance(err, ValueError | TypeError | FileNotFoundError):
        return gui_words(str(err), pairs=pairs)
    return f"{type(err).__name__}: {err}"


def start_job(
    job: Generator[Any, Any, Any],
    *,
    on_yield: Callable[[Any], None] | None = None,
    on_return: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_finish: Callable[[], None] | None = None,
) -> GeneratorWorker:
    """Run ``job`` (a core generator) in a napari thread worker and start it.

    Callbacks run on the main thread. Errors are shown as a napari notification with a clear
    message (and passed to ``on_error``). When the worker ends for any reason, including a
    quit request, the generator is closed so its ``finally`` blocks free memory at once.
    """

    def body():
        return (yield from job)

    worker = create_worker(body, _ignore_errors=True)

    def errored(err: BaseException) -> None:
        show_error(explain(err))
        if on_error is not None:
            on_error(err)

    def finished() -> None:
        job.close()
        if on_finish is not None:
            on_finish()

    if on_yield is not None:
        worker.yielded.connect(on_yield)
    if on_return is not None:
        worker.returned.connect(on_return)
    worker.errored.connect(errored)
    worker.finished.connect(finished)
    worker.start()
    return worker


class _Bar(cancelable_progress):
    """napari's cancelable progress whose cancel button also calls its callback at once (a
    job that is not a loop over the bar would never see ``is_canceled``)."""

    def cancel(self) -> None:
        super().cancel()
        if self.cancel_callback is not None:
            self.cancel_callback()


class Activity:
    """A job's entry in napari's activity dock: percent done, a description, a cancel button.

    ``open`` shows it (napari builds its bar at once, ~0.15 s of the main thread), ``update``
    moves it, ``close`` removes it; ``bar`` is the napari progress object while open.
    """

    #: The description changes at most this often (each change repaints the dock).
    TEXT_EVERY_S = 0.5

    def __init__(self, title: str, on_cancel: Callable[[], None] | None = None) -> None:
        self.title = title
        self.on_cancel = on_cancel
        self.bar: _Bar | None = None
        self._text_at = 0.0

    def open(self) -> None:
        """Show a new entry (closing one still open)."""
        self.close()
        self.bar = _Bar(total=100, desc=self.title, cancel_callback=self.on_cancel)

    def update(self, percent: int, text: str = "") -> None:
        """Set the percent done (it only grows) and, when given, the description (at most
        every :attr:`TEXT_EVERY_S` seconds)."""
        bar = self.bar
        if bar is None:
            return
        percent = max(0, min(100, int(percent)))
        if percent > bar.n:
            bar.update(percent - bar.n)  # may run queued events: a finished job closes it
        now = time.perf_counter()
        if text and self.bar is bar and now - self._text_at >= self.TEXT_EVERY_S:
            self._text_at = now
            bar.set_description(f"{self.title}: {text}")

    def close(self) -> None:
        """Remove the entry from the activity dock (nothing when none is open)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
