"""Shared pieces of the command line: errors, progress bars, inputs, axes."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, TextIO

from napari_unet.core.progress import run


class BadInput(ValueError):
    """Bad command-line input: printed as one line, exit status 2."""


class Bar:
    """A text progress bar on stderr, drawn from core progress records.

    On a terminal the bar is redrawn in place; otherwise (logs, pipes) a line is printed at
    every tenth of the job and at its end. ``quiet`` silences it.
    """

    def __init__(self, label: str, *, quiet: bool = False, stream: TextIO | None = None,
                 width: int = 28) -> None:
        self.label = label
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1
        self._last_draw = 0.0
        self._t0 = time.perf_counter()
        self._open = False

    def _line(self, record: Any) -> str:
        step, total = int(getattr(record, "step", 0)), int(getattr(record, "total", 0))
        frac = min(1.0, step / total) if total > 0 else 0.0
        filled = round(frac * self.width)
        parts = [f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                 f"{step}/{total if total > 0 else '?'}"]
        loss = getattr(record, "loss", None)
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        val = getattr(record, "val_loss", None)
        if val is not None:
            parts.append(f"val {val:.4f}")
        parts.append(f"{time.perf_counter() - self._t0:.0f}s")
        message = getattr(record, "message", "")
        if message:
            parts.append(str(message)[:60])
        return "  ".join(parts)

    def update(self, record: Any) -> None:
        """Show one progress record."""
        if self.quiet:
            return
        total = int(getattr(record, "total", 0))
        step = int(getattr(record, "step", 0))
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw < 0.1 and step < total:
                return
            self._last_draw = now
            self.stream.write("\r\033[K" + self._line(record))
            self._open = True
        else:
            decile = int(10 * step / total) if total > 0 else 0
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(self._line(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._open and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self._open = False


def drive(gen: Generator[Any, None, Any], bar: Bar) -> Any:
    """Run a core generator to its end, showing its records; returns its value.

    Ctrl-C closes the generator (the core then frees its memory) and is re-raised.
    """
    try:
        return run(gen, bar.update)
    except BaseException:
        gen.close()
        raise
    finally:
        bar.close()


def say(message: str, *, quiet: bool = False) -> None:
    """A line of information on stderr (silenced by --quiet)."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def ints(text: str, *, what: str) -> tuple[int, ...]:
    """``"256"`` or ``"32,256,256"`` -> a tuple of positive ints."""
    try:
        values = tuple(int(v) for v in str(text).replace("x", ",").split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise BadInput(f"{what}={text!r}: expected positive integers such as 256 or 32,256,256")
    return values


def read_json(path: str | os.PathLike, *, what: str) -> dict[str, Any]:
    """A JSON object from a file, with a one-line error naming the file."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"{what} {str(p)!r} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInput(f"{what} {str(p)!r} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise BadInput(f"{what} {str(p)!r}: expected a JSON object, found {type(data).__name__}")
    return data


def lazy(array: Any) -> Any:
    """zarr arrays as dask arrays (what the training code accepts); others unchanged."""
    import numpy as np

    if isinstance(array, np.ndarray) or hasattr(array, "dask"):
        return array
    import dask.array as da

    return da.from_array(array, chunks=getattr(array, "chunks", "auto"))


def choose_axes(shape: tuple[int, ...], *, given: str | None, model_axes: str | None, dims: int,
                in_channels: int | None, source: str) -> str:
    """Axes of an input: ``--axes``, else the model's axes when they fit, else a guess."""
    from napari_unet.core.axes import check_axes
    from napari_unet.core.io import guess_axes

    if given:
        try:
            return check_axes(given, ndim=len(shape), what=f"--axes for {source}")
        except ValueError as err:
            raise BadInput(str(err)) from err
    if model_axes and len(model_axes) == len(shape):
        return model_axes.upper()
    if (in_channels == 1 and len(shape) == dims + 1 and shape[-1] in (3, 4)
            and min(shape[:-1]) > 16):
        raise BadInput(f"{source} looks like an RGB(A) picture (shape {shape}) but the model "
                       f"takes one channel; convert it to grey, or give --axes if it is a stack")
    if in_channels is None:
        # training: an RGB(A) picture has its colours last
        if len(shape) == dims + 1 and shape[-1] in (3, 4) and min(shape[:-1]) > 4:
            return guess_axes(shape, dims=dims, in_channels=shape[-1])
        in_channels = 1
    try:
        return guess_axes(shape, dims=dims, in_channels=in_channels)
    except ValueError as err:
        raise BadInput(f"{source}: {err}") from err
