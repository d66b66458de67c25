"""The public API refuses wrong arguments with a TypeError or ValueError that names the
argument, what was expected and what was found (not an AttributeError, NotImplementedError or
IndexError from deep inside, and not a silent misreading of a nested list); a full disk is
named as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import napari_unet
from napari_unet.core.devices import resolve_device
from napari_unet.core.model import UNet
from napari_unet.core.outputs import staged
from napari_unet.core.training.config import TrainConfig

TINY = {"depth": 1, "base_channels": 2, "patch_shape": [32, 32], "batch_size": 1,
        "max_steps": 1, "val_every": 1, "prior": "off", "device": "cpu"}


@pytest.fixture(scope="module")
def model() -> UNet:
    torch.manual_seed(0)
    return UNet(depth=1, base_channels=2, out_channels=2,
                meta={"task": "semantic", "axes": "YX"}).eval()


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    labels = np.zeros((32, 32), np.uint8)
    labels[:5], labels[-5:] = 1, 2
    return image, labels


@pytest.mark.parametrize("device,error,needle", [
    ("meta", ValueError, "'meta' device holds no data"),
    (torch.device("meta"), ValueError, "does not compute on"),
    ("xla", ValueError, "found a 'xla' device"),
    ("gpu", ValueError, "is not a device name"),
    (5, TypeError, "found int 5"),
    (None, TypeError, "found NoneType None"),
])
def test_resolve_device_names_the_problem(device, error, needle):
    with pytest.raises(error, match=needle):
        resolve_device(device)
    assert resolve_device("cpu") == torch.device("cpu")


def test_predict_arguments(model, data):
    image, _ = data
    cases = [
        (lambda: napari_unet.predict_image(model, image.tolist()), TypeError,
         r"image: expected an array .* found list .*numpy.asarray"),
        (lambda: napari_unet.predict_image(model, "img.tif"), TypeError,
         "found str 'img.tif'; read the file first"),
        (lambda: napari_unet.predict_image("m.unet.safetensors", image), TypeError,
         r"model: expected a napari-unet UNet, found str .*load_model"),
        (lambda: napari_unet.predict_image(model, image, device="meta"), ValueError,
         "device='meta'"),
        (lambda: napari_unet.predict_image(model, image, output=5), TypeError,
         "output: expected one of"),
    ]
    for call, error, needle in cases:
        with pytest.raises(error, match=needle):
            call()


def test_train_arguments(model, data):
    image, labels = data
    cases = [
        (lambda: napari_unet.train_model(image.tolist(), labels.tolist(), **TINY), TypeError,
         r"pairs\[0\] image: expected an array .* found list"),
        (lambda: napari_unet.train_model("a.tif", "b.tif", **TINY), TypeError,
         r"pairs\[0\] image: .* found str 'a.tif'"),
        (lambda: napari_unet.train_model(image, labels, **{**TINY, "device": "meta"}),
         ValueError, "device='meta'"),
        (lambda: napari_unet.train_model(image, labels, model="m.unet.safetensors", **TINY),
         TypeError, "model: expected a napari-unet UNet or None"),
        (lambda: napari_unet.train_model(image, labels, stop=5, **TINY), TypeError,
         "stop: expected None or an object with is_set"),
        (lambda: napari_unet.train_model(image, labels, on_progress=5, **TINY), TypeError,
         "on_progress: expected None or a function"),
        (lambda: napari_unet.train_model(np.zeros((0, 32), "f4"), np.zeros((0, 32), "u1"),
                                         **TINY), ValueError,
         r"pairs\[0\] image: expected pixels, found an empty array of shape \(0, 32\)"),
        (lambda: napari_unet.train_model(image + 1j, labels, **TINY), TypeError,
         "expected real numbers .* found dtype complex(64|128); keep the magnitude"),
        (lambda: napari_unet.train_model(image, labels, **{**TINY, "val_fraction": "0.1"}),
         TypeError, "TrainConfig.val_fraction: expected a number such as 0.1, found str"),
        (lambda: napari_unet.run(napari_unet.train(TrainConfig(**{
            k: v for k, v in TINY.items() if k != "device"}), [image])), TypeError,
         r"pairs\[0\]: expected an \(image, labels\) pair"),
    ]
    for call, error, needle in cases:
        with pytest.raises(error, match=needle):
            call()


def test_other_entry_points(model, data, tmp_path):
    image, _ = data
    probabilities = np.full((2, 32, 32), 0.5, np.float32)
    with pytest.raises(TypeError, match=r"probabilities: expected an array .* found UNet"):
        napari_unet.objects(model, image)
    with pytest.raises(TypeError, match="meta: expected a model's meta"):
        napari_unet.objects(probabilities, ["semantic"])
    with pytest.raises(TypeError, match=r"generator: expected a generator .* found list"):
        napari_unet.run([1, 2])
    with pytest.raises(TypeError, match=r"model path: expected a file path .* found int 5"):
        napari_unet.load_model(5)
    with pytest.raises(TypeError, match="model: expected a napari-unet UNet, found str"):
        napari_unet.export_bioimageio("m.unet.safetensors", tmp_path / "pkg")
    with pytest.raises(TypeError, match=r"sample: expected an array .* found list"):
        napari_unet.export_bioimageio(model, tmp_path / "pkg", sample=[[1.0]])
    with pytest.raises(TypeError, match="sample: expected real numbers"):
        napari_unet.export_bioimageio(model, tmp_path / "pkg",
                                      sample=np.ones((1, 1, 32, 32), np.complex64))
    with pytest.raises(TypeError, match="probabilities: expected real numbers"):
        napari_unet.objects(probabilities.astype(np.complex64), model.meta)
    with pytest.raises(ValueError, match=r"expected a file name such as .* found a folder"):
        napari_unet.save_model(model, tmp_path)
    assert not (tmp_path / "pkg").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_named_and_nothing_replaced(tmp_path):
    """Writes that hit a full disk (numpy says "65536 requested and 0 written") end with a
    message naming the output and the full disk; the earlier result stays."""
    target = tmp_path / "result.npy"
    target.write_bytes(b"earlier result")
    with pytest.raises(OSError, match=r"output .*result.npy.*found the disk full"):
        with staged(target) as tmp, open("/dev/full", "wb") as full:
            tmp.write_bytes(b"partial")
            np.zeros(1 << 16).tofile(full)
    assert target.read_bytes() == b"earlier result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.npy"]
