"""One rule for prediction outputs: shapes, types and where they live."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_unet.core.model import UNet
from napari_unet.core.prediction.outputs import allocate_outputs, output_spec
from napari_unet.core.prediction.predict import predict_image


def test_shapes_and_types_follow_the_number_of_classes():
    assert output_spec("probabilities", 3, (4, 5)) == ((3, 4, 5), np.dtype(np.float32))
    assert output_spec("classes", 255, (4, 5)) == ((4, 5), np.dtype(np.uint8))
    assert output_spec("classes", 256, (4, 5)) == ((4, 5), np.dtype(np.uint16))
    with pytest.raises(ValueError, match="expected one of"):
        output_spec("edges", 2, (4, 5))


def test_numpy_zarr_stores_and_groups_get_the_same_arrays(tmp_path):
    kinds = ("probabilities", "classes")
    mem = allocate_outputs(kinds, 2, (6, 7))
    disk = allocate_outputs(kinds, 2, (6, 7), stores={k: tmp_path / f"{k}.zarr" for k in kinds},
                            chunks=(3, 7))
    group = allocate_outputs(kinds, 2, (6, 7), group=zarr.open_group(tmp_path / "g", mode="w"))
    for kind in kinds:
        assert isinstance(mem[kind], np.ndarray)
        assert mem[kind].shape == disk[kind].shape == group[kind].shape
        assert mem[kind].dtype == disk[kind].dtype == group[kind].dtype
    assert disk["probabilities"].chunks == (2, 3, 7)


def test_predict_writes_into_allocated_stores_as_into_memory(tmp_path):
    model = UNet(depth=2, base_channels=4)
    image = np.random.default_rng(0).random((40, 48)).astype(np.float32)
    want = predict_image(model, image, output=("probabilities", "classes"))
    kinds = ("probabilities", "classes")
    out = allocate_outputs(kinds, model.out_channels, image.shape,
                           stores={k: tmp_path / f"{k}.zarr" for k in kinds})
    predict_image(model, image, output=kinds, out=out)
    np.testing.assert_allclose(out["probabilities"][...], want["probabilities"], atol=1e-6)
    np.testing.assert_array_equal(out["classes"][...], want["classes"])
