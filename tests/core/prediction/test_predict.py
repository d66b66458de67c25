"""Tiled prediction equals untiled prediction; lazy inputs and outputs; progress; bad input."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import torch
import zarr

from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from napari_unet.core.prediction.predict import PredictProgress, predict, predict_image
from napari_unet.core.progress import run
from tests.core._unet import sensitive_unet

REPO = Path(__file__).resolve().parents[3]
TOL = {"same": 1e-3, "valid": 1e-5}  # the bounds on max |p_tiled - p_untiled|


@pytest.fixture(scope="module")
def em_crop() -> np.ndarray:
    """A real EM crop (ISBI 2012 sample image) with odd sizes."""
    return tifffile.imread(REPO / "sample_data" / "em_membranes_image.tif")[100:171, 40:123]


def _spatial(shape, axes, dims):
    keep = "ZYX" if dims == 3 else "YX"
    return tuple(s for a, s in zip(axes, shape) if a in keep)


def _tiled_vs_untiled(model, image, axes, tile):
    untiled = predict_image(model, image, axes=axes, device="cpu",
                            tile_shape=_spatial(image.shape, axes, model.dims))
    tiled = predict_image(model, image, axes=axes, device="cpu", tile_shape=tile)
    return untiled, tiled


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("upsampling", ["transposed", "interpolate"])
def test_tiled_equals_untiled_2d_real_image_odd_size(em_crop, padding, upsampling):
    model = sensitive_unet(depth=3, padding=padding, upsampling=upsampling)
    untiled, tiled = _tiled_vs_untiled(model, em_crop, "YX", (24, 20))
    assert untiled.shape == (2, 71, 83) and untiled.dtype == np.float32
    assert np.abs(tiled - untiled).max() <= TOL[padding]
    np.testing.assert_allclose(untiled.sum(0), 1.0, atol=1e-5)


def test_halo_is_what_makes_it_seam_free(em_crop):
    # The same comparison without halo shows seams: the tests above would catch a bad halo.
    model = sensitive_unet(depth=3)
    untiled = predict_image(model, em_crop, tile_shape=em_crop.shape, halo=0, device="cpu")
    tiled = predict_image(model, em_crop, tile_shape=(24, 20), halo=0, device="cpu")
    assert np.abs(tiled - untiled).max() > 1e-2


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.slow
def test_tiled_equals_untiled_3d_anisotropic(padding):
    image = tifffile.imread(REPO / "sample_data" / "nuclei3d_image.tif")[40:51, 30:67, 20:49]
    model = sensitive_unet(dims=3, padding=padding, inplane_levels=1, depth=3)
    untiled, tiled = _tiled_vs_untiled(model, image, "ZYX", (6, 20, 16))
    assert untiled.shape == (2, 11, 37, 29)
    assert np.abs(tiled - untiled).max() <= TOL[padding]


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_tiled_equals_untiled_multichannel_channel_last(em_crop, padding):
    image = np.stack([em_crop, em_crop[::-1], np.roll(em_crop, 9, axis=1)], axis=-1)  # YXC
    model = sensitive_unet(in_channels=3, out_channels=4, padding=padding)
    untiled, tiled = _tiled_vs_untiled(model, image, "YXC", (16, 24))
    assert untiled.shape == (4, 71, 83)
    assert np.abs(tiled - untiled).max() <= TOL[padding]


@pytest.mark.parametrize("shape", [(1, 40), (3, 5), (1, 1)])
def test_images_smaller_than_a_tile_and_size_one_axes(shape):
    image = np.random.default_rng(3).random(shape).astype(np.float32)
    for padding in ("same", "valid"):
        model = sensitive_unet(depth=3, padding=padding)
        untiled, tiled = _tiled_vs_untiled(model, image, "YX", (8, 8))
        assert untiled.shape == (2, *shape)
        assert np.abs(tiled - untiled).max() <= TOL[padding]
        assert np.isfinite(untiled).all()


def test_2d_model_runs_slice_by_slice_over_t_and_z():
    rng = np.random.default_rng(4)
    image = rng.random((2, 3, 1, 20, 18)).astype(np.float32)  # TZCYX
    model = sensitive_unet()
    # float32 (amp=False): compared with a float32 forward pass below
    result = predict_image(model, image, axes="TZCYX", tile_shape=(8, 8), device="cpu",
                           amp=False)
    assert result.shape == (2, 2, 3, 20, 18)
    stats = model.normalization.stats(image, axes="TZCYX")
    lo, hi = stats.low[0], stats.high[0]
    h = model.halo[0]  # 20 + 2h and 18 + 2h are multiples of the pooling grid (2)
    with torch.no_grad():
        padded = np.pad((image[1, 2, 0] - lo) / (hi - lo), h, mode="reflect")
        logits = model(torch.from_numpy(padded[None, None].astype(np.float32)))
        direct = torch.softmax(logits, 1)[0, :, h:h + 20, h:h + 18].numpy()
    assert np.abs(result[:, 1, 2] - direct).max() < 1e-4


def test_3d_model_runs_per_volume_over_t():
    rng = np.random.default_rng(5)
    image = rng.random((2, 6, 12, 10)).astype(np.float32)  # TZYX
    model = sensitive_unet(dims=3)
    both = predict_image(model, image, axes="TZYX", tile_shape=(4, 8, 8), device="cpu")
    assert both.shape == (2, 2, 6, 12, 10)
    stats_rule = Normalization(mode="none")
    model.normalization = stats_rule
    one = predict_image(model, image[1], axes="ZYX", device="cpu")
    two = predict_image(model, image, axes="TZYX", device="cpu")
    assert np.abs(two[:, 1] - one).max() < 1e-5


@pytest.mark.parametrize("kind", ["dask", "zarr"])
def test_lazy_inputs_give_the_numpy_result(em_crop, kind):
    model = sensitive_unet(depth=3)
    expected = predict_image(model, em_crop, tile_shape=(32, 32), device="cpu")
    if kind == "dask":
        source = da.from_array(em_crop, chunks=(20, 30))
    else:
        source = zarr.create_array(store={}, shape=em_crop.shape, chunks=(16, 16), dtype="uint8")
        source[...] = em_crop
    got = predict_image(model, source, tile_shape=(32, 32), device="cpu")
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)


def test_results_written_tile_by_tile_into_zarr(em_crop, tmp_path):
    model = sensitive_unet(depth=3)
    expected = predict_image(model, em_crop, output=("probabilities", "classes"), device="cpu")
    store = zarr.open_group(tmp_path / "out.zarr", mode="w")
    out = {
        "probabilities": store.create_array("p", shape=(2, 71, 83), chunks=(2, 32, 32),
                                            dtype="float32"),
        "classes": store.create_array("c", shape=(71, 83), chunks=(32, 32), dtype="uint8"),
    }
    records = []
    result = run(predict(model, em_crop, axes="YX", tile_shape=(32, 32), batch_size=2,
                         device="cpu", output=("probabilities", "classes"), out=out),
                 records.append)
    assert result["probabilities"] is out["probabilities"]
    assert all(isinstance(r, PredictProgress) for r in records)
    assert [r.step for r in records] == [0, 2, 4, 6, 8, 9] and records[-1].total == 9
    np.testing.assert_allclose(out["probabilities"][...], expected["probabilities"], atol=1e-3)
    classes = out["classes"][...]
    assert set(np.unique(classes)) <= {1, 2}
    np.testing.assert_array_equal(classes, expected["probabilities"].argmax(0) + 1)


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint16, np.int64, np.float16, np.float64])
def test_every_supported_dtype_is_predicted(dtype):
    image = np.random.default_rng(7).random((12, 10)) * 3 > 1.5
    result = predict_image(sensitive_unet(), image.astype(dtype), device="cpu")
    assert result.shape == (2, 12, 10) and np.isfinite(result).all()


def test_classes_and_regression_outputs():
    image = np.random.default_rng(6).random((20, 20)).astype(np.float32)
    model = sensitive_unet(out_channels=300)
    classes = predict_image(model, image, output="classes", device="cpu")
    assert classes.dtype == np.uint16 and classes.min() >= 1 and classes.max() <= 300
    reg = sensitive_unet(out_channels=1, meta={"task": "regression"})
    raw = predict_image(reg, image, device="cpu")
    assert raw.shape == (1, 20, 20) and (raw < 0).any() and (raw > 1).any()
    with pytest.raises(ValueError, match="regression"):
        predict(reg, image, axes="YX", output="classes")


def test_closing_the_generator_stops_and_restores_the_model(em_crop, tmp_path):
    model = sensitive_unet(depth=3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = zarr.create_array(tmp_path / "p.zarr", shape=(2, 71, 83), chunks=(2, 16, 16),
                            dtype="float32", fill_value=-1.0)
    gen = predict(model, em_crop, axes="YX", tile_shape=(16, 16), batch_size=1, device="cpu",
                  out=out)
    next(gen)
    next(gen)  # one tile written
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)
    written = out[...]
    assert (written[:, :16, :16] >= 0).all()  # the first tile
    assert (written[:, -8:, -8:] == -1).all()  # the last tile never ran
    assert model.training  # the caller's mode is restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class _MemoryLimitedUNet(UNet):
    """A U-Net that fails like a full GPU when a batch is bigger than ``limit`` voxels."""

    limit = 10**9

    def forward(self, x):
        if x.numel() > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(x)


def test_out_of_memory_halves_batch_then_tile_and_says_so(em_crop):
    model = _MemoryLimitedUNet(depth=2, base_channels=4).eval()
    expected = predict_image(model, em_crop, device="cpu")
    model.limit = 40 * 40
    records = list(_drain(predict(model, em_crop, axes="YX", tile_shape=(48, 48),
                                  batch_size=4, device="cpu")))
    result = records.pop()
    ooms = [r for r in records if r.out_of_memory]
    assert any("batch 4 -> 2" in r.message for r in ooms)
    assert any("tile" in r.message for r in ooms)
    assert records[-1].step == records[-1].total
    assert np.prod(records[-1].tile_shape) <= 40 * 40
    assert np.abs(result - expected).max() <= 1e-3


def _drain(gen):
    """The records of ``gen``, then its value, as one list."""
    records = []
    value = run(gen, records.append)
    return [*records, value]


def test_memory_budget_sets_the_tiles_and_keeps_the_result(em_crop):
    model = sensitive_unet(depth=3)
    big = list(_drain(predict(model, em_crop, axes="YX", device="cpu")))
    small = list(_drain(predict(model, em_crop, axes="YX", device="cpu",
                                memory_budget=1_500_000)))
    assert big[0].total == 1 and small[0].total > 1
    assert np.prod(small[0].tile_shape) < np.prod(big[0].tile_shape)
    assert np.abs(big[-1] - small[-1]).max() <= TOL["same"]


def test_cpu_budget_is_a_share_of_free_memory_capped_per_dimensionality():
    from napari_unet.core.devices import CPU_MEMORY_CAP, free_bytes, memory_budget

    free = free_bytes("cpu")
    for dims in (2, 3):
        budget = memory_budget("cpu", dims)
        assert 64 << 20 <= budget <= max(CPU_MEMORY_CAP[dims], 64 << 20)
        assert budget <= max(free * 0.3, 64 << 20)  # a quarter, with room for free RAM moving
    assert memory_budget("cpu", 3) >= memory_budget("cpu", 2)


def test_group_norm_warns_when_it_must_tile(em_crop):
    model = sensitive_unet(norm="group")
    with pytest.warns(UserWarning, match="group normalisation"):
        predict_image(model, em_crop, tile_shape=(32, 32), device="cpu")


@pytest.mark.parametrize(
    ("image", "kwargs", "match"),
    [
        (np.zeros((8, 8)), {"axes": "YQ"}, "unknown letters"),
        (np.zeros((8, 8)), {"axes": "ZYX"}, "names 3 axes, but the image has 2"),
        (np.zeros((8, 8)), {"axes": "YY"}, "repeats"),
        (np.zeros((8, 8)), {"axes": 2}, "axes must be a string"),
        (np.zeros((2, 8, 8)), {"axes": "CYX"}, "2 channel.*expects 1"),
        (np.full((8, 8), np.nan), {}, "NaN"),
        (np.full((8, 8), np.inf, np.float32), {}, "NaN or infinite"),
        (np.zeros((0, 8)), {}, "empty"),
        (np.zeros((8, 8), complex), {}, "dtype complex128 is not supported"),
        (np.array([["a"]]), {}, "not supported"),
        (np.zeros((8, 8)), {"output": "edges"}, "output="),
        (np.zeros((8, 8)), {"tile_shape": (8, 8, 8, 8)}, "tile_shape"),
        (np.zeros((8, 8)), {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_input_raises_a_clear_value_error(image, kwargs, match):
    kwargs = {"axes": "YX", **kwargs}
    with pytest.raises(ValueError, match=match):
        predict(UNet(depth=2, base_channels=2), image, **kwargs)


def test_bad_input_for_3d_and_valid_models():
    with pytest.raises(ValueError, match="no Z axis"):
        predict(UNet(dims=3, depth=2, base_channels=2), np.zeros((8, 8)), axes="YX")
    with pytest.raises(ValueError, match="smaller than this valid model's halo"):
        predict(UNet(depth=2, base_channels=2, padding="valid"), np.zeros((8, 8)), axes="YX",
                halo=1)
    lazy = da.from_array(np.where(np.eye(40) > 0, np.nan, 1.0), chunks=10)
    with pytest.raises(ValueError, match="NaN"):  # refused when the call checks the input
        list(predict(UNet(depth=2, base_channels=2, normalization={"mode": "none"}), lazy,
                     axes="YX", tile_shape=(8, 8)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_autocast_matches_cpu(em_crop):
    model = sensitive_unet(depth=3)
    cpu = predict_image(model, em_crop, device="cpu")
    gpu = predict_image(model, em_crop, device="cuda", tile_shape=(32, 32))
    assert np.abs(cpu - gpu).max() < 1e-2
    assert next(model.parameters()).device.type == "cpu"


def test_norm_stats_of_the_whole_image_for_a_part_of_it(em_crop):
    # A preview of part of an image uses the whole image's statistics: away from the part's
    # border (farther than the halo) it then equals the whole image's prediction.
    model = sensitive_unet()
    whole = predict_image(model, em_crop, device="cpu")
    stats = model.normalization.stats(em_crop, axes="YX")
    part = em_crop[10:60, 20:80]
    own = predict_image(model, part, device="cpu")
    shared = predict_image(model, part, device="cpu", norm_stats=stats)
    h = model.halo[0]
    inner = (slice(None), slice(h, 50 - h), slice(h, 60 - h))
    whole_inner = whole[:, 10:60, 20:80][inner]
    assert np.abs(shared[inner] - whole_inner).max() <= 1e-5
    assert np.abs(own[inner] - whole_inner).max() > 1e-3
