"""Tile grids with halos, mirror padding at the image border only, and tile reading.

How a seam-free grid is laid out along one spatial axis of length ``n``:

- each tile owns a *core* of ``c`` output pixels; cores start at multiples of ``c`` (a multiple
  of the model's pooling grid, so every tile pools on the same grid as the whole image would)
  and do not overlap; the last core is clipped to the image;
- each tile reads its core plus a *halo* of ``h`` pixels each side (more on the far side when
  the model needs a bigger input), taken from the real neighbouring pixels;
- only where a tile's input reaches beyond the image is it filled by mirroring the image
  (``numpy.pad(mode="reflect")`` semantics, repeated for images smaller than the halo).

Untiled prediction is the same computation with one tile covering the image, so the halo
(at least the model's :attr:`~napari_unet.core.model.UNet.halo`) makes tiled equal untiled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.axes import AxesPlan


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Map any integer positions into ``[0, size)`` by mirroring without repeating the edge.

    Matches ``numpy.pad(..., mode="reflect")``, including pads wider than the axis; an axis of
    size 1 maps everything to 0.
    """
    index = np.asarray(index, dtype=np.int64)
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    folded = np.mod(index, period)
    return np.where(folded < size, folded, period - folded)


@dataclass(frozen=True)
class AxisTiling:
    """The tiling of one spatial axis.

    Attributes
    ----------
    size : int
        Image length along the axis.
    core : int
        Output pixels owned by each tile (the last one is clipped to the image).
    halo : int
        Context read before each core.
    tile : int
        Input length of every tile (an accepted model input size).
    out_offset : int
        Position of the core inside a tile's model output.
    """

    size: int
    core: int
    halo: int
    tile: int
    out_offset: int

    @property
    def count(self) -> int:
        """Tiles along this axis."""
        return math.ceil(self.size / self.core)

    def starts(self) -> range:
        """Core start positions along this axis."""
        return range(0, self.size, self.core)


@dataclass(frozen=True)
class Tile:
    """One tile: where its core lies in the image and where its input starts."""

    core_start: tuple[int, ...]
    core_stop: tuple[int, ...]
    input_start: tuple[int, ...]

    @property
    def core_slices(self) -> tuple[slice, ...]:
        """The core as slices into the image's spatial axes."""
        return tuple(slice(a, b) for a, b in zip(self.core_start, self.core_stop))


@dataclass(frozen=True)
class TileGrid:
    """A grid of equally shaped tiles covering the spatial axes of an image."""

    axes: tuple[AxisTiling, ...]

    @property
    def tile_shape(self) -> tuple[int, ...]:
        """Input shape of every tile (model input)."""
        return tuple(a.tile for a in self.axes)

    @property
    def core_shape(self) -> tuple[int, ...]:
        """Output pixels owned by one (unclipped) tile."""
        return tuple(a.core for a in self.axes)

    @property
    def halo(self) -> tuple[int, ...]:
        """Context read before each core, per axis."""
        return tuple(a.halo for a in self.axes)

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return math.prod(a.count for a in self.axes)

    def tiles(self) -> Iterator[Tile]:
        """Tiles in raster order."""
        for starts in itertools.product(*(a.starts() for a in self.axes)):
            yield Tile(
                core_start=tuple(starts),
                core_stop=tuple(min(s + a.core, a.size) for s, a in zip(starts, self.axes)),
                input_start=tuple(s - a.halo for s, a in zip(starts, self.axes)),
            )


def plan_grid(model: Any, spatial_shape: tuple[int, ...], core_shape: tuple[int, ...],
              halo: tuple[int, ...]) -> TileGrid:
    """Lay out a tile grid for ``model`` over an image's spatial shape.

    Parameters
    ----------
    model : UNet
        Supplies the pooling grid and the accepted input sizes.
    spatial_shape : tuple of int
        Image sizes along the model's spatial axes.
    core_shape : tuple of int
        Wanted output pixels per tile; rounded up to the pooling grid and shrunk to cover the
        image with as little overhang as possible. The image's own shape means one tile.
    halo : tuple of int
        Context per side.
    """
    grid = model.pool_product
    valid = model.padding == "valid"
    cores = []
    for a, (n, c) in enumerate(zip(spatial_shape, core_shape)):
        c = max(1, min(int(c), n))
        count = math.ceil(n / c)
        cores.append(math.ceil(math.ceil(n / count) / grid[a]) * grid[a])  # balanced, on grid
    tiles = model.valid_input_shape(tuple(c + 2 * h for c, h in zip(cores, halo)))
    outs = model.output_shape(tiles)
    axes = []
    for a, (n, c, h, tile, out) in enumerate(zip(spatial_shape, cores, halo, tiles, outs)):
        # 'same': output pixel j sits at input pixel j; 'valid': at input pixel j + (tile-out)/2.
        offset = h - (tile - out) // 2
        if valid and (offset < 0 or offset + c > out):
            raise ValueError(f"halo {h} is too small for this valid model along axis {a}")
        axes.append(AxisTiling(size=n, core=c, halo=h, tile=tile, out_offset=offset))
    return TileGrid(tuple(axes))


def _axis_options(model: Any, axis: int, size: int, halo: int) -> list[tuple[int, int, int]]:
    """Every distinct (core, tile count, tile length) along one axis, biggest core first."""
    grid = model.pool_product[axis]
    options, seen, count = [], set(), 1
    while True:
        core = math.ceil(math.ceil(size / count) / grid) * grid
        if core not in seen:
            seen.add(core)
            lengths = [1] * len(model.pool_product)
            lengths[axis] = core + 2 * halo
            tile = model.valid_input_shape(tuple(lengths))[axis]
            options.append((core, math.ceil(size / core), tile))
        if core <= grid:
            return options
        count = max(count + 1, math.ceil(size / (core - grid)))


def auto_core_shape(model: Any, spatial_shape: tuple[int, ...], halo: tuple[int, ...],
                    max_voxels: float) -> tuple[int, ...]:
    """The cores of the cheapest grid whose tiles have at most ``max_voxels`` input voxels.

    Cheapest means the fewest voxels computed in all (tiles x tile size, halos included); one
    tile over the whole image when it fits. When nothing fits, the smallest tiles possible
    (cores of one pooling-grid step).
    """
    options = [_axis_options(model, a, n, h)
               for a, (n, h) in enumerate(zip(spatial_shape, halo))]
    *heads, last = options
    last_by_tile = sorted(last, key=lambda o: -o[2])
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.product(*heads):
        room = max_voxels / math.prod(o[2] for o in combo)
        pick = next((o for o in last_by_tile if o[2] <= room), None)
        if pick is None:
            continue
        chosen = (*combo, pick)
        work = math.prod(o[1] * o[2] for o in chosen)
        if best is None or work < best[0]:
            best = (work, tuple(o[0] for o in chosen))
    if best is None:
        return tuple(opts[-1][0] for opts in options)
    return best[1]


def read_tile(image: Any, plan: AxesPlan, frame: tuple[int, ...], tile: Tile,
              tile_shape: tuple[int, ...]) -> np.ndarray:
    """Read one tile's input ``(C, *tile_shape)`` from a numpy, dask or zarr image.

    Only the part of the image the tile covers is read; positions outside the image are
    filled by mirroring (at the image border only).
    """
    spatial = plan.spatial_shape
    boxes, picks = [], []
    for start, length, n in zip(tile.input_start, tile_shape, spatial):
        idx = reflect_index(np.arange(start, start + length), n)
        lo, hi = int(idx.min()), int(idx.max()) + 1
        boxes.append(slice(lo, hi))
        picks.append(None if (start >= 0 and start + length <= n) else idx - lo)
    block = image[plan.source_index(frame, tuple(boxes))]
    if hasattr(block, "compute"):
        block = block.compute()
    block = plan.to_model_order(np.asarray(block))
    for axis, pick in enumerate(picks):
        if pick is not None:
            block = np.take(block, pick, axis=axis + 1)
    return block
