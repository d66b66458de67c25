"""Running core generators in napari's thread workers, never on the main thread."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_error


def explain(err: BaseException) -> str:
    """A message for people: bad-input errors say what to fix; anything else names its type."""
    if isinstance(err, ValueError | TypeError | FileNotFoundError):
        return str(err)
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
