"""Prediction on a Dask LocalCluster of 2 worker processes equals single-process prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core.io import read_image, write_zarr
from napari_unet.core.model import UNet
from napari_unet.core.prediction.distributed import predict_distributed, start_client
from napari_unet.core.prediction.predict import predict_image
from napari_unet.core.progress import run


def _run(gen):
    records = []
    return records, run(gen, records.append)


@pytest.mark.slow
def test_two_local_workers_match_single_process(tmp_path):
    torch.manual_seed(0)
    model = UNet(depth=2, base_channels=4, out_channels=3,
                 meta={"task": "instances", "axes": "ZYX"})
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 1, 32, 32))
    model.eval()
    rng = np.random.default_rng(0)
    image = (rng.random((2, 70, 90)) * 200).astype(np.uint8)  # a stack, predicted slice-wise
    source = read_image(write_zarr(tmp_path / "in.zarr", image, chunks=(1, 32, 32)))
    tile = (32, 48)
    threads = 1  # CPU convolutions round alike only with the same thread count
    records, out = _run(predict_distributed(
        model, source, axes="ZYX", scheduler="local:2", tile_shape=tile, device="cpu",
        threads_per_worker=threads,
        outputs={"probabilities": tmp_path / "p.zarr", "classes": tmp_path / "c.zarr"}))
    assert records[-1].step == records[-1].total == 2 * 3 * 2  # frames x tiles
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ref = predict_image(model, source, axes="ZYX", tile_shape=tile, batch_size=1,
                            device="cpu", output=("probabilities", "classes"))
    finally:
        torch.set_num_threads(before)
    probs = out["probabilities"]
    assert probs.shape == (3, 2, 70, 90) and probs.dtype == np.float32
    np.testing.assert_array_equal(probs[...], ref["probabilities"])
    np.testing.assert_array_equal(out["classes"][...], ref["classes"])
    np.testing.assert_array_equal(read_image(tmp_path / "c.zarr")[...], ref["classes"])
    assert set(np.unique(ref["classes"])) <= {1, 2, 3}


def test_bad_arguments(tmp_path):
    model = UNet(depth=2, base_channels=4)
    with pytest.raises(ValueError, match="local:N"):
        start_client("local:0")
    with pytest.raises(ValueError, match="does not exist"):
        start_client(str(tmp_path / "scheduler.json"))
    with pytest.raises(ValueError, match="cannot be reached"):
        start_client("tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(ValueError, match="outputs"):
        next(predict_distributed(model, np.zeros((8, 8)), axes="YX",
                                 outputs={"objects": tmp_path / "o.zarr"}))
    with pytest.raises(ValueError, match="channel"):
        next(predict_distributed(model, np.zeros((2, 8, 8)), axes="CYX",
                                 outputs={"classes": tmp_path / "c.zarr"}))


@pytest.mark.slow
def test_valid_3d_two_channel_model_through_a_given_client(tmp_path):
    """A 'valid' 3D model on a 2-channel volume, through a client the caller owns (threads)."""
    from distributed import Client, LocalCluster

    torch.manual_seed(2)
    model = UNet(dims=3, depth=2, base_channels=4, in_channels=2, out_channels=2,
                 padding="valid", meta={"task": "semantic", "axes": "CZYX"}).eval()
    rng = np.random.default_rng(1)
    image = rng.normal(size=(2, 20, 30, 26)).astype(np.float32)
    source = read_image(write_zarr(tmp_path / "in.zarr", image, chunks=(1, 10, 16, 16)))
    tile = (12, 16, 16)
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        _, out = _run(predict_distributed(model, source, axes="CZYX", scheduler=client,
                                          tile_shape=tile, device="cpu",
                                          outputs={"classes": tmp_path / "c.zarr",
                                                   "probabilities": tmp_path / "p.zarr"}))
        assert client.status == "running"  # a caller's client is left open
    ref = predict_image(model, image, axes="CZYX", tile_shape=tile, device="cpu",
                        output=("probabilities", "classes"))
    np.testing.assert_allclose(out["probabilities"][...], ref["probabilities"], atol=1e-5)
    agree = (out["classes"][...] == ref["classes"]).mean()
    assert agree > 0.999
