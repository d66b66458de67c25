"""``napari-unet train``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from napari_unet.cli._common import (
    BadInput,
    Bar,
    choose_axes,
    drive,
    lazy,
    read_json,
    say,
)


def _config(args: argparse.Namespace, base: dict | None):
    from napari_unet.core.training.train import TrainConfig

    data = dict(base or {})
    if args.config:
        loaded = read_json(args.config, what="--config")
        if loaded.get("format") == "napari-unet-model":  # a whole model card (info --json)
            loaded = dict(loaded.get("train_config") or {})
        data.update(loaded)
    for key in ("task", "seed"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.dims:
        data["dims"] = int(args.dims[0])
    if args.steps is not None:
        data["max_steps"] = args.steps
    if args.max_seconds is not None:
        data["max_seconds"] = args.max_seconds
        if args.steps is None:
            data["max_steps"] = None  # the time budget rules
    try:
        return TrainConfig.from_dict(data)
    except TypeError as err:
        raise BadInput(f"--config: {err}") from err


@contextlib.contextmanager
def _first_interrupt_stops(stop: threading.Event, *, quiet: bool) -> Iterator[None]:
    """The first Ctrl-C ends training after the current step (the model is saved); a second
    one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        say("\nstopping after this step and saving (Ctrl-C again to abort)", quiet=quiet)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> None:
    """Train a model and save it."""
    from napari_unet.core.export.loading import load_any_model
    from napari_unet.core.io import expand_inputs, read_image
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.training.train import train

    images = expand_inputs(args.images, what="image")
    labels = expand_inputs(args.labels, what="labels")
    if len(images) != len(labels):
        raise BadInput(f"{len(images)} image(s) but {len(labels)} label file(s); labels pair "
                       f"with images in order, one each")
    model = None
    base = None
    if args.from_model:
        model = load_any_model(args.from_model)
        base = dict((getattr(model, "card", None) or {}).get("train_config") or {})
    config = _config(args, base)
    pairs = [(lazy(read_image(i)), lazy(read_image(lab))) for i, lab in zip(images, labels)]
    first = pairs[0][0]
    axes = choose_axes(tuple(first.shape), given=args.axes,
                       model_axes=config.axes if (args.config or base) else None,
                       dims=config.dims,
                       in_channels=None if model is None else model.in_channels,
                       source=f"image {str(images[0])!r}")
    config.axes = axes
    if model is not None and model.dims != config.dims:
        raise BadInput(f"--from model is {model.dims}D but --dims asks for {config.dims}D")
    for (img, _), path in zip(pairs, images):
        if len(img.shape) != len(axes):
            raise BadInput(f"image {str(path)!r} has {len(img.shape)} dimensions; the first "
                           f"image's axes {axes!r} need {len(axes)}")
    say(f"training a {config.dims}D {config.task} model on {len(pairs)} image(s), axes {axes}",
        quiet=args.quiet)
    stop = threading.Event()
    gen = train(config, pairs, model=model, device=args.device, stop=stop)
    with _first_interrupt_stops(stop, quiet=args.quiet):
        net = drive(gen, Bar("train", quiet=args.quiet))
    out = save_model(net, Path(args.out), train_config=config,
                     training_data={"images": [str(p) for p in images],
                                    "labels": [str(p) for p in labels],
                                    **{k: v for k, v in (net.meta.get("training") or {}).items()
                                       if k != "config"}})
    val = net.meta.get("validation")
    say(f"saved {out}" + (f" (validation {val})" if val else ""), quiet=args.quiet)
