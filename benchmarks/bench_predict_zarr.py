"""Predict a generated zarr volume of 2 GiB or more into zarr, and print the peak memory.

The volume is written slab by slab (never held in memory), then
``napari_unet.core.prediction.predict`` reads it tile by tile and writes classes tile by tile into
a zarr array on disk. The peak resident set size (RSS) of this process is printed next to the
volume's size: memory stays bounded by the prediction's memory budget, whatever the volume's
size. Target (issue 3): peak RSS <= 1 GiB for a volume of >= 2 GiB.

The network is small (depth 2, 4 base channels, random weights) so a CPU finishes in minutes;
the memory story does not depend on the weights. By default it is a 2D model run slice by slice
(``--dims 3`` runs a 3D model over the volume, several times slower on a CPU).

Usage:
  python benchmarks/bench_predict_zarr.py                    # 512x1024x1024 float32 = 2 GiB
  python benchmarks/bench_predict_zarr.py --size 64          # quick smoke run (64x128x128)
  python benchmarks/bench_predict_zarr.py --memory-budget 1024 --dims 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr

from napari_unet.core.devices import describe_device, resolve_device
from napari_unet.core.model import UNet
from napari_unet.core.prediction.predict import predict

GiB = 1 << 30


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def generate(path: Path, shape: tuple[int, int, int], chunks: tuple[int, int, int]) -> zarr.Array:
    """A float32 volume of blob-like structures plus noise, written one slab at a time."""
    image = zarr.create_array(path, shape=shape, chunks=chunks, dtype="float32")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[1], : shape[2]].astype(np.float32)
    pattern = np.sin(yy / 23.0) * np.sin(xx / 31.0)
    for z0 in range(0, shape[0], chunks[0]):
        z = np.arange(z0, min(z0 + chunks[0], shape[0]), dtype=np.float32)[:, None, None]
        for y0 in range(0, shape[1], chunks[1]):
            rows = pattern[None, y0 : y0 + chunks[1]]
            block = 100.0 + 80.0 * rows * np.sin(z / 17.0)
            block += 10.0 * rng.standard_normal(block.shape, dtype=np.float32)
            image[z0 : z0 + len(z), y0 : y0 + rows.shape[1]] = block
    return image


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512,
                        help="Z size; Y and X are twice that (512 -> 2 GiB of float32)")
    parser.add_argument("--dims", type=int, choices=(2, 3), default=2)
    parser.add_argument("--memory-budget", type=float, default=512,
                        help="prediction memory budget in MiB (0: the engine's default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dir", default=None, help="where to write the zarr stores")
    parser.add_argument("--keep", action="store_true", help="keep the zarr stores")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    shape = (args.size, 2 * args.size, 2 * args.size)
    chunks = (1, min(512, shape[1]), min(512, shape[2])) if args.dims == 2 else (32, 128, 128)
    chunks = tuple(min(c, s) for c, s in zip(chunks, shape))
    root = Path(tempfile.mkdtemp(prefix="napari-unet-bench-", dir=args.dir))
    print(f"device: {describe_device(device)}; torch {torch.__version__}; stores in {root}")
    try:
        t0 = time.perf_counter()
        image = generate(root / "image.zarr", shape, chunks)
        nbytes = image.nbytes
        print(f"generated {shape} float32 = {nbytes / GiB:.2f} GiB in chunks {chunks} "
              f"({time.perf_counter() - t0:.0f} s)")
        out = zarr.create_array(root / "classes.zarr", shape=shape, chunks=chunks, dtype="uint8")
        torch.manual_seed(0)
        model = UNet(dims=args.dims, depth=2, base_channels=4)
        budget = None if args.memory_budget <= 0 else int(args.memory_budget * (1 << 20))
        rss_before = current_rss()
        t0 = time.perf_counter()
        gen = predict(model, image, axes="ZYX", output="classes", out=out, device=device,
                      memory_budget=budget)
        last = -1.0
        for record in gen:
            if record.step == 0 or record.out_of_memory:
                print(f"  {record.message}; batch {record.batch_size}")
            if record.fraction - last >= 0.1:
                last = record.fraction
                print(f"  {100 * record.fraction:3.0f}%  {time.perf_counter() - t0:6.0f} s  "
                      f"RSS {current_rss() / GiB:.2f} GiB")
        seconds = time.perf_counter() - t0
        sample = out[shape[0] // 2]
        print(f"classes written: {shape}, middle slice holds classes {np.unique(sample)}")
        print(f"volume {nbytes / GiB:.2f} GiB, memory budget "
              f"{'default' if budget is None else f'{budget / (1 << 20):.0f} MiB'}, "
              f"{image.size / seconds / 1e6:.2f} MVox/s, {seconds:.0f} s")
        print(f"RSS before predict {rss_before / GiB:.2f} GiB; peak RSS {peak_rss() / GiB:.2f} GiB "
              f"(target <= 1 GiB)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
