"""The generator the Predict widget runs in its worker: prediction and what follows from it."""

from __future__ import annotations

import tempfile
from collections.abc import Generator
from typing import Any

import numpy as np

from napari_unet.core.objects.frames import objects_per_frame
from napari_unet.core.prediction.outputs import KINDS, allocate_outputs
from napari_unet.core.prediction.predict import predict
from napari_unet.core.prediction.uncertainty import uncertainty
from napari_unet.core.progress import Progress

OUTPUTS = ("probabilities", "classes", "instances", "uncertainty")


def is_lazy(data: Any) -> bool:
    """Whether ``data`` is a lazy array (dask or zarr) rather than numpy."""
    return not isinstance(data, np.ndarray)


def _zarr_outputs(model, image, axes: str, store: str | None = None) -> dict[str, Any]:
    """zarr arrays in the folder ``store`` (default: a fresh temporary folder) for lazy
    inputs, so memory stays bounded."""
    import zarr

    from napari_unet.core.axes import parse_axes

    plan = parse_axes(axes, tuple(image.shape), dims=model.dims)
    root = zarr.open_group(store or tempfile.mkdtemp(prefix="napari-unet-"), mode="w")
    return allocate_outputs(KINDS, model.out_channels, plan.out_shape, group=root,
                            chunks=tuple(min(s, 256) for s in plan.out_shape))


def _lazy_uncertainty(probabilities):
    import dask.array as da

    p = da.from_zarr(probabilities) if not isinstance(probabilities, da.Array) else probabilities
    p = p.rechunk({0: -1})
    return p.map_blocks(uncertainty, drop_axis=0, dtype=np.float32)


def prediction_job(
    model,
    image: Any,
    *,
    axes: str,
    outputs: tuple[str, ...],
    spacing: tuple[float, ...] | None = None,
    tile_shape: int | None = None,
    norm_stats: Any = None,
    store: str | None = None,
    in_memory: bool = False,
) -> Generator[Progress, None, dict[str, Any]]:
    """Predict ``image`` and derive the requested ``outputs`` (see :data:`OUTPUTS`).

    Lazy (dask/zarr) images give zarr-backed probabilities and classes (in the folder
    ``store``, default a fresh temporary folder) and a lazy uncertainty map; numpy images
    give numpy results. ``in_memory`` reads a lazy ``image`` (e.g. the visible region of a
    huge one) into memory first, in the worker, for numpy results.
    """
    if in_memory and is_lazy(image):
        yield Progress(0, 1, "reading the image")
        image = np.asarray(image)
    task = model.meta.get("task", "semantic")
    if task == "regression":
        kinds: tuple[str, ...] = ("probabilities",)
    else:
        kinds = ("probabilities", "classes")
    out = _zarr_outputs(model, image, axes, store) if is_lazy(image) else None
    result = yield from predict(
        model, image, axes=axes, output=kinds, tile_shape=tile_shape, norm_stats=norm_stats,
        out=None if out is None else {k: out[k] for k in kinds},
    )
    probabilities = result["probabilities"]
    results: dict[str, Any] = {}
    if "probabilities" in outputs or task == "regression":
        results["probabilities"] = probabilities
    if "classes" in outputs and "classes" in result:
        results["classes"] = result["classes"]
    if "uncertainty" in outputs and task != "regression":
        yield Progress(1, 1, "estimating where the model is unsure")
        results["uncertainty"] = (
            _lazy_uncertainty(probabilities) if out is not None else uncertainty(probabilities)
        )
    if "instances" in outputs and (task == "instances"
                                   or (task == "semantic" and model.out_channels >= 2)):
        yield Progress(1, 1, "separating objects")
        results["instances"] = yield from objects_per_frame(
            probabilities, model.meta, axes=axes, spacing=spacing)
    return results

