"""Soak: 30 tiny train/predict/objects cycles through the public API keep memory flat (no
model, cache or thread kept alive across runs)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import napari_unet

psutil = pytest.importorskip("psutil")

CYCLES = 30
WARM_UP = 5
#: RSS growth allowed from the end of the warm-up to the last cycle (allocator noise).
TOLERANCE_MB = 40.0


@pytest.mark.slow
def test_thirty_train_predict_cycles_keep_rss_flat(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.random((48, 48), dtype=np.float32)
    image[12:36, 12:36] += 1.0
    labels = np.zeros((48, 48), np.uint8)
    labels[2:6, 2:46], labels[20:28, 20:28] = 1, 2
    process = psutil.Process()
    rss = []
    for cycle in range(CYCLES):
        model = napari_unet.train_model(image, labels, depth=1, base_channels=4,
                                        patch_shape=[48, 48], batch_size=2, max_steps=2,
                                        val_every=2, prior="off", device="cpu", seed=cycle)
        probabilities = napari_unet.predict_image(model, image, device="cpu")
        objects = napari_unet.objects(probabilities, model.meta)
        if cycle % 10 == 0:
            napari_unet.save_model(model, tmp_path / "m.unet.safetensors")
            assert napari_unet.load_model(tmp_path / "m.unet.safetensors").config == model.config
        assert probabilities.shape == (2, 48, 48) and objects.shape == (48, 48)
        del model, probabilities, objects
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
    growth = rss[-1] - rss[WARM_UP - 1]
    assert growth < TOLERANCE_MB, (
        f"RSS grew {growth:.1f} MiB over {CYCLES - WARM_UP} cycles after warm-up: "
        f"{[round(r) for r in rss]}")
