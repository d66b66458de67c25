"""CPU prediction in bfloat16 against float32: speed, quality and tiling exactness, per kind.

For each kind of data (``em``: ISBI 2012 EM, membranes; ``nuclei``: DSB 2018 fluorescence
nuclei; ``cells``: Usiigaci phase-contrast cells; held-out dev images from ``../shared/data``
through ``bench_loop.load_kind``, the first ``--images`` of them, 3 by default) and its trained
shipped starting model (``em_membranes``, ``fluo_nuclei``, ``phc_cells``), this runs
``predict_image(model, image, device="cpu")`` with ``amp=False`` (float32) and ``amp=True``
(bfloat16 autocast) at the default tiles and prints one markdown table of:

* throughput: megapixels of the images per second of ``predict_image`` (normalisation, tiling
  and the forward passes: what a user waits for), median of ``--runs`` runs after one untimed
  warm-up run; the runs alternate float32 and bfloat16 so that load from other processes hits
  both alike; and the ratio bf16/f32;
* quality: pooled IoU (over the images) of ``argmax == structure`` (channel 1, painting value 2)
  against the dev truth, in both precisions, and the difference; the share of pixels whose
  class differs between the two;
* max |dp|: the largest difference of a class probability between bfloat16 and float32;
* tiled vs untiled: max |dp| between the default tiles and a forced small ``tile_shape``
  (``--tile``; default ``min(256, shortest side // 2)``, so every image is cut in several tiles),
  within bfloat16 and, for reference, within float32.

Then one line with ``cpu_has_native_bf16()`` and ``torch.get_num_threads()``.

Targets (the issue: bfloat16 only "where it keeps tiled == untiled exact within the same
precision and costs no measurable quality"): tiled vs untiled in bfloat16 max |dp| == 0 (float32
itself is within 1e-5 here); IoU bf16 - IoU f32 >= -0.001 for every kind (no loss bigger than
the fourth decimal; a gain is no cost); and a speed-up of at least 1.1x for every kind
(``precision.MIN_GAIN``, the bar training uses). All three were met on a 2-core AMD EPYC with
AVX-512 BF16 (benchmarks/RESULTS.md), so ``predict``'s default is bfloat16 on CPUs that compute
it natively (``amp=None``); this benchmark sets ``amp`` explicitly either way.

Run ``.venv/bin/python benchmarks/bench_predict_precision.py`` (3 runs, a few minutes on 2
cores); ``--quick``: one 192 x 192 crop per kind, one run, a smoke test of well under a minute.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch
from bench_loop import load_kind

from napari_unet.core.devices import describe_device
from napari_unet.core.prediction.precision import precision_name
from napari_unet.core.prediction.predict import predict, predict_image
from napari_unet.core.progress import run
from napari_unet.core.training.precision import MIN_GAIN, cpu_has_native_bf16
from napari_unet.core.training.start_models import load_start_model

MODELS = {"em": "em_membranes", "nuclei": "fluo_nuclei", "cells": "phc_cells"}
STRUCTURE = 1  # model channel of the structure (painting value 2)
MAX_IOU_LOSS = 0.001


def _predict(model: Any, image: np.ndarray, amp: bool, tile: Any = None
             ) -> tuple[np.ndarray, int]:
    """Probabilities and the number of tiles used."""
    records: list = []
    probs = run(predict(model, image, axes="YX", device="cpu", amp=amp, tile_shape=tile),
                records.append)
    return probs, records[0].total


def _pooled_iou(probs: list[np.ndarray], truth: list[np.ndarray]) -> float:
    inter = union = 0
    for p, t in zip(probs, truth):
        pred, t = p.argmax(0) == STRUCTURE, t.astype(bool)
        inter += int((pred & t).sum())
        union += int((pred | t).sum())
    return inter / max(union, 1)


def _max_dp(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def bench_kind(name: str, quick: bool, runs: int, n_images: int, tile: int | None) -> dict:
    """The row of one kind."""
    kind = load_kind(name, quick)
    images, truth = kind.dev[:n_images], kind.dev_truth[:n_images]
    model, _ = load_start_model(MODELS[name])
    mpix = sum(im.size for im in images) / 1e6
    # Warm-up run (untimed: oneDNN builds its kernels per shape and dtype): its probabilities
    # are the ones scored; prediction is deterministic.
    probs: dict[bool, list[np.ndarray]] = {}
    tiles: dict[bool, list[int]] = {}
    for amp in (False, True):
        out = [_predict(model, im, amp) for im in images]
        probs[amp], tiles[amp] = [p for p, _ in out], [n for _, n in out]
    speed: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(runs):
        for amp in (False, True):
            t = time.perf_counter()
            for im in images:
                predict_image(model, im, axes="YX", device="cpu", amp=amp)
            speed[amp].append(mpix / (time.perf_counter() - t))
    small = tile or min(256, min(min(im.shape) for im in images) // 2)
    tiled: dict[bool, float] = {}
    n_small = 0
    for amp in (False, True):
        out = [_predict(model, im, amp, small) for im in images]
        tiled[amp] = _max_dp([p for p, _ in out], probs[amp])
        n_small = sum(n for _, n in out)
    f32, bf16 = statistics.median(speed[False]), statistics.median(speed[True])
    iou32, iou16 = _pooled_iou(probs[False], truth), _pooled_iou(probs[True], truth)
    flipped = sum(int((a.argmax(0) != b.argmax(0)).sum()) for a, b in zip(probs[False],
                                                                           probs[True]))
    return {
        "kind": name, "model": MODELS[name], "images": len(images), "mpix": mpix,
        "tiles": (sum(tiles[False]), sum(tiles[True])), "f32": f32, "bf16": bf16,
        "ratio": bf16 / f32, "iou32": iou32, "iou16": iou16, "diou": iou16 - iou32,
        "flipped": flipped / (mpix * 1e6), "dp": _max_dp(probs[True], probs[False]),
        "small": small, "n_small": n_small, "tiled16": tiled[True], "tiled32": tiled[False],
    }


def table(rows: list[dict]) -> str:
    """The markdown table of the rows."""
    head = ("| kind | model | images (MP) | default tiles f32/bf16 | f32 MP/s | bf16 MP/s "
            "| bf16/f32 | IoU f32 | IoU bf16 | ΔIoU | class flips | max \\|dp\\| bf16 vs f32 "
            "| small tile (tiles) | tiled vs untiled bf16 | tiled vs untiled f32 |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['model']} | {r['images']} ({r['mpix']:.2f}) "
            f"| {r['tiles'][0]}/{r['tiles'][1]} | {r['f32']:.3f} | {r['bf16']:.3f} "
            f"| {r['ratio']:.2f}x | {r['iou32']:.4f} | {r['iou16']:.4f} | {r['diou']:+.4f} "
            f"| {100 * r['flipped']:.3f} % | {r['dp']:.4f} | {r['small']} ({r['n_small']}) "
            f"| {r['tiled16']:.1e} | {r['tiled32']:.1e} |")
    return "\n".join(lines)


def verdict(rows: list[dict]) -> list[str]:
    """One line per target: met or MISSED."""
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    exact = all(r["tiled16"] == 0.0 for r in rows)
    quality = all(r["diou"] >= -MAX_IOU_LOSS for r in rows)
    speed = all(r["ratio"] >= MIN_GAIN for r in rows)
    return [f"- tiled == untiled within bfloat16 (max |dp| == 0): {met(exact)}",
            f"- ΔIoU (bf16 - f32) >= -{MAX_IOU_LOSS} for every kind: {met(quality)}",
            f"- bfloat16 at least {MIN_GAIN}x as fast for every kind: {met(speed)}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per precision")
    parser.add_argument("--quick", action="store_true",
                        help="one 192 x 192 crop per kind, one run: a smoke test")
    parser.add_argument("--kinds", default="em,nuclei,cells",
                        help="comma-separated, of " + ", ".join(MODELS))
    parser.add_argument("--images", type=int, default=3, help="dev images per kind (first N)")
    parser.add_argument("--tile", type=int, default=None,
                        help="the forced small tile side (default: min(256, shortest side // 2))")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in MODELS]
    if bad:
        parser.error(f"--kinds: expected some of {sorted(MODELS)}, found {bad}")
    t0 = time.perf_counter()
    rows = [bench_kind(k, args.quick, runs, args.images, args.tile) for k in kinds]
    print(f"Prediction on {describe_device('cpu')}: float32 (amp=False, "
          f"'{precision_name('cpu', False)}') vs amp=True ('{precision_name('cpu', True)}'); "
          f"{'--quick, ' if args.quick else ''}median of {runs} run(s), first {args.images} "
          "dev image(s) per kind\n")
    print(table(rows))
    print()
    print("\n".join(verdict(rows)))
    print(f"\ncpu_has_native_bf16() = {cpu_has_native_bf16()}, "
          f"torch.get_num_threads() = {torch.get_num_threads()}, torch {torch.__version__}; "
          f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
