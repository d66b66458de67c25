"""Seam-free tiled prediction over images of any size: 2D, 3D, time, channels; lazy or not.

:func:`predict` is a generator of :class:`PredictProgress` records that returns the result;
:func:`predict_image` runs it to the end. The image is normalised once (statistics of the whole
image, from :meth:`Normalization.stats`), read tile by tile (numpy, dask or zarr), each tile with
a halo of real neighbours and mirror padding only at the image border (see
:mod:`napari_unet.core.prediction.tiling`), run through the model in batches under
``torch.inference_mode`` (float32, or with ``amp`` autocast: float16 on CUDA, bfloat16 on CPUs;
see :mod:`napari_unet.core.prediction.precision`), and each tile's core is written into the
result, which may be a zarr array given as ``out=`` so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from napari_unet.core.arguments import check_array, check_model
from napari_unet.core.axes import AxesPlan, parse_axes
from napari_unet.core.devices import is_out_of_memory, resolve_device
from napari_unet.core.devices import memory_budget as default_memory_budget
from napari_unet.core.prediction.network import (
    activation_bytes_per_voxel,
    argmax_channels,
    channels_last_format,
    inference_network,
    uses_channels_last,
)
from napari_unet.core.prediction.outputs import KINDS, allocate_outputs, output_spec
from napari_unet.core.prediction.precision import (
    PRECISION_NAMES,
    autocast_dtype,
    element_bytes,
)
from napari_unet.core.prediction.tiling import TileGrid, auto_core_shape, plan_grid, read_tile
from napari_unet.core.progress import Progress, run

_DTYPE_KINDS = "biuf"
@dataclass(frozen=True)
class PredictProgress(Progress):
    """A progress record of :func:`predict`.

    Attributes
    ----------
    tile_shape : tuple of int
        Model input shape of the tiles now in use.
    batch_size : int
        Tiles per forward pass now in use.
    out_of_memory : bool
        True on the record that reports an out-of-memory retry (batch or tile halved).
    """

    tile_shape: tuple[int, ...] = ()
    batch_size: int = 0
    out_of_memory: bool = False


def _as_source(image: Any) -> Any:
    if not (hasattr(image, "shape") and hasattr(image, "dtype") and hasattr(image, "__getitem__")):
        try:
            image = np.asarray(image)
        except Exception as err:
            raise TypeError(
                f"image must be an array (numpy, dask or zarr); found {type(image).__name__}"
            ) from err
    dtype = np.dtype(image.dtype)
    if dtype.kind not in _DTYPE_KINDS:
        raise ValueError(
            f"image dtype {dtype} is not supported; expected a boolean, integer or float dtype"
        )
    if len(image.shape) == 0 or math.prod(image.shape) == 0:
        raise ValueError(f"image is empty (shape {tuple(image.shape)}); expected pixels")
    return image


def _spatial_request(value: Any, plan: AxesPlan, dims: int, name: str) -> tuple[int, ...]:
    vals = (value,) * dims if np.isscalar(value) else tuple(value)
    if len(vals) == len(plan.axes):
        vals = tuple(vals[i] for i in plan.spatial)
    elif len(vals) == len(plan.out_axes) and len(vals) != dims:
        vals = tuple(vals[plan.out_axes.index(plan.axes[i])] for i in plan.spatial)
    if len(vals) != dims or any(int(v) != v or v < 0 for v in vals):
        raise ValueError(
            f"{name}={value!r} must give one non-negative integer per spatial axis of the model "
            f"({'ZYX' if dims == 3 else 'YX'}) or per image axis ({plan.axes})"
        )
    return tuple(int(v) for v in vals)


def _kinds(output: Any, model: Any) -> tuple[str, ...]:
    if not isinstance(output, (str, list, tuple)):
        raise TypeError(f"output: expected one of {KINDS} or a tuple of them, found "
                        f"{type(output).__name__} {output!r}")
    kinds = (output,) if isinstance(output, str) else tuple(output)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"output={output!r} must be one of {KINDS} or a tuple of them")
    if "classes" in kinds and model.meta.get("task") == "regression":
        raise ValueError("output='classes' makes no sense for a regression model")
    return kinds


def _results(kinds: tuple[str, ...], out: Any, plan: AxesPlan, n_out: int) -> dict[str, Any]:
    given = out if isinstance(out, dict) else ({kinds[0]: out} if out is not None else {})
    if out is not None and not isinstance(out, dict) and len(kinds) > 1:
        raise ValueError("out must be a dict {'probabilities': ..., 'classes': ...} "
                         f"when output={kinds!r}")
    results = allocate_outputs([k for k in kinds if given.get(k) is None], n_out, plan.out_shape)
    for kind in kinds:
        arr = given.get(kind)
        if arr is None:
            continue
        shape, _ = output_spec(kind, n_out, plan.out_shape)
        if tuple(arr.shape) != shape:
            raise ValueError(f"out[{kind!r}]: expected shape {shape} (axes "
                             f"{'K' if kind == 'probabilities' else ''}{plan.out_axes}), "
                             f"found {tuple(arr.shape)}")
        results[kind] = arr
    return results


def predict(
    model: Any,
    image: Any,
    *,
    axes: str,
    tile_shape: Any = None,
    halo: Any = None,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    output: str | tuple[str, ...] = "probabilities",
    out: Any = None,
    memory_budget: int | None = None,
    amp: bool | None = None,
    norm_stats: Any = None,
) -> Generator[PredictProgress, None, Any]:
    """Predict an image tile by tile; a generator of progress records returning the result.

    Parameters
    ----------
    model : UNet
        The network; its ``normalization`` rule is applied to the image, its ``meta["task"]``
        decides how outputs are read. It is never modified: prediction runs a copy in eval mode
        with batch norms folded into the convolutions, on ``device``.
    image : array-like
        numpy, dask or zarr array (read tile by tile), with axes named by ``axes``.
    axes : str
        E.g. ``"YX"``, ``"CYX"``, ``"ZYX"``, ``"CZYX"``, ``"TYX"``, ``"TZYX"``, ``C`` anywhere.
        A 2D model runs slice by slice over Z and T; a 3D model over each volume.
    tile_shape : int or tuple of int, optional
        Output pixels per tile along the model's spatial axes (or per image axis). The image's
        shape means untiled. None: the fewest tiles that fit in memory.
    halo : int or tuple of int, optional
        Context read on each side of a tile. None: ``model.halo``, which makes tiled output
        equal untiled output. Valid models need at least ``model.halo``.
    batch_size : int, optional
        Tiles per forward pass. None: as many as fit in memory.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    output : {"probabilities", "classes"} or tuple of both
        Probabilities: float32, class axis first, then the image's non-channel axes (raw
        outputs for regression models). Classes: painting values 1..K (uint8, uint16 beyond
        255 classes). A tuple returns a dict of both.
    out : array or dict of arrays, optional
        Where to write results tile by tile (e.g. zarr arrays of the shapes above).
    memory_budget : int, optional
        Bytes of working memory to plan for; None: from free device memory
        (:func:`napari_unet.core.devices.memory_budget`).
    amp : bool, optional
        Mixed precision: autocast float16 on CUDA (and MPS), bfloat16 on CPUs (fast where the
        CPU computes bfloat16 natively, AVX-512 BF16 or AMX; emulated and slower elsewhere);
        probabilities are returned as float32 either way. False: float32 everywhere. None: on
        for CUDA (float16) and for CPUs with native bfloat16, float32 elsewhere. The first
        progress record names the precision in use
        (:func:`~napari_unet.core.prediction.precision.precision_name`).
    norm_stats : NormStats, optional
        Normalisation statistics of the whole image when ``image`` is only a part of it (a
        slice or a view); None: computed from ``image``.

    Returns
    -------
    Generator
        Yields :class:`PredictProgress`; returns the array (or dict of arrays), ``out`` when
        given. Closing the generator stops it within one batch.

    Raises
    ------
    ValueError
        Bad axes, channel count different from the model's, NaN or infinite values, empty
        image, unsupported dtype, bad tile/halo/output arguments (raised by this call, before
        any iteration; NaN found later in a lazy image is raised while iterating).
    """
    check_model(model), check_array(image, what="image")
    source = _as_source(image)
    plan = parse_axes(axes, tuple(source.shape), dims=model.dims)
    if plan.n_channels != model.in_channels:
        raise ValueError(
            f"image has {plan.n_channels} channel(s) (axes {plan.axes!r}, shape {plan.shape}); "
            f"the model expects {model.in_channels}"
        )
    kinds = _kinds(output, model)
    dev = resolve_device(device)
    halo_t = model.halo if halo is None else _spatial_request(halo, plan, model.dims, "halo")
    if model.padding == "valid" and any(h < m for h, m in zip(halo_t, model.halo)):
        raise ValueError(f"halo={halo!r} is smaller than this valid model's halo {model.halo}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer; found {batch_size!r}")
    stats = norm_stats if norm_stats is not None else model.normalization.stats(
        source, axes=plan.axes)
    results = _results(kinds, out, plan, model.out_channels)
    dtype = autocast_dtype(dev, amp)
    budget = (default_memory_budget(dev, model.dims) if memory_budget is None
              else int(memory_budget))
    per_voxel = activation_bytes_per_voxel(model, element_bytes(dtype))
    if tile_shape is None:
        core = auto_core_shape(model, plan.spatial_shape, halo_t, budget / per_voxel)
    else:
        core = _spatial_request(tile_shape, plan, model.dims, "tile_shape")
        if min(core) < 1:
            raise ValueError(f"tile_shape={tile_shape!r} must be positive")
    grid = plan_grid(model, plan.spatial_shape, core, halo_t)
    if batch_size is None:
        batch_size = max(1, int(budget / per_voxel / math.prod(grid.tile_shape)))
    job = _Job(model, source, plan, stats, grid, dev, dtype, kinds, results)
    return job.run(int(batch_size), single=isinstance(output, str), given=out is not None)


def predict_image(model: Any, image: Any, *, axes: str = "YX", **kwargs: Any) -> Any:
    """Blocking :func:`predict`: the result as a numpy array (or dict, or ``out``)."""
    return run(predict(model, image, axes=axes, **kwargs))


class _Job:
    """The state of one prediction run (kept out of predict() to keep both readable)."""

    def __init__(self, model: Any, source: Any, plan: AxesPlan, stats: Any, grid: TileGrid,
                 dev: torch.device, dtype: torch.dtype | None, kinds: tuple[str, ...],
                 results: dict[str, Any]) -> None:
        self.model, self.source, self.plan, self.stats = model, source, plan, stats
        self.grid, self.dev, self.kinds, self.results = grid, dev, kinds, results
        self.dtype = dtype  # autocast dtype; None: float32
        self.block_axes = "C" + ("ZYX" if model.dims == 3 else "YX")
        self.float_input = np.dtype(source.dtype).kind == "f"
        # Channels-last convolutions: faster with cuDNN and oneDNN (see uses_channels_last).
        self.channels_last = uses_channels_last(dev)
        self._warn_norm()

    def _warn_norm(self) -> None:
        if self.model.norm in ("group", "instance") and self.grid.n_tiles > 1:
            warnings.warn(
                f"this model uses {self.model.norm} normalisation, which depends on the tile's "
                f"extent: tiled prediction ({self.grid.n_tiles} tiles of "
                f"{self.grid.tile_shape}) differs from untiled prediction; give a tile_shape "
                "covering the image, or a bigger memory budget, to avoid it",
                UserWarning, stacklevel=4)

    def _work(self, frames: list[tuple[int, ...]]) -> list[tuple[tuple[int, ...], Any]]:
        return [(frame, tile) for frame in frames for tile in self.grid.tiles()]

    def _read(self, items: list) -> np.ndarray:
        batch = np.empty((len(items), self.plan.n_channels, *self.grid.tile_shape), np.float32)
        for b, (frame, tile) in enumerate(items):
            block = read_tile(self.source, self.plan, frame, tile, self.grid.tile_shape)
            if self.float_input and not np.isfinite(block).all():
                raise ValueError(f"image contains NaN or infinite values (in the tile at "
                                 f"{frame + tile.core_start}); expected only finite values")
            batch[b] = self.model.normalization.apply(block, self.stats, axes=self.block_axes)
        return batch

    def _forward(self, net: Any, batch: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(batch)
        if self.dev.type == "cuda":
            x = x.pin_memory().to(self.dev, non_blocking=True)
        else:
            x = x.to(self.dev)
        if self.channels_last:
            x = x.contiguous(memory_format=channels_last_format(self.model.dims))
        autocast = (torch.autocast(device_type=self.dev.type, dtype=self.dtype)
                    if self.dtype is not None else contextlib.nullcontext())
        crop = (slice(None), slice(None),
                *(slice(a.out_offset, a.out_offset + a.core) for a in self.grid.axes))
        with torch.inference_mode():
            with autocast:
                y = net(x)
            y = y[crop].float().contiguous()
            regression = self.model.meta.get("task") == "regression"
            res = {}
            if "classes" in self.kinds:
                cls = (y[:, 0] > 0).long() if y.shape[1] == 1 else argmax_channels(y)
                res["classes"] = (cls + 1).cpu().numpy()
            if "probabilities" in self.kinds:
                if regression:
                    prob = y
                elif y.shape[1] == 1:
                    prob = torch.sigmoid(y)
                else:
                    prob = torch.softmax(y, dim=1)
                res["probabilities"] = prob.cpu().numpy()
        return res

    def _write(self, items: list, res: dict[str, np.ndarray]) -> None:
        for b, (frame, tile) in enumerate(items):
            clip = tuple(slice(0, stop - start)
                         for start, stop in zip(tile.core_start, tile.core_stop))
            index = self.plan.out_index(frame, tile.core_slices)
            for kind, values in res.items():
                target = self.results[kind]
                if kind == "probabilities":
                    target[(slice(None), *index)] = values[(b, slice(None), *clip)]
                else:
                    target[index] = values[(b, *clip)].astype(target.dtype, copy=False)

    def _shrink_tiles(self) -> bool:
        cores = list(self.grid.core_shape)
        grid = self.model.pool_product
        axis = max(range(len(cores)), key=lambda a: cores[a] / grid[a])
        if cores[axis] <= grid[axis]:
            return False
        cores[axis] = max(grid[axis], math.ceil(cores[axis] / 2 / grid[axis]) * grid[axis])
        self.grid = plan_grid(self.model, self.plan.spatial_shape, tuple(cores),
                              self.grid.halo)
        self._warn_norm()
        return True

    def run(self, batch_size: int, *, single: bool, given: bool
            ) -> Generator[PredictProgress, None, Any]:
        net = inference_network(self.model, self.dev, channels_last=self.channels_last)
        frames = list(self.plan.frames())
        work = self._work(frames)
        batch_size = min(batch_size, len(work))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="napari-unet-read")
        pending = None
        try:
            yield PredictProgress(0, len(work), f"{len(work)} tiles of {self.grid.tile_shape}, "
                                  f"{PRECISION_NAMES[self.dtype]}",
                                  tile_shape=self.grid.tile_shape, batch_size=batch_size)
            done = 0
            while done < len(work):
                items = work[done:done + batch_size]
                batch = pending.result() if pending is not None else self._read(items)
                pending = None
                after = work[done + len(items):done + len(items) + batch_size]
                if after:
                    pending = pool.submit(self._read, after)
                try:
                    res = self._forward(net, batch)
                except (RuntimeError, torch.OutOfMemoryError) as err:
                    if not is_out_of_memory(err):
                        raise
                    del err
                    if pending is not None:
                        pending.cancel()
                        pending = None
                    batch = None
                    if self.dev.type == "cuda":
                        torch.cuda.empty_cache()
                    if batch_size > 1:
                        message = f"out of memory: batch {batch_size} -> {batch_size // 2}"
                        batch_size //= 2
                    else:
                        old = self.grid.tile_shape
                        if not self._shrink_tiles():
                            raise
                        first = frames.index(items[0][0])
                        work = work[:done] + self._work(frames[first:])
                        message = f"out of memory: tile {old} -> {self.grid.tile_shape}"
                    yield PredictProgress(done, len(work), message, out_of_memory=True,
                                          tile_shape=self.grid.tile_shape,
                                          batch_size=batch_size)
                    continue
                self._write(items, res)
                del res, batch
                done += len(items)
                yield PredictProgress(done, len(work), f"tile {done}/{len(work)}",
                                      tile_shape=self.grid.tile_shape, batch_size=batch_size)
        finally:
            if pending is not None:
                pending.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            del net
            if self.dev.type == "cuda":
                torch.cuda.empty_cache()
        if single:
            return self.results[self.kinds[0]]
        return dict(self.results)
