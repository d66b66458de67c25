"""Shared pieces of the command line: errors, progress bars, inputs, axes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any, TextIO

from napari_unet.core.progress import run


class BadInput(ValueError):
    """Bad command-line input: printed as one line, exit status 2."""


class Bar:
    """A progress bar on stderr drawn by tqdm from core progress records.

    On a terminal tqdm redraws the bar in place (at most ten times a second); otherwise (logs,
    pipes) tqdm's line is printed at every tenth of the job and once at its end, so a log holds
    about eleven readable lines. The loss and validation loss of training records, and the
    record's message, go to the bar's postfix. ``quiet`` silences it. The record's ``step`` is
    a count of steps done and ``total`` may grow (a job that re-plans).
    """

    def __init__(self, label: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.label = label
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: Any = None
        self._last_decile = -1
        self._last_line = ""

    def _make(self, total: int) -> Any:
        from tqdm import tqdm

        if self.tty:
            return tqdm(total=total or None, desc=self.label, file=self.stream,
                        mininterval=0.1, dynamic_ncols=True, leave=True)
        # off a terminal tqdm only formats (written as whole lines by update/close)
        return tqdm(total=total or None, desc=self.label, file=_Discard(), mininterval=1e9,
                    ascii=True, ncols=100, leave=False)

    def update(self, record: Any) -> None:
        """Show one progress record."""
        if self.quiet:
            return
        step, total = int(getattr(record, "step", 0)), int(getattr(record, "total", 0))
        if self._bar is None:
            self._bar = self._make(total)
        bar = self._bar
        if total > 0 and bar.total != total:
            bar.total = total
        postfix = _postfix(record)
        if postfix:
            bar.set_postfix_str(postfix, refresh=False)
        bar.update(step - bar.n)
        if not self.tty:
            decile = int(10 * step / total) if total > 0 else 0
            if decile != self._last_decile:
                self._last_decile = decile
                self._write_line()

    def _write_line(self) -> None:
        line = str(self._bar)
        if line != self._last_line:
            self._last_line = line
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self, *, done: bool = False) -> None:
        """End the bar; ``done`` (the job finished) shows it full (100 %)."""
        bar, self._bar = self._bar, None
        if bar is None or self.quiet:
            return
        if done:
            if bar.total is None or bar.total < bar.n:
                bar.total = max(bar.n, 1)
            bar.update(bar.total - bar.n)
        if self.tty:
            bar.close()
        else:
            self._bar = bar
            self._write_line()
            self._bar = None
            bar.close()


class _Discard:
    """A stream that drops what tqdm writes (used when tqdm only formats lines)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _postfix(record: Any) -> str:
    """``loss 0.1234, val 0.2345, <message>`` from a progress record (training or other)."""
    parts = []
    loss = getattr(record, "loss", None)
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    val = getattr(record, "val_loss", None)
    if val is None:
        val = (getattr(record, "metrics", None) or {}).get("val_loss")
    if val is not None:
        parts.append(f"val {val:.4f}")
    message = getattr(record, "message", "")
    if message:
        parts.append(str(message)[:40])
    return ", ".join(parts)


def drive(gen: Generator[Any, None, Any], bar: Bar) -> Any:
    """Run a core generator to its end, showing its records; returns its value.

    Ctrl-C closes the generator (the core then frees its memory) and is re-raised; the bar
    shows 100 % only when the job finished.
    """
    done = False
    try:
        value = run(gen, bar.update)
        done = True
        return value
    except BaseException:
        gen.close()
        raise
    finally:
        bar.close(done=done)


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


def _looks_channels_last(shape: tuple[int, ...], dims: int) -> bool:
    """A last axis of at most 4 after ``dims`` axes of more than 16: channels, not columns."""
    return len(shape) == dims + 1 and shape[-1] <= 4 and min(shape[:-1]) > 16


def choose_axes(shape: tuple[int, ...], *, given: str | None, model_axes: str | None, dims: int,
                in_channels: int | None, source: str) -> str:
    """Axes of an input: ``--axes``, else the model's axes when they fit, else a guess.

    An image whose last axis is at most 4 long after ``dims`` long axes (``(64, 64, 2)`` for a
    2D model) has its channels last: read as ``ZYX`` it would become 64 slices of 64 x 2
    pixels. Training takes such channels (2 to 4 of them) as they are; prediction accepts them
    when the model takes that many channels and otherwise refuses, naming ``--axes``.
    """
    from napari_unet.core.axes import check_axes
    from napari_unet.core.io import guess_axes

    if given:
        try:
            return check_axes(given, ndim=len(shape), what=f"--axes for {source}")
        except ValueError as err:
            raise BadInput(str(err)) from err
    spatial = "ZYX" if dims == 3 else "YX"
    channels_last = _looks_channels_last(shape, dims)
    if model_axes and len(model_axes) == len(shape) and not (
            channels_last and model_axes.upper()[-1] != "C"):
        return model_axes.upper()
    if in_channels is not None and channels_last and shape[-1] != in_channels:
        if in_channels == 1 and shape[-1] in (3, 4):
            raise BadInput(f"{source} looks like an RGB(A) picture (shape {shape}) but the "
                           f"model takes one channel; convert it to grey, or give --axes if "
                           f"it is a stack")
        stack = ("Z" if dims == 2 else "T") + spatial
        raise BadInput(
            f"{source}: shape {shape} looks channels-last ({shape[-1]} channels in the last "
            f"axis); read as {stack} it would be {shape[0]} "
            f"{'slices' if dims == 2 else 'time points'} of "
            f"{' x '.join(map(str, shape[1:]))} pixels. The model takes {in_channels} "
            f"channel(s): convert the image to {in_channels} channel(s) (or pick one), use a "
            f"model trained on {shape[-1]} channels with --axes {spatial}C, or give --axes "
            f"{stack} if it really is a stack")
    if channels_last and shape[-1] == 1:
        return spatial + "C"  # one channel, kept in a last axis of 1
    if in_channels is None:
        # training: channels last (an RGB(A) picture, or 2 to 4 channels) stay channels
        rgb = len(shape) == dims + 1 and shape[-1] in (3, 4) and min(shape[:-1]) > 4
        if channels_last or rgb:
            return guess_axes(shape, dims=dims, in_channels=shape[-1])
        in_channels = 1
    try:
        return guess_axes(shape, dims=dims, in_channels=in_channels)
    except ValueError as err:
        raise BadInput(f"{source}: {err}") from err
