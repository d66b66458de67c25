"""Training engine benchmark: what a time budget on this machine buys, beside references.

Run (from the repository root; data from ``../shared/data``)::

    .venv/bin/python benchmarks/bench_train.py                        # every case
    .venv/bin/python benchmarks/bench_train.py --cases strokes --runs 3
    .venv/bin/python benchmarks/bench_train.py --cases strokes,speed --seconds 30
    .venv/bin/python benchmarks/bench_train.py --write                # also update RESULTS.md

Cases (all scored on images that no method trained on):

``strokes``
    ISBI 2012 EM membranes, brush strokes over ~1% of the pixels
    (``../shared/tools/scribbles.py``, seed = image index) on images 0-4, 60 s. Methods:
    ``engine`` (:func:`napari_unet.core.training.train` with the :class:`TrainConfig` defaults,
    which start from the shipped EM starting model when the data look alike: it was trained
    on dense masks of images 5-14, see ``scripts/train_start_model.py``), ``scratch`` (the
    same from random weights),
    ``naive`` (a plain U-Net: 4 levels x 16 channels, Adam 1e-3 constant, cross-entropy only,
    no augmentation, uniform patches, same budget) and ``rf`` (scikit-image
    ``multiscale_basic_features`` + scikit-learn ``RandomForestClassifier(100)`` on the same
    strokes, not time-limited). Scored on images 15-19: membrane IoU and adapted Rand error
    of the cells (connected non-membrane regions; membrane pixels of the truth ignored).
``dense``
    The same with the dense masks of images 0-14, 300 s (``engine`` and ``rf``).
``dsb``
    DSB 2018 fluorescence nuclei (60 images; every 5th held out, 48 train / 12 test),
    instance targets (background / interior / boundary with border weights), 300 s, then
    :func:`napari_unet.core.objects.frames.instances`; F1 at IoU 0.5 over the test set.
``nuclei3d``
    PlantSeg 3D nuclei (100^3), strokes on slices 25, 50 and 75 only, 180 s: a 3D model, and
    a 2D model trained on the painted slices and run slice by slice; F1 at IoU 0.5 on the
    whole volume of the objects: ``F1@0.5`` the 3D connected components of the predicted
    foreground (:func:`components`, min 30 voxels), ``F1 split`` the nuclei class split where
    nuclei touch (:func:`napari_unet.core.objects.frames.structure_objects`, what Predict gives a
    semantic model; min 30 voxels), ``F1 split min200`` the same without objects under 200
    voxels (the truth's smallest tenth are ~220).
``speed``
    Steps/s of the full pipeline (patch sampling + augmentation on the device + step) over
    steps/s of bare training steps on one fixed batch, same model and batch size.

``--runs N`` repeats the stochastic U-Net rows with seeds 0..N-1 and prints medians.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image

from napari_unet.core.devices import describe_device
from napari_unet.core.metrics import adapted_rand_error, match_dataset
from napari_unet.core.model import UNet
from napari_unet.core.objects.frames import instances, structure_objects
from napari_unet.core.prediction.predict import predict_image
from napari_unet.core.progress import run
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TOOLS = ROOT.parent / "shared" / "tools"


def _read(path: Path) -> np.ndarray:
    return (
        tifffile.imread(path) if path.suffix in (".tif", ".tiff") else np.asarray(Image.open(path))
    )


def _strokes(classes: np.ndarray, n: int, seed: int) -> np.ndarray:
    sys.path.insert(0, str(TOOLS))
    from scribbles import strokes

    return strokes(classes, n, fraction=0.01, seed=seed)


def isbi(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Image and membrane mask (bool) of ISBI image ``i``."""
    d = DATA / "isbi2012_em_membrane"
    return _read(d / "images" / f"{i}.png"), _read(d / "masks" / f"{i}.png") == 0


def naive_config(seconds: float, seed: int) -> TrainConfig:
    return TrainConfig(
        depth=4,
        base_channels=16,
        lr=1e-3,
        schedule="constant",
        warmup_steps=0,
        dice_weight=0.0,
        augment=AugmentConfig.off().to_dict(),
        balance=False,
        prior="off",
        val_fraction=0.0,
        keep="last",
        max_steps=None,
        max_seconds=seconds,
        seed=seed,
        batch_size=4,
        start="none",  # from random weights: the default "auto" fine-tunes the EM start model
    )


def run_train(config: TrainConfig, pairs, device: str):
    last = []
    model = run(train(config, pairs, device=device), last.append)
    return model, (last[-1].step if last else 0)


# --- ISBI -----------------------------------------------------------------------------------


def _cells(membrane: np.ndarray) -> np.ndarray:
    from skimage.measure import label

    return label(~membrane, connectivity=1)


def membrane_iou(preds: list[np.ndarray], truths: list[np.ndarray]) -> float:
    """Membrane IoU pooled over images (intersections and unions summed)."""
    inter = sum(int((p & t).sum()) for p, t in zip(preds, truths))
    union = sum(int((p | t).sum()) for p, t in zip(preds, truths))
    return inter / union


def score_membranes(preds: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    are = [adapted_rand_error(_cells(p), _cells(t))[0] for p, t in zip(preds, truths)]
    return {"IoU": membrane_iou(preds, truths), "ARE": float(np.mean(are))}


def unet_membranes(model: UNet, images: list[np.ndarray], device: str) -> list[np.ndarray]:
    return [predict_image(model, im, axes="YX", device=device)[1] > 0.5 for im in images]


def rf_features(image: np.ndarray) -> np.ndarray:
    from skimage.feature import multiscale_basic_features

    x = image.astype(np.float32)
    lo, hi = np.percentile(x, [1, 99.8])
    return multiscale_basic_features((x - lo) / (hi - lo), sigma_min=1, sigma_max=16)


def rf_fit_predict(pairs, images, *, max_pixels: int = 200_000, seed: int = 0):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for image, paint in pairs:
        f = rf_features(image)
        m = np.flatnonzero(paint > 0)
        keep = (
            m
            if m.size * len(pairs) <= max_pixels
            else rng.choice(m, max_pixels // len(pairs), replace=False)
        )
        xs.append(f.reshape(-1, f.shape[-1])[keep])
        ys.append(paint.ravel()[keep])
    rf = RandomForestClassifier(100, n_jobs=-1, random_state=seed)
    rf.fit(np.concatenate(xs), np.concatenate(ys))
    out = []
    for im in images:
        f = rf_features(im)
        out.append(rf.predict(f.reshape(-1, f.shape[-1])).reshape(im.shape))
    return out


def case_isbi(dense: bool, seconds: float, runs: int, device: str, methods: list[str]) -> list:
    train_ids = range(15) if dense else range(5)
    test = [isbi(i) for i in range(15, 20)]
    images, truths = [t[0] for t in test], [t[1] for t in test]
    pairs = []
    for i in train_ids:
        image, membrane = isbi(i)
        paint = (membrane + 1).astype(np.uint8) if dense else _strokes(membrane.astype(int), 2, i)
        pairs.append((image, paint))  # 1 = cell interior, 2 = membrane
    name = "dense" if dense else "strokes"
    rows = []
    for method in methods:
        if method == "rf":
            t = time.perf_counter()
            preds = [p == 2 for p in rf_fit_predict(pairs, images)]
            s = score_membranes(preds, truths)
            rows.append(
                {
                    "case": name,
                    "method": "rf",
                    **s,
                    "seconds": time.perf_counter() - t,
                    "steps": None,
                }
            )
            continue
        results = []
        for seed in range(runs):
            if method == "naive":
                cfg = naive_config(seconds, seed)
            elif method == "scratch":  # the engine without a starting model
                cfg = TrainConfig(max_steps=None, max_seconds=seconds, seed=seed, start="none")
            else:
                cfg = TrainConfig(max_steps=None, max_seconds=seconds, seed=seed)
            t = time.perf_counter()
            model, steps = run_train(cfg, pairs, device)
            took = time.perf_counter() - t
            s = score_membranes(unet_membranes(model, images, device), truths)
            results.append({**s, "seconds": took, "steps": steps})
        rows.append(_median_row(name, method, results))
    return rows


def _median_row(case: str, method: str, results: list[dict]) -> dict:
    row = {"case": case, "method": method, "runs": len(results)}
    for k in results[0]:
        row[k] = statistics.median(r[k] for r in results)
    row["all"] = [round(r.get("IoU", r.get("F1@0.5", 0)), 3) for r in results]
    return row


# --- instances ------------------------------------------------------------------------------


def case_dsb(seconds: float, runs: int, device: str) -> list:
    d = DATA / "dsb2018_fluo_nuclei"
    names = sorted(p.stem for p in (d / "images").glob("*.png"))
    pairs = [(_read(d / "images" / f"{n}.png"), _read(d / "masks" / f"{n}.tif")) for n in names]
    test = pairs[4::5]
    trainset = [p for i, p in enumerate(pairs) if i % 5 != 4]
    results = []
    for seed in range(runs):
        cfg = TrainConfig(task="instances", max_steps=None, max_seconds=seconds, seed=seed)
        t = time.perf_counter()
        model, steps = run_train(cfg, trainset, device)
        took = time.perf_counter() - t
        preds = [
            instances(predict_image(model, im, axes="YX", device=device), min_size=15)
            for im, _ in test
        ]
        f1 = match_dataset(preds, [m for _, m in test], thresholds=0.5)[0].f1
        results.append({"F1@0.5": f1, "seconds": took, "steps": steps})
    return [_median_row("dsb", "engine", results)]


def drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """A copy of ``labels`` without the objects under ``min_size`` pixels."""
    small = np.bincount(labels.ravel()) < min_size
    small[0] = False
    return np.where(small[labels], 0, labels)


def components(foreground: np.ndarray, min_size: int = 30) -> np.ndarray:
    """Objects: 3D connected components of the foreground, those under ``min_size`` dropped.
    (On the true foreground: F1@0.5 0.85; the split of structure_objects 0.99, min 30.)"""
    from skimage.measure import label

    return drop_small(label(foreground), min_size)


def case_nuclei3d(seconds: float, runs: int, device: str) -> list:
    d = DATA / "plantseg_nuclei3d"
    vol = _read(d / "images" / "1135_mini.tif")
    truth = _read(d / "masks" / "1135_mini.tif")
    paint = np.zeros(vol.shape, np.uint8)
    for z in (25, 50, 75):
        paint[z] = _strokes((truth[z] > 0).astype(int), 2, z)
    rows = []
    for kind in ("3D model", "2D model"):
        results = []
        for seed in range(runs):
            if kind == "3D model":
                cfg = TrainConfig(
                    axes="ZYX",
                    dims=3,
                    inplane_levels=1,
                    max_steps=None,
                    max_seconds=seconds,
                    seed=seed,
                )
            else:  # a 2D model trained on the painted slices (Z named T: a stack of planes)
                cfg = TrainConfig(
                    axes="TYX", dims=2, max_steps=None, max_seconds=seconds, seed=seed
                )
            t = time.perf_counter()
            model, steps = run_train(cfg, [(vol, paint)], device)
            took = time.perf_counter() - t
            prob = predict_image(model, vol, axes="ZYX", device=device)
            # objects: connected components (what this row reported first), and the
            # structure class split where nuclei touch (core.class_objects; what Predict gives)
            split = structure_objects(prob, min_size=30)
            f1 = {
                "F1@0.5": components(prob[1] > 0.5),
                "F1 split": split,
                "F1 split min200": drop_small(split, 200),
            }
            f1 = {k: match_dataset([v], [truth], thresholds=0.5)[0].f1 for k, v in f1.items()}
            results.append({**f1, "seconds": took, "steps": steps})
        rows.append(_median_row("nuclei3d", f"engine, {kind}", results))
    return rows


# --- speed ----------------------------------------------------------------------------------


def case_speed(device: str, steps: int = 40) -> list:
    image, membrane = isbi(0)
    paint = _strokes(membrane.astype(int), 2, 0)
    # random weights: a shipped starting model (4 x 24 for EM) would not be the bare step's net;
    # no affinity term (which "auto" adds to strokes from random weights): the bare step computes
    # the same loss without it, and the comparison is of the step's machinery, not of the loss
    cfg = TrainConfig(max_steps=steps + 10, val_fraction=0.0, prior="off", keep="last",
                      start="none", affinity=0.0)
    gen = train(cfg, [(image, paint)], device=device)
    marks = {}
    batch = 4
    for rec in gen:
        if rec.phase == "train" and rec.step in (10, steps + 10):
            marks[rec.step] = time.perf_counter()
        batch = rec.batch_size or batch
    pipeline = steps / (marks[steps + 10] - marks[10])
    dev = torch.device(
        device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    model = UNet(depth=cfg.depth, base_channels=cfg.base_channels).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 128, 128, device=dev)
    y = torch.randint(0, 2, (batch, 128, 128), device=dev)
    from napari_unet.core.training.losses import segmentation_loss

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out = model(x)
        loss = segmentation_loss(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    bare = steps / (time.perf_counter() - t)
    return [
        {
            "case": "speed",
            "method": "engine",
            "pipeline steps/s": pipeline,
            "bare steps/s": bare,
            "ratio": pipeline / bare,
        }
    ]


# --- output ---------------------------------------------------------------------------------

COLUMNS = [
    "case",
    "method",
    "IoU",
    "ARE",
    "F1@0.5",
    "F1 split",
    "F1 split min200",
    "steps",
    "seconds",
    "runs",
    "all",
    "pipeline steps/s",
    "bare steps/s",
    "ratio",
]


def table(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(text: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    head, sep, rest = old.partition("## Training")
    tail = ""
    if sep:
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
    path.write_text(head.rstrip() + "\n\n## Training\n\n" + text.strip() + "\n" + tail)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="strokes,dense,dsb,nuclei3d,speed")
    p.add_argument("--methods", default="engine,scratch,naive,rf", help="for the ISBI cases")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="override every case's budget (strokes 60, dense/dsb 300, 3D 180)",
    )
    p.add_argument("--runs", type=int, default=1, help="seeds per U-Net row (medians)")
    p.add_argument("--device", default="auto")
    p.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    methods = [m.strip() for m in a.methods.split(",")]
    budget = {"strokes": 60.0, "dense": 300.0, "dsb": 300.0, "nuclei3d": 180.0}
    if a.seconds:
        budget = dict.fromkeys(budget, a.seconds)
    rows: list[dict] = []
    for case in cases:
        t = time.perf_counter()
        if case in ("strokes", "dense"):
            ms = methods if case == "strokes" else [m for m in methods if m in ("engine", "rf")]
            rows += case_isbi(case == "dense", budget[case], a.runs, a.device, ms)
        elif case == "dsb":
            rows += case_dsb(budget["dsb"], a.runs, a.device)
        elif case == "nuclei3d":
            rows += case_nuclei3d(budget["nuclei3d"], a.runs, a.device)
        elif case == "speed":
            rows += case_speed(a.device)
        else:
            p.error(f"unknown case {case!r}")
        print(f"[{case}: {time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
        print(json.dumps(rows[-1], default=str), file=sys.stderr, flush=True)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"`{' '.join(['benchmarks/bench_train.py', *(argv or sys.argv[1:])])}` on "
        f"{describe_device(a.device)}, torch {torch.__version__}, {when}; budgets "
        f"{ {c: budget[c] for c in cases if c in budget} } s; median of {a.runs} run(s)."
    )
    out = head + "\n\n" + table(rows)
    print(out)
    if a.write:
        write_results(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
