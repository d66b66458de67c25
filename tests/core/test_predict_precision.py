"""Prediction precision: amp means bfloat16 on CPUs, float16 on CUDA; by default bfloat16 on
CPUs that compute it natively, float32 on the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core.prediction.precision import autocast_dtype, element_bytes, precision_name
from napari_unet.core.prediction.predict import predict, predict_image
from napari_unet.core.progress import run
from napari_unet.core.training.precision import cpu_has_native_bf16
from tests.core._unet import sensitive_unet

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def em_crop() -> np.ndarray:
    """A real EM crop (ISBI 2012 sample image) with odd sizes."""
    return tifffile.imread(REPO / "sample_data" / "em_membranes_image.tif")[100:171, 40:123]


def test_autocast_dtype_per_device():
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
    assert autocast_dtype(cpu, True) is torch.bfloat16
    assert autocast_dtype(cuda, True) is torch.float16  # CUDA as before: float16
    assert autocast_dtype(mps, True) is torch.float16
    assert all(autocast_dtype(d, False) is None for d in (cpu, cuda, mps))
    assert element_bytes(None) == 4 and element_bytes(torch.float16) == 2
    assert 2 < element_bytes(torch.bfloat16) < 4


def test_precision_in_words():
    # the CPU default: bfloat16 where the CPU computes it natively, else float32
    assert precision_name("cpu") == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert precision_name("cpu", amp=True) == "bfloat16"
    assert precision_name("cpu", amp=False) == "float32"


def _first_message(model, image, **kwargs):
    records = []
    run(predict(model, image, axes="YX", device="cpu", **kwargs), records.append)
    return records[0].message


def test_first_progress_record_names_the_precision(em_crop):
    model = sensitive_unet()
    assert _first_message(model, em_crop, amp=False).endswith(", float32")
    assert _first_message(model, em_crop, amp=True).endswith(", bfloat16")
    assert _first_message(model, em_crop).endswith(f", {precision_name('cpu')}")


def test_cpu_bfloat16_is_close_to_float32(em_crop):
    # head_gain 1: logits of standard deviation 1, probabilities 0.41-0.58 on this crop; the
    # bfloat16 result then differs by at most 0.025 here (0.0012 and 0.0018 with seeds 1, 2).
    model = sensitive_unet(head_gain=1.0)
    f32 = predict_image(model, em_crop, device="cpu", amp=False)
    bf16 = predict_image(model, em_crop, device="cpu", amp=True)
    assert bf16.dtype == np.float32 and bf16.shape == f32.shape == (2, 71, 83)
    np.testing.assert_allclose(bf16.sum(0), 1.0, atol=1e-5)  # softmax taken in float32
    assert 0 < np.abs(bf16 - f32).max() < 0.05  # > 0: bfloat16 was really used


def test_cpu_bfloat16_tiled_equals_untiled(em_crop):
    # Measured on an AMD EPYC with AVX-512 BF16 (torch's oneDNN): exactly equal (0.0) for
    # depth 2-3, same/valid padding, transposed/interpolated upsampling; float32 differs by up
    # to 5e-6 there. CPUs that emulate bfloat16 were not measured: there the float32 bound
    # of test_predict.py (1e-3) applies.
    model = sensitive_unet(depth=3)
    untiled = predict_image(model, em_crop, device="cpu", amp=True, tile_shape=em_crop.shape)
    tiled = predict_image(model, em_crop, device="cpu", amp=True, tile_shape=(24, 20))
    diff = np.abs(tiled - untiled).max()
    if cpu_has_native_bf16():
        assert diff == 0.0
    else:
        assert diff <= 1e-3
