"""Training precision and layout: chosen per machine, said in words, never leaking into files."""

from __future__ import annotations

import numpy as np
import torch

from napari_unet.core.model import UNet
from napari_unet.core.modelfile import load_model, save_model
from napari_unet.core.progress import run
from napari_unet.core.training.precision import choose_precision, cpu_has_native_bf16
from napari_unet.core.training.train import TrainConfig, train

TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 2,
        "start": "none", "max_steps": 3}


def test_cpu_precision_follows_the_cpu_and_the_switch():
    net = UNet(dims=2, depth=2, base_channels=8)
    cpu = torch.device("cpu")
    off = choose_precision(net, cpu, (2, 1, 64, 64), enabled=False)
    assert off.dtype is None and off.channels_last and off.words.endswith("float32")
    on = choose_precision(net, cpu, (2, 1, 64, 64), enabled=True)
    if not cpu_has_native_bf16():
        assert on.dtype is None  # emulated bfloat16 is slower: never chosen there
    assert on.words.startswith("CPU, ") and on.words.endswith(on.name)


def test_a_trained_model_is_contiguous_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(96, 96)).astype(np.float32)
    image[30:60, 30:60] += 3
    paint = np.zeros((96, 96), np.uint8)
    paint[5:10, 5:40] = 1
    paint[40:45, 35:55] = 2
    model = run(train(TrainConfig(**TINY), [(image, paint)], device="cpu"))
    assert all(p.is_contiguous() for p in model.state_dict().values())
    assert model.meta["training"]["precision"].startswith("CPU, ")
    path = save_model(model, tmp_path / "m.unet.safetensors")
    back = load_model(path)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)
