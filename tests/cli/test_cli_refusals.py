"""Refusals that protect from silent nonsense or hangs (issue 16): instance masks scored as
classes, a channels-last image read as a stack, and a --scheduler that is not a Dask scheduler
(a socket that accepts and stays silent, an HTTP server, a refused port): each exits 2 with one
line naming the problem, in bounded time, and leaves no result behind."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.cli import main
from napari_unet.core.metrics import MAX_CLASSES, class_scores
from napari_unet.core.model import UNet
from napari_unet.core.modelfile import save_model
from napari_unet.core.prediction.distributed import check_scheduler


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_instance_masks_scored_as_classes_are_refused_before_any_matrix(tmp_path, capsys):
    masks = np.arange(1, 40 * 40 + 1, dtype=np.uint16).reshape(40, 40)  # 1600 "objects"
    tifffile.imwrite(tmp_path / "pred.tif", masks)
    tifffile.imwrite(tmp_path / "truth.tif", masks)
    assert main(["evaluate", str(tmp_path / "pred.tif"), "--truth",
                 str(tmp_path / "truth.tif")]) == 2
    line = _error_line(capsys)
    assert "1600 distinct values" in line and "--task instances" in line
    # as objects they score fine
    assert main(["evaluate", str(tmp_path / "pred.tif"), "--truth", str(tmp_path / "truth.tif"),
                 "--task", "instances"]) == 0
    # the core refuses the same before allocating (MAX_CLASSES + 1)^2 counts
    with pytest.raises(ValueError, match="instance masks"):
        class_scores(masks, masks)
    few = np.arange(MAX_CLASSES, dtype=np.uint16).reshape(16, 16) + 1
    assert len(class_scores(few, few)["class"]) == MAX_CLASSES


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = UNet(depth=2, base_channels=4, out_channels=2,
                 meta={"task": "semantic", "axes": "YX"}).eval()
    return save_model(model, tmp_path_factory.mktemp("m") / "m.unet.safetensors")


def test_a_channels_last_image_is_not_predicted_as_a_stack(model_file, tmp_path, capsys):
    image = tmp_path / "two.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((64, 64, 2), dtype=np.float32),
                     photometric="minisblack", metadata=None)
    out = tmp_path / "res"
    assert main(["predict", str(model_file), str(image), "--out", str(out), "-q"]) == 2
    line = _error_line(capsys)
    assert "channels-last" in line and "--axes YXC" in line and "(64, 64, 2)" in line
    assert not out.exists() or not any(out.iterdir())


class _Silent:
    """A TCP server that accepts connections and never writes a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def silent_server():
    server = _Silent()
    yield f"tcp://127.0.0.1:{server.port}"
    server.close()


@pytest.fixture
def http_server():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("service", ["silent_server", "http_server"])
@pytest.mark.slow
def test_a_wrong_service_is_told_apart_from_a_scheduler_quickly(service, request):
    address = request.getfixturevalue(service)
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"sent no Dask handshake within 0.5 s.*HTTP server"):
        check_scheduler(address, handshake_timeout=0.5)
    assert time.monotonic() - start < 3


@pytest.mark.slow
@pytest.mark.parametrize("service", ["silent_server", "http_server"])
def test_a_wrong_service_as_scheduler_fails_fast_and_writes_nothing(service, model_file,
                                                                    tmp_path, capsys, request):
    address = request.getfixturevalue(service)
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.zeros((64, 64), np.float32))
    out = tmp_path / "res"
    for fmt in ("zarr", "ome-zarr"):
        start = time.monotonic()
        status = main(["predict", str(model_file), str(image), "--out", str(out), "-q",
                       "--format", fmt, "--scheduler", address])
        elapsed = time.monotonic() - start
        assert status == 2
        assert elapsed < 15
        line = _error_line(capsys)
        assert address in line and "Dask handshake" in line and "HTTP server" in line
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_a_refused_port_fails_at_once():
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ValueError, match="connection refused"):
        check_scheduler(f"tcp://127.0.0.1:{port}")
    assert time.monotonic() - start < 3


def test_a_real_scheduler_passes_the_check(tmp_path):
    import asyncio

    from distributed import Scheduler

    async def probe() -> str:
        async with Scheduler(port=0, dashboard_address=None) as scheduler:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, check_scheduler, scheduler.address)

    address = asyncio.run(probe())
    assert address.startswith("tcp://")
    bad = tmp_path / "scheduler.json"
    bad.write_text('{"id": 1}')
    with pytest.raises(ValueError, match="'address' entry"):
        check_scheduler(str(bad))


@pytest.mark.slow
def test_the_api_writes_no_store_before_the_cluster_answers(silent_server, tmp_path):
    from napari_unet.core.prediction.distributed import predict_distributed

    model = UNet(depth=1, base_channels=2, out_channels=2).eval()
    with pytest.raises(ValueError, match="sent no Dask handshake"):
        next(predict_distributed(model, np.zeros((32, 32), np.float32), axes="YX",
                                 outputs={"classes": tmp_path / "c.zarr"},
                                 scheduler=silent_server))
    assert list(tmp_path.iterdir()) == []
