"""Prediction spread over a Dask cluster, written block by block into zarr stores.

:func:`predict_distributed` lays out the same tile grid as :func:`~.predict.predict` with the
same ``tile_shape`` (cores on the model's pooling grid, a halo of real neighbours, mirroring
only at the image border; :func:`~.tiling.plan_grid`), measures the normalisation statistics
once on the whole image, and sends one task per tile. A worker reads its tile's input (halo
included) straight from the zarr store, runs :func:`~.predict.predict` on exactly that input
and writes the tile's core into the output zarr stores, whose chunks are the tile cores, so no
two tasks write the same chunk. The result equals single-process prediction with the same
``tile_shape`` (and ``batch_size=1``) bit for bit on the same device with the same number of
torch threads (CPU convolutions round differently with other thread counts: ~1e-7). For
'valid' models a worker predicts its tile input with the model's halo, so the result agrees
within float rounding.

The model travels to the workers as bytes (its safetensors file content; no shared disk and
no pickled torch objects needed) and each worker process loads it once and keeps it.

The scheduler is ``"local:N"`` (a :class:`distributed.LocalCluster` of N worker processes on
this machine, closed at the end), the address of a running scheduler
(``"tcp://host:8786"``, e.g. one started by dask-jobqueue on a SLURM cluster), or a
:class:`distributed.Client`. Input and output paths must then be visible to the workers
(a shared file system).

The connection to the cluster (:func:`start_client`, :func:`scheduler_address`,
:func:`check_scheduler`) lives in :mod:`napari_unet.core.prediction.cluster`; its names are
re-exported here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.axes import parse_axes
from napari_unet.core.model import UNet
from napari_unet.core.modelfile import dumps_model, load_model, loads_model
from napari_unet.core.ngff import ResultStore, write_block
from napari_unet.core.prediction.cluster import (
    CONNECT_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    check_scheduler,
    scheduler_address,
    start_client,
)
from napari_unet.core.prediction.outputs import allocate_outputs
from napari_unet.core.prediction.tiling import Tile, plan_grid, read_tile
from napari_unet.core.progress import Progress

__all__ = ["CONNECT_TIMEOUT", "HANDSHAKE_TIMEOUT", "check_scheduler", "default_tile_shape",
           "predict_distributed", "scheduler_address", "start_client"]

#: Default output pixels per tile: big tiles keep the halo's share of work small.
DEFAULT_CORE_2D = 1024
DEFAULT_CORE_3D = (64, 256, 256)

_MODELS: dict[tuple[str, str], Any] = {}


def default_tile_shape(model: UNet, spatial_shape: Sequence[int]) -> tuple[int, ...]:
    """Default tile core: 1024 x 1024 (2D) or 64 x 256 x 256 (3D), capped by the image."""
    want = (DEFAULT_CORE_2D,) * 2 if model.dims == 2 else DEFAULT_CORE_3D
    return tuple(min(w, int(s)) for w, s in zip(want, spatial_shape))


def _zarr_location(image: Any) -> tuple[str, str] | None:
    """(store root, array path) of a zarr array on a local/shared disk, else None."""
    store = getattr(image, "store", None)
    if store is None or not hasattr(image, "shape"):
        return None
    root = getattr(store, "root", None) or getattr(store, "path", None)
    if root is None:
        return None
    return str(root), str(getattr(image, "path", "") or "")


def _open_source(source: Any) -> Any:
    if isinstance(source, tuple) and len(source) == 3 and source[0] == "zarr":
        import zarr

        _, root, path = source
        if path:
            return zarr.open_array(root, path=path, mode="r")
        return zarr.open_array(root, mode="r")
    return source  # a numpy array shipped to the worker


def _worker_model(blob: bytes, key: str, device: str) -> Any:
    """The model for this worker process, loaded from bytes once and cached."""
    cache_key = (key, device)
    if cache_key not in _MODELS:
        _MODELS.clear()
        _MODELS[cache_key] = loads_model(blob, name=f"model {key[:12]}")
    return _MODELS[cache_key]


def _run_tile(blob: bytes, key: str, source: Any, axes: str, frame: tuple[int, ...],
              tile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
              tile_shape: tuple[int, ...], stats: Any,
              outputs: dict[str, tuple[str, tuple[int, ...]]],
              device: str, threads: int | None) -> int:
    """Worker task: predict one tile and write its core into the output stores
    (``outputs``: per kind, the zarr array's path and its axis order, see
    :func:`~napari_unet.core.ngff.write_block`)."""
    import torch
    import zarr

    from napari_unet.core.prediction.predict import predict_image

    if threads:
        torch.set_num_threads(threads)
    model = _worker_model(blob, key, device)
    image = _open_source(source)
    plan = parse_axes(axes, tuple(image.shape), dims=model.dims)
    t = Tile(core_start=tile[0], core_stop=tile[1], input_start=tile[2])
    block = read_tile(image, plan, frame, t, tile_shape)  # (C, *tile_shape), halo included
    spatial = "ZYX" if model.dims == 3 else "YX"
    halo = model.halo if model.padding == "valid" else 0
    kinds = tuple(outputs)
    res = predict_image(model, block, axes="C" + spatial, tile_shape=block.shape[1:], halo=halo,
                        batch_size=1, device=device, output=kinds, norm_stats=stats)
    core = tuple(slice(c - i, d - i) for c, d, i in zip(t.core_start, t.core_stop, t.input_start))
    index = plan.out_index(frame, t.core_slices)
    for kind, (path, order) in outputs.items():
        target = zarr.open_array(path, mode="r+")
        if kind == "probabilities":
            write_block(target, (slice(None), *index), res[kind][(slice(None), *core)], order)
        else:
            write_block(target, index, res[kind][core].astype(target.dtype, copy=False), order)
    return 1


def predict_distributed(
    model: UNet | str | os.PathLike,
    image: Any,
    *,
    axes: str,
    outputs: dict[str, str | os.PathLike | None],
    scheduler: Any = "local:2",
    tile_shape: Sequence[int] | int | None = None,
    device: str = "auto",
    threads_per_worker: int | None = None,
    store: Callable[[tuple[int, ...]], ResultStore] | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Predict ``image`` on a Dask cluster into zarr stores; a generator of progress records.

    Parameters
    ----------
    model : UNet or path
        The model, or its file (:func:`~.modelfile.save_model`).
    image : zarr array, path to a zarr store, or numpy array
        Zarr inputs are read by the workers tile by tile; numpy arrays are sent to them once.
    axes : str
        The image's axes, e.g. ``"YX"``, ``"ZYX"``, ``"CZYX"``.
    outputs : dict
        ``{"probabilities": path, "classes": path}`` (either or both): zarr stores to create.
        Probabilities are float32 ``(K, *non-channel axes)``; classes painting values 1..K.
    scheduler : str or distributed.Client
        ``"local:N"``, a scheduler address, a scheduler file, or a client.
    tile_shape : int or sequence of int, optional
        Output pixels per tile along the model's spatial axes (default
        :func:`default_tile_shape`); also the chunk shape of the outputs.
    device : str
        Device each worker uses (``"auto"``: its GPU when it has one).
    threads_per_worker : int, optional
        Torch threads per worker process (default for ``local:N``: cores / N).
    store : callable, optional
        Write into one OME-Zarr store instead: called with the level-0 chunks (the tile
        cores over the non-channel axes) it returns a
        :class:`~napari_unet.core.ngff.ResultStore` holding the kinds named by ``outputs``
        (whose paths are then ignored); the caller calls its ``finish()``.

    Returns
    -------
    Generator
        Yields :class:`~.progress.Progress` per finished tile; returns the output zarr arrays
        as a dict. Closing the generator cancels the remaining tasks.
    """
    import zarr

    net = model if isinstance(model, UNet) else load_model(model)
    bad = sorted(set(outputs) - {"probabilities", "classes"})
    if bad or not outputs:
        raise ValueError(f"outputs: expected keys 'probabilities' and/or 'classes'; found "
                         f"{sorted(outputs)}")
    if isinstance(image, (str, os.PathLike)):
        image = zarr.open_array(str(image), mode="r")
    location = _zarr_location(image)
    plan = parse_axes(axes, tuple(image.shape), dims=net.dims)
    if plan.n_channels != net.in_channels:
        raise ValueError(f"image has {plan.n_channels} channel(s) (axes {plan.axes!r}); the "
                         f"model expects {net.in_channels}")
    if "classes" in outputs and net.meta.get("task") == "regression":
        raise ValueError("outputs: 'classes' makes no sense for a regression model")
    if tile_shape is None:
        core = default_tile_shape(net, plan.spatial_shape)
    else:
        core = (int(tile_shape),) * net.dims if np.isscalar(tile_shape) else tuple(
            int(v) for v in tile_shape)
        if len(core) != net.dims or min(core) < 1:
            raise ValueError(f"tile_shape={tile_shape!r}: expected {net.dims} positive sizes")
    stats = net.normalization.stats(image, axes=plan.axes)
    grid = plan_grid(net, plan.spatial_shape, core, net.halo)
    k = net.out_channels
    loop_chunks = [1] * len(plan.out_shape)
    for pos, size in zip(plan.spatial, grid.core_shape):
        loop_chunks[plan.out_axes.index(plan.axes[pos])] = size
    address = scheduler_address(scheduler)
    if address is not None:  # a cluster answers before anything is written
        check_scheduler(address)
    # the stores are created here; the workers open them by path and write their tiles
    if store is not None:
        result = store(tuple(loop_chunks))
        arrays = {kind: result.arrays[kind] for kind in outputs}
        paths = {kind: result.locations[kind] for kind in outputs}
    else:
        arrays = allocate_outputs(list(outputs), k, plan.out_shape, stores=outputs,
                                  chunks=loop_chunks)
        paths = {kind: (str(Path(p).resolve()),  # type: ignore[arg-type]
                        tuple(range(arrays[kind].ndim))) for kind, p in outputs.items()}
    blob = dumps_model(net)
    key = hashlib.sha256(blob).hexdigest()
    client, cluster, n_local = start_client(scheduler)
    futures: list[Any] = []
    try:
        from distributed import as_completed

        threads = threads_per_worker or (
            max(1, (os.cpu_count() or 1) // n_local) if n_local else None)
        blob_f = client.scatter(blob, broadcast=True)
        if location is not None:
            source: Any = ("zarr", *location)
        else:
            source = client.scatter(np.asarray(image), broadcast=True)
        tiles = [(frame, (t.core_start, t.core_stop, t.input_start))
                 for frame in plan.frames() for t in grid.tiles()]
        yield Progress(0, len(tiles), f"{len(tiles)} tiles of {grid.tile_shape} on "
                                      f"{len(client.scheduler_info().get('workers', {}))} workers")
        futures = [client.submit(_run_tile, blob_f, key, source, plan.axes, frame, tile,
                                 grid.tile_shape, stats, paths, device, threads, pure=False)
                   for frame, tile in tiles]
        done = 0
        for future in as_completed(futures):
            future.result()  # re-raises a worker's error here
            done += 1
            yield Progress(done, len(tiles), f"tile {done}/{len(tiles)}")
    finally:
        if futures:
            client.cancel(futures)
        if cluster is not None:
            client.close()
            cluster.close()
    return arrays
