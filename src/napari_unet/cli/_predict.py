"""``napari-unet predict``."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.cli._common import (
    BadInput,
    Bar,
    choose_axes,
    drive,
    ints,
    say,
)

OUTPUTS = ("probabilities", "classes", "instances", "table")
#: tif inputs bigger than this are read tile by tile instead of whole.
LAZY_BYTES = 2 << 30


def _outputs(text: str | None, task: str) -> tuple[str, ...]:
    if not text:
        return {"instances": ("instances",), "regression": ("probabilities",)}.get(
            task, ("classes",))
    kinds = tuple(dict.fromkeys(k.strip().lower() for k in text.split(",") if k.strip()))
    bad = [k for k in kinds if k not in OUTPUTS]
    if bad or not kinds:
        raise BadInput(f"--output {text!r}: expected a comma-separated list of "
                       f"{', '.join(OUTPUTS)}")
    for objects in ("instances", "table"):
        if objects in kinds and task == "regression":
            raise BadInput(f"--output {objects} needs a segmentation model (instances or "
                           f"semantic); this one is a regression model")
    if "classes" in kinds and task == "regression":
        raise BadInput("--output classes makes no sense for a regression model")
    return kinds


def _spacing(text: str | None, axes: str, source: str) -> tuple[float, ...] | None:
    """``--spacing`` as one physical pixel size per spatial axis (Z, Y, X) of an input."""
    from napari_unet.core.objects.frames import volume_spacing

    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise BadInput(f"--spacing {text!r}: expected positive numbers, one per spatial axis "
                       f"of the image, such as 0.5,0.1,0.1")
    try:
        return volume_spacing(axes, values)
    except ValueError as err:
        raise BadInput(f"--spacing {text!r} for {source} (axes {axes}): {err}") from err


def _instances(probabilities: Any, axes: str, target: Any, *, spacing: Any, quiet: bool,
               meta: dict[str, Any]) -> Any:
    """Objects per time point, as Predict makes them
    (:func:`~napari_unet.core.objects.frames.objects_per_frame`: Z, Y and X form one volume).

    ``target`` is a staged (temporary) path, or an array of an OME-Zarr store. Zarr targets
    (and store arrays) are filled by the core (block by block for lazy instance-model
    probabilities of one frame, so memory stays bounded); tif targets are written at the end.
    Returns the labels (an array).
    """
    from napari_unet.core.io import write_result
    from napari_unet.core.objects.frames import objects_per_frame

    path = isinstance(target, Path)
    zarr = not path or target.suffix == ".zarr"
    gen = objects_per_frame(probabilities, meta, axes=axes, spacing=spacing,
                            out=target if zarr else None)
    labels = drive(gen, Bar("instances", quiet=quiet))
    if not zarr:
        write_result(target, labels)
    return labels


def _physical(spacing: tuple[float, ...] | None, axes: str, source: Any = None,
              ) -> tuple[dict[str, float], dict[str, str]]:
    """Physical size and unit per axis letter of the results (axes ``axes``, no C):
    ``--spacing`` (one value per axis of the object volume; its unit unknown) wins over what
    the file says (``source.scale``/``source.units`` of the opened image file, when known)."""
    scale = dict(getattr(source, "scale", None) or {})
    units = dict(getattr(source, "units", None) or {})
    if spacing is not None:
        volume = [a for a in axes if a not in "TS"]
        scale.update(zip(volume, spacing))
        for a in volume:
            units.pop(a, None)
    return ({a: float(v) for a, v in scale.items() if a in axes},
            {a: str(u) for a, u in units.items() if a in axes and a in scale})


@dataclass
class _Input:
    """One input as prediction sees it, checked: its file, data, axes and physical sizes."""

    source: Any
    image: Any
    axes: str
    axes_plan: Any
    spacing: Any
    taken: str
    scale: dict[str, float]
    units: dict[str, str]


def _check_input(args: argparse.Namespace, model: Any, path: Path) -> _Input:
    """Open ``path`` (lazily where big) and check it against the model and the options; the
    file's axes and pixel sizes are used unless --axes / --spacing say otherwise."""
    from napari_unet.core.axes import parse_axes
    from napari_unet.core.imagefile import check_in_memory, file_spacing, open_image

    if args.format == "tif":  # results are kept whole in memory, as big as the input
        check_in_memory(path, what=f"input {str(path)!r}")
    source = open_image(path, scene=args.scene)
    image = source.data
    axes = choose_axes(tuple(image.shape), given=args.axes or source.axes,
                       model_axes=model.meta.get("axes"), dims=model.dims,
                       in_channels=model.in_channels, source=f"input {str(path)!r}")
    axes_plan = parse_axes(axes, tuple(image.shape), dims=model.dims)
    spacing = _spacing(args.spacing, axes, f"input {str(path)!r}")
    if spacing is None:
        spacing = file_spacing(source, axes)
    taken = source.describe(axes=not args.axes, scale=args.spacing is None)
    # physical sizes and units of the results: the file's, when its axes are the ones used
    own = source.axes is not None and source.axes == axes.upper()
    scale, units = _physical(spacing if args.spacing is not None else None,
                             axes_plan.out_axes, source if own else None)
    if args.format == "ome-zarr" and "S" in axes_plan.out_axes:
        raise BadInput(f"--format ome-zarr for input {str(path)!r} (axes {axes}): OME-Zarr has "
                       f"no axis for samples (S); use --format zarr or tif")
    return _Input(source, image, axes, axes_plan, spacing, taken, scale, units)


def _one(args: argparse.Namespace, model: Any, path: Path, kinds: tuple[str, ...],
         plan: dict[str, Path], stack: contextlib.ExitStack,
         tile: tuple[int, ...] | None) -> list[Path]:
    """Predict one input. Every result is written to a temporary sibling of its path in
    ``plan``; they are moved into place when ``stack`` closes without an error."""
    from napari_unet.core.io import write_result
    from napari_unet.core.outputs import staged
    from napari_unet.core.prediction.outputs import allocate_outputs
    from napari_unet.core.prediction.predict import predict

    inp = _check_input(args, model, path)
    image, axes, axes_plan, spacing = inp.image, inp.axes, inp.axes_plan, inp.spacing
    scale, units = inp.scale, inp.units
    objects = "instances" in kinds or "table" in kinds
    need = tuple(k for k in ("probabilities", "classes")
                 if k in kinds or (k == "probabilities" and objects))
    fmt = args.format
    out_axes = axes_plan.out_axes
    # a temporary path for every result, requested or only a step towards objects
    kept = tuple(k for k in kinds if k != "table")
    store_kinds = tuple(k for k in OUTPUTS if k in kept or k in need or
                        (k == "instances" and objects))
    tmp = {} if fmt == "ome-zarr" else {k: stack.enter_context(staged(plan[k])) for k in kept}
    if fmt == "ome-zarr":
        tmp["store"] = stack.enter_context(staged(plan[kept[0]]))
    if "table" in kinds:
        tmp["table"] = stack.enter_context(staged(plan["table"]))
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(
        prefix=".napari-unet-", dir=plan[kinds[0]].parent)))

    def make_store(chunks: tuple[int, ...] | None = None) -> Any:
        from napari_unet.core.ngff import ResultStore

        return ResultStore(tmp["store"], kinds=store_kinds, axes=out_axes,
                           shape=axes_plan.out_shape, n_classes=model.out_channels,
                           scale=scale, units=units, chunks=chunks,
                           class_names=_class_names(model))

    store = None
    stores = {k: tmp[k] if k in kinds and fmt == "zarr" else scratch / f"{k}.zarr"
              for k in need}
    bar = Bar(f"predict {path.name}", quiet=args.quiet)
    if args.scheduler:
        from napari_unet.core.prediction.distributed import predict_distributed

        made: list[Any] = []
        gen = predict_distributed(
            model, image, axes=axes, outputs=stores, scheduler=args.scheduler,
            tile_shape=tile, device=args.device,
            store=(lambda chunks: made.append(make_store(chunks)) or made[-1])
            if fmt == "ome-zarr" else None)
        results = drive(gen, bar)
        store = made[0] if made else None
        if fmt == "tif":
            results = {kind: z[...] for kind, z in results.items()}
            for kind in need:
                if kind in kinds:
                    write_result(tmp[kind], results[kind])
    else:
        out = None
        if fmt == "ome-zarr":
            store = make_store()
            out = {k: store.arrays[k] for k in need}
        elif fmt == "zarr":
            out = allocate_outputs(need, model.out_channels, axes_plan.out_shape,
                                   stores=stores)
        gen = predict(model, image, axes=axes, tile_shape=tile, batch_size=args.batch_size,
                      device=args.device, output=need, out=out)
        results = drive(gen, bar)
        for kind in need:
            if kind in kinds and fmt == "tif":
                axes_kind = ("K" if kind == "probabilities" else "") + out_axes
                write_result(tmp[kind], results[kind], axes=axes_kind)
    labels = None
    if objects:
        target = (store.arrays["instances"] if store is not None else
                  tmp.get("instances", scratch / "instances.zarr"))
        labels = _instances(results["probabilities"], out_axes, target, spacing=spacing,
                            quiet=args.quiet, meta=model.meta)
    if store is not None:
        store.finish()
    if "table" in kinds:
        from napari_unet.core.objects.table import measure_objects, write_csv

        table = measure_objects(labels, axes=out_axes, image=image, image_axes=axes,
                                probabilities=results["probabilities"], spacing=scale)
        write_csv(tmp["table"], table, inputs=(path,))
    return list(dict.fromkeys(plan[k] for k in kinds))


def _class_names(model: Any) -> list[str] | None:
    names = list(model.meta.get("class_names") or [])
    return names if len(names) == model.out_channels else None


def run(args: argparse.Namespace) -> None:
    """Predict every input with the model and write the outputs."""
    from napari_unet.core.export.loading import load_any_model
    from napari_unet.core.io import expand_inputs
    from napari_unet.core.outputs import check_replaceable_folder, plan_predictions

    model = load_any_model(args.model)
    task = model.meta.get("task", "semantic")
    kinds = _outputs(args.output, task)
    if args.batch_size is not None and args.batch_size < 1:
        raise BadInput(f"--batch-size {args.batch_size}: expected a positive integer")
    inputs = expand_inputs(args.inputs, what="input")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {str(out_dir)!r}: expected a folder, found a file")
    if args.format == "ome-zarr" and "table" in kinds and "instances" not in kinds:
        kinds = (*kinds, "instances")  # the store keeps the objects the table describes
    plans = plan_predictions(inputs, kinds, out_dir, args.format)  # before any work
    for plan in plans:
        for target in plan.values():
            if target.is_dir() or (target.suffix == ".zarr" and target.exists()):
                check_replaceable_folder(target, what="output")  # refuses a file, too
            if target.suffix == ".csv" and target.is_dir():
                raise BadInput(f"object table {str(target)!r}: expected a file, found a folder")
    tile = ints(args.tile_size, what="--tile-size") if args.tile_size else None
    if tile is not None and len(tile) == 1:
        tile = tile * model.dims
    taken = [_check_input(args, model, path).taken for path in inputs]  # before any write
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, plan, words in zip(inputs, plans, taken):
        with contextlib.ExitStack() as stack:
            written = _one(args, model, path, kinds, plan, stack, tile)
        words = f" (from the file: {words})" if words else ""
        say(f"{path.name}: wrote {', '.join(p.name for p in written)}{words}", quiet=args.quiet)
