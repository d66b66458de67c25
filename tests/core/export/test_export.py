"""Exports: a bioimage.io package that bioimageio.spec accepts and that imports back to the same
predictions; TorchScript and ONNX files that reproduce the network's outputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from napari_unet.core.export import (
    example_input,
    export_bioimageio,
    export_onnx,
    export_torchscript,
    import_bioimageio,
    reference_output,
    validate_bioimageio,
)
from napari_unet.core.model import UNet


def _model(padding: str = "same") -> UNet:
    torch.manual_seed(1)
    if padding == "same":
        model = UNet(depth=2, base_channels=4, out_channels=3,
                     meta={"task": "instances", "axes": "YX",
                           "class_names": ["background", "interior", "boundary"]})
    else:  # a 2-channel regression model with unpadded convolutions and interpolation
        model = UNet(depth=2, base_channels=4, in_channels=2, out_channels=1, padding="valid",
                     upsampling="interpolate", meta={"task": "regression", "axes": "CYX"})
    model.train()
    with torch.no_grad():
        model(torch.randn(2, model.in_channels, 44, 44))  # non-trivial batch-norm statistics
        model.head.bias += 1.0  # positive outputs (bioimage.io scales its tolerance by them)
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("padding,suffix", [("same", ""), ("valid", ".zip")])
def test_bioimageio_package_validates_and_imports_back(tmp_path, padding, suffix):
    pytest.importorskip("bioimageio.spec")
    model = _model(padding)
    path = export_bioimageio(model, tmp_path / f"pkg{suffix}", name="test model",
                             authors=["A. Tester"])
    ok, summary = validate_bioimageio(path)
    assert ok, summary
    back = import_bioimageio(path)
    assert back.config == model.config
    x = example_input(model, seed=3)
    np.testing.assert_array_equal(reference_output(back, x), reference_output(model, x))
    if not suffix:
        # the package's test output is what the network computes from the test input
        test_in = np.load(path / "test_input.npy")
        test_out = np.load(path / "test_output.npy")
        np.testing.assert_allclose(reference_output(back, test_in), test_out, atol=1e-6)
        np.testing.assert_allclose(test_out.sum(axis=1), 1.0, atol=1e-5)  # softmax
        # the state-dict route (no attachment) gives the same model
        import yaml

        rdf = yaml.safe_load((path / "rdf.yaml").read_text())
        rdf["attachments"] = []
        (path / "rdf.yaml").write_text(yaml.safe_dump(rdf))
        again = import_bioimageio(path)
        np.testing.assert_array_equal(reference_output(again, x), reference_output(model, x))


@pytest.mark.slow
def test_torchscript_and_onnx_match_the_network(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream
        ts = torch.jit.load(str(export_torchscript(model, tmp_path / "m.torchscript")))
    onnx_path = export_onnx(model, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    # a size different from the export example: dynamic shapes work
    x = np.random.default_rng(0).normal(size=(2, 1, 48, 40)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ts(torch.from_numpy(x)).numpy(), expected, atol=1e-5)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_bad_sample_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sample"):
        export_bioimageio(_model(), tmp_path / "pkg", sample=np.zeros((1, 1, 33, 33), "f4"))
