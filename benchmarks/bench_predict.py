"""Throughput and exactness of tiled prediction against an untiled pass and MONAI.

For a real 2D EM image tiled up to 2048x2048 (ISBI 2012, ../shared/data) and a real 3D nuclei
stack tiled up to 100x200x200 (PlantSeg), with one model and one set of weights, this prints
the median throughput (megapixels/s over the image's own pixels) and max |dp| (largest
difference in class probabilities against the untiled pass) of:

  (a) one untiled forward pass: the image normalised once, mirror-padded by the model's halo
      (the product's border rule) and run through the network in one piece: the limit;
  (b) napari_unet.predict_image at its defaults (tiles and batch chosen from free
      memory);
  (c) MONAI sliding_window_inference at its defaults (overlap 0.25) with gaussian blending and
      the tile size (b) chose.

Targets (issue 3): b/a >= 0.85, b/c >= 1.5, max |dp| of (b) <= 1e-3. Runs are interleaved
(a, b, c, a, b, c, ...) so that load from other processes hits all three alike.

The weights are random, with random batch-norm statistics, and the last layer is rescaled so the
logits vary by a few units over the image: a trained model's probabilities vary the same way,
and a nearly constant output would make max |dp| meaningless.

A third case mirrors the 3D stack out to 100x768x768, more than one tile of the engine at its
default memory budget and more than one untiled pass fits in this machine's memory: (b) against
(c) only, the regime where the halo's cost and MONAI's 25 % overlap decide.

Usage: python benchmarks/bench_predict.py [--runs 3] [--device cpu] [--only 2d|3d|3d-large]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from napari_unet.core.devices import describe_device, resolve_device
from napari_unet.core.model import UNet
from napari_unet.core.prediction.network import (
    channels_last_format,
    inference_network,
    uses_channels_last,
)
from napari_unet.core.prediction.predict import predict, predict_image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _read(path: Path) -> np.ndarray:
    import skimage.io
    import tifffile

    if path.suffix.lower() in (".tif", ".tiff"):
        return tifffile.imread(path)
    return skimage.io.imread(path)


def image_2d() -> np.ndarray:
    """4x4 ISBI 2012 images of 512x512 side by side: a real 2048x2048 EM image."""
    folder = DATA / "isbi2012_em_membrane" / "images"
    files = sorted(folder.iterdir(), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)[:16]
    tiles = [np.asarray(_read(f)) for f in files]
    tiles = [t if t.ndim == 2 else t[..., 0] for t in tiles]
    rows = [np.concatenate(tiles[r * 4:(r + 1) * 4], axis=1) for r in range(4)]
    return np.concatenate(rows, axis=0)


def image_3d() -> np.ndarray:
    """The PlantSeg nuclei stack (100^3) mirrored to 100x200x200."""
    folder = DATA / "plantseg_nuclei3d" / "images"
    stack = _read(next(iter(sorted(folder.iterdir()))))
    stack = np.concatenate([stack, stack[:, ::-1]], axis=1)
    return np.concatenate([stack, stack[:, :, ::-1]], axis=2)


def image_3d_large(side: int = 768) -> np.ndarray:
    """The same stack mirrored out to 100 x side x side: bigger than one tile of the engine."""
    stack = image_3d()
    return np.pad(stack, [(0, 0), (0, side - stack.shape[1]), (0, side - stack.shape[2])],
                  mode="symmetric")


def lively(model: UNet, image: np.ndarray, axes: str, seed: int = 0) -> UNet:
    """Random batch-norm statistics, and a head giving logits of mean 0 and std 2 on ``image``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) * 0.6 - 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        model.eval()
        crop = image[tuple(slice(0, 64) for _ in image.shape)]
        stats = model.normalization.stats(image, axes=axes)
        x = model.normalization.apply(crop, stats, axes=axes)
        x = torch.from_numpy(x[None, None])
        x = x[(..., *(slice(0, s) for s in model.valid_input_shape(x.shape[2:])))]
        logits = model(x)
        dims = [0, *range(2, logits.ndim)]
        scale = 2.0 / logits.std(dims).clamp_min(1e-6)
        model.head.weight.mul_(scale.view((-1,) + (1,) * (model.dims + 1)))
        model.head.bias.sub_(logits.mean(dims)).mul_(scale)
    return model


def fast_net(model: UNet, device: torch.device) -> tuple[torch.nn.Module, torch.memory_format]:
    """The network the engine runs (batch norm folded, channels-last where the engine uses
    it), used for (a) and (c) too so that only the tiling differs."""
    fmt = torch.contiguous_format
    if uses_channels_last(device):
        fmt = channels_last_format(model.dims)
    return inference_network(model, device), fmt


def untiled(model: UNet, net, fmt, image: np.ndarray, axes: str, device) -> np.ndarray:
    """(a) normalise once, mirror-pad by the halo, one forward pass, crop."""
    stats = model.normalization.stats(image, axes=axes)
    x = model.normalization.apply(image, stats, axes=axes)
    halo = model.halo
    shape = model.valid_input_shape(tuple(s + 2 * h for s, h in zip(image.shape, halo)))
    pads = [(h, t - s - h) for s, h, t in zip(image.shape, halo, shape)]
    x = np.pad(x, pads, mode="reflect")
    amp = device.type == "cuda"
    with torch.inference_mode(), torch.autocast(device.type, torch.float16, enabled=amp):
        t = torch.from_numpy(x[None, None]).to(device).contiguous(memory_format=fmt)
        p = torch.softmax(net(t).float(), dim=1)[0]
        p = p[(slice(None), *(slice(h, h + s) for h, s in zip(halo, image.shape)))]
        return p.cpu().numpy()


def monai(model: UNet, net, fmt, image: np.ndarray, axes: str, device, roi) -> np.ndarray:
    """(c) MONAI sliding windows over the image normalised once."""
    from monai.inferers import sliding_window_inference

    stats = model.normalization.stats(image, axes=axes)
    x = torch.from_numpy(model.normalization.apply(image, stats, axes=axes)[None, None])
    amp = device.type == "cuda"

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(batch.contiguous(memory_format=fmt)).float(), dim=1)

    with torch.inference_mode(), torch.autocast(device.type, torch.float16, enabled=amp):
        p = sliding_window_inference(x.to(device), roi_size=roi, sw_batch_size=1,
                                     predictor=predictor, overlap=0.25, mode="gaussian")
    return p[0].cpu().numpy()


def bench(name: str, model: UNet, image: np.ndarray, axes: str, runs: int, device,
          with_untiled: bool = True) -> dict:
    net, fmt = fast_net(model, device)
    gen = predict(model, image, axes=axes, device=device)
    first = next(gen)
    gen.close()
    roi = first.tile_shape
    print(f"\n{name}: image {image.shape} {image.dtype}, model depth {model.depth}, "
          f"{model.base_channels} base channels, halo {model.halo}; engine default: "
          f"{first.total} tile(s) of {roi}, batch {first.batch_size}")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    methods = {
        "a": lambda: untiled(model, net, fmt, image, axes, device),
        "b": lambda: predict_image(model, image, axes=axes, device=device),
        "c": lambda: monai(model, net, fmt, image, axes, device, roi),
    }
    if not with_untiled:  # too big for one pass on this machine: (b) is the reference
        del methods["a"]
    ref = "a" if with_untiled else "b"
    times: dict[str, list[float]] = {k: [] for k in methods}
    results: dict[str, np.ndarray] = {}
    for _ in range(runs):
        for key, fn in methods.items():
            sync()
            t0 = time.perf_counter()
            results[key] = fn()
            sync()
            times[key].append(time.perf_counter() - t0)
    mpix = image.size / 1e6
    med = {k: statistics.median(v) for k, v in times.items()}
    for key, label in (("a", "untiled forward"), ("b", "napari-unet"), ("c", "MONAI sw 0.25")):
        if key not in methods:
            continue
        dp = np.abs(results[key] - results[ref]).max()
        print(f"  ({key}) {label:16s} median {med[key]:7.2f} s  {mpix / med[key]:7.2f} MP/s  "
              f"max|dp| {dp:.2e}  runs {[round(t, 2) for t in times[key]]}")
    ratios = {"b/c": med["c"] / med["b"]}
    if with_untiled:
        ratios["b/a"] = med["a"] / med["b"]
        ratios["dp_b"] = float(np.abs(results["b"] - results["a"]).max())
        print(f"  b/a = {ratios['b/a']:.2f} (target >= 0.85)   b/c = {ratios['b/c']:.2f} "
              f"(target >= 1.5)   max|dp| b = {ratios['dp_b']:.1e} (target <= 1e-3)")
    else:
        print(f"  b/c = {ratios['b/c']:.2f} (target >= 1.5); no untiled pass: it would need "
              "more memory than this machine has (exactness: see the rows above)")
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", choices=("2d", "3d", "3d-large"), default=None)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    print(f"device: {describe_device(device)}; torch {torch.__version__}")
    if args.only in (None, "2d"):
        img = image_2d()
        model = lively(UNet(dims=2, depth=4, base_channels=16), img, "YX")
        bench("2D EM", model, img, "YX", args.runs, device)
    if args.only in (None, "3d"):
        img = image_3d()
        model = lively(UNet(dims=3, depth=3, base_channels=8, inplane_levels=1), img, "ZYX")
        bench("3D nuclei", model, img, "ZYX", args.runs, device)
    if args.only in (None, "3d-large"):
        img = image_3d_large()
        model = lively(UNet(dims=3, depth=3, base_channels=8, inplane_levels=1), img, "ZYX")
        bench("3D nuclei, large", model, img, "ZYX", args.runs, device, with_untiled=False)


if __name__ == "__main__":
    main()
