"""Tile grids: cover the image once, start on the pooling grid, mirror only at the border."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_unet.core.axes import parse_axes
from napari_unet.core.model import UNet
from napari_unet.core.prediction.tiling import auto_core_shape, plan_grid, read_tile, reflect_index


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16])
def test_reflect_index_matches_numpy_reflect_padding(size):
    values = np.arange(size) * 10
    pad = 23  # wider than the axis: numpy mirrors repeatedly
    expected = np.pad(values, pad, mode="reflect") if size > 1 else np.zeros(size + 2 * pad)
    got = values[reflect_index(np.arange(-pad, size + pad), size)]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_grid_covers_every_pixel_once_on_the_pooling_grid(padding):
    model = UNet(dims=3, depth=3, base_channels=2, padding=padding, inplane_levels=1)
    shape = (13, 50, 37)
    grid = plan_grid(model, shape, (8, 16, 20), model.halo)
    count = np.zeros(shape, int)
    for tile in grid.tiles():
        count[tile.core_slices] += 1
        assert all(s % g == 0 for s, g in zip(tile.core_start, model.pool_product))
        assert all(i == s - h for i, s, h in zip(tile.input_start, tile.core_start, grid.halo))
    assert (count == 1).all()
    assert grid.n_tiles == math.prod(a.count for a in grid.axes) == len(list(grid.tiles()))
    # every tile is a shape the model accepts, and its output holds the whole core
    out = model.output_shape(grid.tile_shape)
    assert all(a.out_offset + a.core <= o for a, o in zip(grid.axes, out))


def test_image_shape_as_tile_gives_one_tile_and_cores_are_balanced():
    model = UNet(depth=3, base_channels=2)
    assert plan_grid(model, (101, 77), (101, 77), model.halo).n_tiles == 1
    grid = plan_grid(model, (100, 100), (60, 60), model.halo)
    assert grid.core_shape == (52, 52)  # two balanced cores of 50 -> 52 on a grid of 4
    assert grid.n_tiles == 4


def test_auto_core_shape_fits_the_budget_and_prefers_one_tile():
    model = UNet(depth=3, base_channels=2)
    shape, halo = (300, 200), model.halo
    assert auto_core_shape(model, shape, halo, 1e9) == (300, 200)
    core = auto_core_shape(model, shape, halo, 150 * 150)
    tile = model.valid_input_shape(tuple(c + 2 * h for c, h in zip(core, halo)))
    assert math.prod(tile) <= 150 * 150
    assert core[0] < 300
    # a budget below the smallest tile still yields the smallest tile rather than failing
    assert auto_core_shape(model, shape, halo, 10) == model.pool_product


@pytest.mark.parametrize("kind", ["numpy", "dask", "zarr"])
def test_read_tile_reads_neighbours_and_mirrors_only_outside(kind):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (3, 20, 2, 17), dtype=np.uint8)  # axes "ZYCX"
    if kind == "dask":
        source = da.from_array(image, chunks=(1, 7, 2, 5))
    elif kind == "zarr":
        source = zarr.create_array(store={}, shape=image.shape, chunks=(1, 8, 2, 8),
                                   dtype=image.dtype)
        source[...] = image
    else:
        source = image
    plan = parse_axes("ZYCX", image.shape, dims=2)
    model = UNet(depth=2, base_channels=2)
    grid = plan_grid(model, (20, 17), (8, 8), (6, 6))
    padded = np.pad(image, ((0, 0), (30, 30), (0, 0), (30, 30)), mode="reflect")
    for tile in grid.tiles():
        block = read_tile(source, plan, (1,), tile, grid.tile_shape)
        assert block.shape == (2, *grid.tile_shape)
        (y0, x0), (ty, tx) = tile.input_start, grid.tile_shape
        expected = padded[1, 30 + y0:30 + y0 + ty, :, 30 + x0:30 + x0 + tx].transpose(1, 0, 2)
        np.testing.assert_array_equal(block, expected)


def test_auto_core_shape_is_the_cheapest_grid_that_fits():
    # Brute force over tile counts: no grid that fits computes fewer voxels in all.
    model = UNet(dims=3, depth=2, base_channels=2, inplane_levels=1)
    shape, halo, budget = (7, 28, 20), model.halo, 20 * 36 * 36

    def work(cores):
        tile = model.valid_input_shape(tuple(c + 2 * h for c, h in zip(cores, halo)))
        tiles = math.prod(math.ceil(n / c) for n, c in zip(shape, cores))
        return math.prod(tile), tiles * math.prod(tile)

    best = auto_core_shape(model, shape, halo, budget)
    assert work(best)[0] <= budget
    grid = model.pool_product
    for counts in np.ndindex(7, 14, 10):
        cores = [math.ceil(math.ceil(n / (k + 1)) / g) * g
                 for n, k, g in zip(shape, counts, grid)]
        voxels, total = work(cores)
        if voxels <= budget:
            assert total >= work(best)[1]
