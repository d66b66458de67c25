"""Quality per CPU minute from 1 % strokes on several kinds of data (issue 14).

Per kind (``em``: ISBI membranes, ``nuclei``: DSB, ``cells``: Usiigaci phase contrast,
``nuclei3d``: the PlantSeg nuclei volume painted on three slices, ``ovule3d``: the PlantSeg
ovule membranes, the same way; the loaders of
``bench_loop``/``bench_quality``), 1 % strokes (``../shared/tools/scribbles.py``) on the
painted images, scored on dev images nobody painted, at each time point (default 15, 30, 60 and
120 s of training, data preparation included; the clock pauses while a snapshot is scored):

* ``engine``: ``Trainer`` with its defaults (``start="auto"``: a shipped starting model when
  one fits, else random weights),
* ``random``: the same from random weights (``start="none"``),
* ``forest``: the ilastik recipe (``bench_quality.run_rf``: multiscale features, 50 trees), one
  fit on the same strokes; its fit time is in the table, and before it the forest shows nothing.

* ``--ablate key=value[,key=value]``: one more engine line with those ``TrainConfig`` fields
  (e.g. ``pseudo_labels=0.5``, self-labels on the unpainted pixels), same seeds and strokes.

Medians over seeds, then the issue's targets. Last, the speed of a training step: the engine's
pipeline against a bare float32 PyTorch step on the same batch (``bench_train.case_speed``).
Run alone on a quiet machine: ``.venv/bin/python benchmarks/bench_strokes.py`` (all kinds, 3
seeds; ``--seeds 1 --times 15,30,60`` for a shorter run; ``--quick``: a one-minute smoke run).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
import warnings
from typing import Any

import bench_loop as bl
import bench_quality as bq
import bench_train as bt
import numpy as np

from napari_unet.core.devices import describe_device
from napari_unet.core.progress import run
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.train import TrainConfig, train_segment

METHODS = {"engine": "engine (defaults)", "random": "engine, random weights",
           "forest": "random forest"}
#: Targets of issue 14 at 60 s (IoU of the structure on the dev images).
TARGET_60 = {"nuclei": 0.85, "cells": 0.70}


def engine_run(kind: bl.Kind, paints: list[np.ndarray], seed: int, times: list[float], *,
               start: str, device: str, quick: bool, extra: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """Train once with snapshots scored at ``times``, each the model a stop there would
    return (class prior included, ``config.prior``); the scoring pauses the budget."""
    cfg = {"axes": kind.case.axes, "dims": len(kind.case.axes), "seed": seed, "start": start,
           **{k: v for k, v in kind.case.config.items() if k != "class_names"},
           **(bl.TINY if quick else {}), "max_steps": None, "max_seconds": float(max(times)),
           **(extra or {})}
    t0, paused = time.perf_counter(), [0.0]
    tr = Trainer(TrainConfig(**cfg), list(zip(kind.images, paints)), device=device)
    todo, rows = sorted(times), {}

    def due(_record: Any = None) -> None:
        while todo and time.perf_counter() - t0 - paused[0] >= todo[0]:
            t = time.perf_counter()
            rows[todo.pop(0)] = bl.quality(kind, tr, tr.model_copy(prior=True))
            paused[0] += time.perf_counter() - t
            tr.exclude_time(time.perf_counter() - t)

    model = run(train_segment(tr), due)
    for t in todo:  # the budget ended first (or early stopping): the final model
        rows[t] = bl.quality(kind, tr, model)
    return {"rows": rows, "steps": tr.steps, "start": tr.start}


def forest_run(kind: bl.Kind, paints: list[np.ndarray], seed: int, times: list[float]
               ) -> dict[str, Any]:
    """One forest on the strokes; shown from its fit (and preview) time on."""
    n = len(kind.images)
    case = bq.Case(kind.case.name, "semantic", kind.case.axes, kind.images, paints, paints,
                   [*kind.images, *kind.dev], [])
    probs, info = bq.run_rf(case, seed=seed)
    q = bl.quality(kind, None, probs[n:])
    ready = info["train_s"]
    return {"rows": {t: q if t >= ready else dict.fromkeys(q, 0.0) for t in times},
            "fit_s": ready}


def summary(kind: bl.Kind, runs: list[dict[str, Any]], times: list[float]) -> list[str]:
    """Rows of the table (median over seeds) and the verdicts of the issue's targets."""
    metrics = ["IoU", *(["F1"] if kind.dev_objects is not None else [])]
    methods = [k for k in METHODS if k in runs[0]]
    lines, verdicts = [], []
    med: dict[tuple[str, str], list[float]] = {}
    for m in metrics:
        for k in methods:
            med[k, m] = [statistics.median(r[k]["rows"][t][m] for r in runs) for t in times]
            lines.append(f"| {kind.case.name} | {METHODS[k]} | {m} | "
                         + " | ".join(f"{v:.3f}" for v in med[k, m]) + " |")
    iou = {k: dict(zip(times, med[k, "IoU"])) for k in methods}
    if 60 in times:
        d = iou["engine"][60] - iou["forest"][60]
        verdicts.append(f"IoU >= forest + 0.05 at 60 s: {'met' if d >= 0.05 else 'MISSED'} "
                        f"({d:+.3f})")
        if kind.case.name in TARGET_60:
            goal = TARGET_60[kind.case.name]
            verdicts.append(f"IoU >= {goal} at 60 s: "
                            f"{'met' if iou['engine'][60] >= goal else 'MISSED'}")
        if kind.case.name == "em" and "random" in iou:
            verdicts.append(f"IoU >= 0.66 at 60 s from random weights: "
                            f"{'met' if iou['random'][60] >= 0.66 else 'MISSED'}")
    if 15 in times:
        d = iou["engine"][15] - iou["forest"][15]
        verdicts.append(f"IoU >= forest at 15 s: {'met' if d >= 0 else 'MISSED'} ({d:+.3f})")
    steps = statistics.median(r["engine"]["steps"] for r in runs)
    fit = statistics.median(r["forest"]["fit_s"] for r in runs)
    start = runs[0]["engine"]["start"]
    note = (f"<!-- {kind.case.name}: engine starts from {start}; {steps:.0f} steps; "
            f"forest fit {fit:.1f} s; " + "; ".join(verdicts) + " -->")
    return [*lines, note]


def seed_runs(kind: bl.Kind, paints: list[np.ndarray], seed: int, times: list[float],
              args: argparse.Namespace, ablate: dict[str, Any]) -> dict[str, Any]:
    """The methods' runs on one seed's strokes."""
    engine = functools.partial(engine_run, kind, paints, seed, times, device=args.device,
                               quick=args.quick)
    runs = {"engine": engine(start="auto")}
    if not args.no_random:
        runs["random"] = engine(start="none")
    runs["forest"] = forest_run(kind, paints, seed, times)
    if ablate:
        runs["ablate"] = engine(start="auto", extra=ablate)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default="em,nuclei,cells,nuclei3d")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--times", default="15,30,60,120")
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="crops, a tiny net, 2D kinds only")
    p.add_argument("--no-speed", action="store_true", help="skip the step-speed comparison")
    p.add_argument("--no-random", action="store_true",
                   help="skip the random-weights line (e.g. for an ablation)")
    p.add_argument("--ablate", default="", help="key=value,... TrainConfig fields of an extra "
                   "engine line, e.g. pseudo_labels=0.5")
    args = p.parse_args(argv)
    ablate = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.ablate.split(",")
                                            if kv)}
    if ablate:
        METHODS["ablate"] = "engine, " + ", ".join(f"{k}={v}" for k, v in ablate.items())
    warnings.filterwarnings("ignore")
    times = [float(t) for t in args.times.split(",")]
    kinds = [k for k in args.kinds.split(",") if not (args.quick and k.endswith("3d"))]
    print(f"# bench_strokes: {describe_device(args.device)}; {time.strftime('%Y-%m-%d %H:%M')}"
          f" UTC; seeds {args.seeds}; times {args.times} s\n")
    print("| kind | method | metric | " + " | ".join(f"{t:g} s" for t in times) + " |")
    print("|---" * (len(times) + 3) + "|", flush=True)
    notes = []
    for name in kinds:
        kind = bl.load_kind(name, args.quick)
        runs = []
        for seed in range(args.seeds):
            paints = bl.paint_first(kind, seed)
            runs.append(seed_runs(kind, paints, seed, times, args, ablate))
        rows = summary(kind, runs, times)
        print("\n".join(rows[:-1]), flush=True)
        notes.append(rows[-1])
    print("\n" + "\n".join(n.removeprefix("<!-- ").removesuffix(" -->") for n in notes))
    if not args.no_speed:
        s = bt.case_speed(args.device)[0]
        print(f"\nspeed: engine {s['pipeline steps/s']:.1f} steps/s, bare float32 step "
              f"{s['bare steps/s']:.1f} steps/s, ratio {s['ratio']:.2f} (target >= 1.5 on CPUs "
              f"with native bfloat16)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
