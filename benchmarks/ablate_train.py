"""Ablation of the training defaults from random weights, at a fixed number of steps.

Why this exists: on ISBI strokes (``bench_train.py --cases strokes``) the engine's defaults
from random weights (``TrainConfig(start="none")``) scored below a naive U-Net in the same
60 s. This script changes one :class:`TrainConfig` field (or a few) at a time from those
defaults and scores each variant at the SAME step count, so machine load does not bias the
comparison; it also records steps/s so step counts can be translated to time budgets.

Cases (loaders and scorers imported from ``bench_train.py`` and ``bench_quality.py``):

``strokes``
    ISBI 2012, 1% strokes on images 0-4 (bench_train), membrane IoU and adapted Rand error
    on images 15-19.
``isbi_dense``
    bench_quality's dense ISBI case (images 0-14 -> 15-19), membrane IoU.
``dsb``
    bench_quality's DSB nuclei instances, F1 at IoU 0.5.

Every variant starts from ``TrainConfig(start="none", batch_size=4)`` (batch 4 is what the
CPU picks for 128 x 128 patches; ``--start auto`` begins from the shipped starting model
instead) plus the case's fields and the variant's overrides; see ``VARIANTS``. One JSON
line per run is appended to ``--out`` and a median table is printed.

Measured (12:00-12:55 UTC, 1 thread, 750 steps, 2 seeds; figures in the lead's RESULTS.md):
the defaults (0.55) beat a naive U-Net from random weights (0.52; 0.48 at 1500 steps, it
overfits without augmentation); the 0.624 "naive" row of bench_train had silently
fine-tuned the shipped starting model. No single change from the defaults gained more than
run-to-run noise; turning augmentation off lost 0.05.

Run (from the repository root; data from ``../shared/data``), e.g. on one pinned core::

    taskset -c 1 .venv/bin/python benchmarks/ablate_train.py --variants defaults,naive,depth4 \\
        --seeds 0,1 --steps 750 --threads 1
    .venv/bin/python benchmarks/ablate_train.py --case dsb --variants defaults,depth4 --steps 750
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import LOADERS, run_unet, score
from bench_train import (
    _strokes,
    isbi,
    run_train,
    score_membranes,
    unet_membranes,
)

from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.train import TrainConfig

_AUG = AugmentConfig().to_dict()


def _aug(**kw: Any) -> dict:
    return {**_AUG, **kw}


_FLIPS = AugmentConfig(scale=0.0, elastic=0.0, gamma=0.0, contrast=0.0, noise=0.0).to_dict()

#: bench_train's naive configuration, as overrides of the defaults.
NAIVE: dict[str, Any] = {
    "depth": 4,
    "lr": 1e-3,
    "schedule": "constant",
    "warmup_steps": 0,
    "dice_weight": 0.0,
    "augment": AugmentConfig.off().to_dict(),
    "balance": False,
    "val_fraction": 0.0,
}

#: Overrides of ``TrainConfig(start="none", batch_size=4)``. The first group moves one field
#: away from the defaults; the second puts one default back into ``naive`` (``naive+aug``).
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "naive": NAIVE,
    "depth4": {"depth": 4},
    "aug_off": {"augment": AugmentConfig.off().to_dict()},
    "no_elastic": {"augment": _aug(elastic=0.0)},
    "no_elastic_scale": {"augment": _aug(elastic=0.0, scale=0.0)},
    "flips_only": {"augment": _FLIPS},
    "no_flips": {"augment": _aug(flip=False, rotate90=False)},
    "mild": {"augment": _aug(elastic=3.0, elastic_p=0.25, scale=0.1)},
    "dice0": {"dice_weight": 0.0},
    "no_balance": {"balance": False},
    "lr1e-3": {"lr": 1e-3},
    "constant_lr": {"schedule": "constant"},
    "val0": {"val_fraction": 0.0},
    "patch256_b1": {"patch_shape": [256, 256], "batch_size": 1},
    "patch192_b2": {"patch_shape": [192, 192], "batch_size": 2},
    "batch8": {"batch_size": 8},
    "batch2": {"batch_size": 2},
    # defaults put back, one at a time, on top of "naive"
    "depth3": {"depth": 3},
    "aug": {"augment": _AUG},
    "dice05": {"dice_weight": 0.5},
    "balance": {"balance": True},
    "lr3e-3": {"lr": 3e-3},
    "cosine": {"schedule": "cosine", "warmup_steps": 20},
    "val01": {"val_fraction": 0.1},
}


def parse_variant(name: str) -> dict[str, Any]:
    """A named variant, or several joined by ``+`` (e.g. ``depth4+val0``)."""
    out: dict[str, Any] = {}
    for part in name.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r}; known: {', '.join(VARIANTS)}")
        out.update(VARIANTS[part])
    return out


def strokes_run(overrides: dict[str, Any], steps: int, seed: int, start: str = "none") -> dict:
    test = [isbi(i) for i in range(15, 20)]
    pairs = []
    for i in range(5):
        image, membrane = isbi(i)
        pairs.append((image, _strokes(membrane.astype(int), 2, i)))
    cfg = TrainConfig(start=start, batch_size=4, max_steps=steps, seed=seed)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    cfg = TrainConfig.from_dict(cfg.to_dict())  # re-validate
    t = time.perf_counter()
    model, done = run_train(cfg, pairs, "cpu")
    took = time.perf_counter() - t
    s = score_membranes(unet_membranes(model, [im for im, _ in test], "cpu"), [m for _, m in test])
    return {**s, "steps": done, "train_s": took, "steps_per_s": done / took}


def quality_run(case_name: str, overrides: dict[str, Any], steps: int, seed: int,
                start: str = "none") -> dict:
    case = LOADERS[case_name](False)
    case.config = {**case.config, "seed": seed, **overrides}
    probs, info = run_unet(case, steps=steps, seconds=None, device="cpu", start=start)
    s = score(case, probs)
    took = info["train_s"]
    return {
        "IoU": s["IoU"],
        "F1@0.5": s["F1@0.5"],
        "ARE": s["ARE"],
        "steps": info["steps"],
        "train_s": took,
        "steps_per_s": (info["steps"] or 0) / took,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", default="strokes", choices=["strokes", "isbi_dense", "dsb"])
    p.add_argument("--variants", default="defaults,naive", help="comma list; '+' combines")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--steps", type=int, default=750)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--start", default="none",
                   help="'none' (random weights) or 'auto' (the shipped starting model that fits)")
    p.add_argument("--out", default="ablate_train.jsonl", help="JSON lines appended per run")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if a.threads:
        torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    metric = "F1@0.5" if a.case == "dsb" else "IoU"
    rows = []
    for name in [v.strip() for v in a.variants.split(",") if v.strip()]:
        overrides = parse_variant(name)
        results = []
        for seed in seeds:
            if a.case == "strokes":
                r = strokes_run(overrides, a.steps, seed, a.start)
            else:
                r = quality_run(a.case, overrides, a.steps, seed, a.start)
            rec = {"case": a.case, "variant": name, "seed": seed, "threads": a.threads,
                   "start": a.start, **r}
            with open(a.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), file=sys.stderr, flush=True)
            results.append(r)
        each = [round(r[metric], 3) for r in results]
        rows.append(
            f"| {name} | {a.steps} | {len(seeds)} | {', '.join(map(str, each))} | "
            f"{statistics.median(each):.3f} | "
            f"{statistics.median(r['steps_per_s'] for r in results):.2f} |"
        )
    print(f"| variant ({a.case}, start {a.start}) | steps | seeds | {metric} each | median "
          "| steps/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
