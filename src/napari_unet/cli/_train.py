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


class _Signals:
    """What the first Ctrl-C or SIGTERM asked for, and whether saving has begun."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.saving = False
        self.signum: int | None = None


@contextlib.contextmanager
def _first_signal_stops(state: _Signals, *, quiet: bool) -> Iterator[None]:
    """The first Ctrl-C or SIGTERM ends training after the current step (the model is
    saved); a second one aborts training, but never a save that has begun."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if state.saving:
            say("\nsaving the model; please wait", quiet=quiet)
            return
        if state.stop.is_set():
            raise KeyboardInterrupt
        state.stop.set()
        state.signum = signum
        word = "Ctrl-C" if signum == signal.SIGINT else "the signal"
        say(f"\nstopping after this step and saving ({word} again to abort)", quiet=quiet)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _pairs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """(image, labels) files: paired by name when a folder is given, else in order."""
    from napari_unet.core.io import expand_inputs
    from napari_unet.core.pairing import pair_by_name

    images = expand_inputs(args.images, what="image")
    labels = expand_inputs(args.labels, what="labels")
    files = {*images, *labels}  # a zarr store is a folder that is one file, not a folder
    if any(Path(p).is_dir() and Path(p) not in files for p in [*args.images, *args.labels]):
        return pair_by_name(images, labels)
    if len(images) != len(labels):
        raise BadInput(f"{len(images)} image(s) but {len(labels)} label file(s): expected "
                       f"one label file per image, given in the same order")
    return list(zip(images, labels))


def _file_axes(sources: list[Any], *, given: str | None) -> str | None:
    """The images' axes from their files' metadata (None when ``--axes`` is given or a file
    does not say); files that disagree are refused."""
    if given:
        return None
    found = {src.axes for src in sources}
    if None in found:
        return None
    if len(found) > 1:
        listed = ", ".join(f"{src.path.name}: {src.axes}" for src in sources)
        raise BadInput(f"the images' files give different axes ({listed}); expected the same "
                       f"axes for every image; give --axes or train on them separately")
    return found.pop()


def _physical(source: Any, axes: str) -> dict[str, Any]:
    """The first image's physical pixel sizes and units for the model card (when known)."""
    if not source.scale or source.axes != axes:
        return {}
    return {"spacing": {a: source.scale[a] for a in axes if a in source.scale},
            "units": {a: source.units[a] for a in axes if a in source.units}}


def _save(net: Any, out: Path, **card: Any) -> Path:
    """Save the model at ``out``; if that fails, at a stated fallback path (then raise)."""
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.outputs import fallback_model_path

    try:
        return save_model(net, out, **card)
    except OSError as err:
        rescue = fallback_model_path(out)
        try:
            save_model(net, rescue, **card)
        except OSError as again:
            raise OSError(f"--out {str(out)!r}: could not save the model ({err}), nor at "
                          f"{str(rescue)!r} ({again}); the trained model is lost") from err
        raise BadInput(f"--out {str(out)!r}: expected a writable place, found: {err}; the "
                       f"model was saved to {str(rescue)!r} instead") from err


def run(args: argparse.Namespace) -> int:
    """Train a model and save it; 143 when a SIGTERM stopped training (the model is saved)."""
    from napari_unet.core.export.loading import load_any_model
    from napari_unet.core.imagefile import check_in_memory, open_image
    from napari_unet.core.io import read_image
    from napari_unet.core.outputs import check_model_out
    from napari_unet.core.pairing import check_painting
    from napari_unet.core.training.train import train

    files = _pairs(args)
    images = [i for i, _ in files]
    labels = [lab for _, lab in files]
    out = check_model_out(args.out, inputs=[*images, *labels])  # before any work
    model = None
    base = None
    if args.from_model:
        model = load_any_model(args.from_model)
        base = dict((getattr(model, "card", None) or {}).get("train_config") or {})
    config = _config(args, base)
    for path in labels:  # paintings are read whole: a store that declares 200000^2 and
        check_in_memory(path, what=f"labels {str(path)!r}")  # holds nothing is refused
    sources = [open_image(i, scene=args.scene) for i in images]
    pairs = [(lazy(src.data), lazy(read_image(lab))) for src, (_, lab) in zip(sources, files)]
    for (img, lab), path in zip(pairs, labels):
        check_painting(lab, image=img, task=config.task, n_classes=config.n_classes,
                       source=f"labels {str(path)!r}")
    first = pairs[0][0]
    from_file = _file_axes(sources, given=args.axes)
    axes = choose_axes(tuple(first.shape), given=args.axes or from_file,
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
    taken = sources[0].describe(axes=bool(from_file))
    taken = f" (from the file: {taken})" if taken else ""
    say(f"training a {config.dims}D {config.task} model on {len(pairs)} image(s), axes "
        f"{axes}{taken}", quiet=args.quiet)
    state = _Signals()
    gen = train(config, pairs, model=model, device=args.device, stop=state.stop)
    with _first_signal_stops(state, quiet=args.quiet):
        net = drive(gen, Bar("train", quiet=args.quiet))
        state.saving = True
        out = _save(net, out, train_config=config,
                    training_data={"images": [str(p) for p in images],
                                   "labels": [str(p) for p in labels],
                                   **_physical(sources[0], axes),
                                   **{k: v for k, v in (net.meta.get("training") or {}).items()
                                      if k != "config"}})
    val = net.meta.get("validation")
    say(f"saved {out}" + (f" (validation {val})" if val else ""), quiet=args.quiet)
    if state.signum == signal.SIGTERM:
        say("stopped by SIGTERM after saving; exit status 143", quiet=args.quiet)
        return 128 + signal.SIGTERM
    return 0
