"""``napari-unet export``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.cli._common import BadInput, choose_axes, say

#: Largest test-input side taken from a --sample image.
SAMPLE_SIDE = 256


def _largest_accepted(model: Any, axis: int, limit: int) -> int:
    s = limit
    while s > 0:
        shape = [1] * model.dims
        shape[axis] = s
        if model.valid_input_shape(tuple(shape))[axis] == s:
            return s
        s -= 1
    raise BadInput(f"--sample is too small for this model along axis {axis}")


def sample_tensor(model: Any, image: Any, *, source: str) -> np.ndarray:
    """A centred crop of the first frame of ``image``, ``(1, C, *spatial)`` float32."""
    from napari_unet.core.axes import parse_axes

    axes = choose_axes(tuple(image.shape), given=None, model_axes=model.meta.get("axes"),
                       dims=model.dims, in_channels=model.in_channels, source=source)
    plan = parse_axes(axes, tuple(image.shape), dims=model.dims)
    if plan.n_channels != model.in_channels:
        raise BadInput(f"--sample {source} has {plan.n_channels} channel(s); the model "
                       f"expects {model.in_channels}")
    boxes = []
    for a, n in enumerate(plan.spatial_shape):
        s = _largest_accepted(model, a, min(n, SAMPLE_SIDE))
        start = (n - s) // 2
        boxes.append(slice(start, start + s))
    frame = next(iter(plan.frames()))
    block = np.asarray(image[plan.source_index(frame, tuple(boxes))])
    return plan.to_model_order(block)[None].astype(np.float32)


def run(args: argparse.Namespace) -> None:
    """Export a model file to another format."""
    from napari_unet.core import export
    from napari_unet.core.outputs import same_path, staged

    out = Path(args.out)
    if same_path(out, args.model):
        raise BadInput(f"--out {str(out)!r} is the model being exported; expected a new name")
    if args.format != "bioimageio" and out.is_dir():
        raise BadInput(f"--out {str(out)!r}: expected a file name, found a folder")
    model = export.load_any_model(args.model)
    if args.format != "bioimageio":
        writer = export.export_torchscript if args.format == "torchscript" else \
            export.export_onnx
        with staged(out) as tmp:  # moved into place only when complete
            writer(model, tmp)
    else:
        sample = None
        if args.sample:
            from napari_unet.core.io import read_image

            sample = sample_tensor(model, read_image(args.sample), source=repr(args.sample))
        export.export_bioimageio(model, out, sample=sample, card=getattr(model, "card", None),
                                 authors=args.author, license=args.license)
        try:
            ok, summary = export.validate_bioimageio(out)
        except RuntimeError as err:  # bioimageio.spec missing
            say(f"not validated: {err}", quiet=args.quiet)
        else:
            if not ok:
                raise RuntimeError(f"the package does not pass bioimageio.spec validation:\n"
                                   f"{summary}")
            say("bioimageio.spec validation passed", quiet=args.quiet)
    say(f"wrote {out}", quiet=args.quiet)
