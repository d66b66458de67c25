"""Segmentation quality on real data: the U-Net beside a random-forest pixel classifier.

One command trains and scores every case with fixed budgets and prints one table, which it also
writes to the ``## Quality`` section of ``benchmarks/RESULTS.md``::

    .venv/bin/python benchmarks/bench_quality.py                      # everything
    .venv/bin/python benchmarks/bench_quality.py --quick              # a small subset, minutes
    .venv/bin/python benchmarks/bench_quality.py --cases dsb,nuclei3d --seconds 60

Cases (data from ``../shared/data``, see its README; train/test splits are fixed):

* ``isbi_strokes``: ISBI 2012 EM membranes, trained on simulated brush strokes over about 1% of
  the pixels (``../shared/tools/scribbles.py``); scored on dense masks of held-out images.
* ``isbi_dense``: the same, trained on the dense masks.
* ``dsb``: DSB 2018 fluorescence nuclei, instances (3-class targets: background, interior,
  boundary, then the seeded watershed of :mod:`napari_unet.core.objects.frames`).
* ``usiigaci``: Usiigaci phase-contrast T98G cells, instances.
* ``nuclei3d``: PlantSeg 3D confocal nuclei, instances, in physical units (voxel size ZYX).

Each case has two rows: ``unet`` (:func:`napari_unet.core.training.train.train` from random weights,
then :func:`napari_unet.core.prediction.predict.predict_image`) and ``rf``, a random forest on
``skimage.feature.multiscale_basic_features`` (the ilastik recipe) trained on the same paintings
(strokes, dense classes or the same 3-class instance targets) and followed by the same
post-processing. Both see images normalised by the same per-image percentile rule.
``--methods unet-start`` adds a U-Net row that may begin from a shipped starting model.

Scores (:mod:`napari_unet.core.metrics`): ``IoU`` is the membrane IoU for ISBI and the
foreground (object vs background) IoU for instance cases; ``F1@0.5``, ``AP@0.5`` (= TP / (TP +
FP + FN)) and ``AP@0.75`` match objects (for ISBI: the connected regions between membranes);
``ARE`` is the adapted Rand error of those objects. Counts are summed over the test images.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
from PIL import Image
from scipy import ndimage as ndi

from napari_unet.core.devices import describe_device, resolve_device
from napari_unet.core.metrics import adapted_rand_error, class_scores, match_dataset
from napari_unet.core.normalize import Normalization
from napari_unet.core.objects.frames import instances, probabilities_to_classes
from napari_unet.core.objects.tuning import model_instance_options
from napari_unet.core.progress import run
from napari_unet.core.training.targets import instance_targets

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
ROWS = ROOT / "benchmarks" / "quality_rows.json"
RF_TREES = 50
RF_SAMPLES = 60_000

TARGETS = {"isbi_dense": ("IoU", 0.75), "dsb": ("F1@0.5", 0.88), "usiigaci": ("F1@0.5", 0.75)}


# ------------------------------------------------------------------------------------ data


def _read(path: Path) -> np.ndarray:
    if path.suffix in (".tif", ".tiff"):
        return tifffile.imread(path)
    return np.asarray(Image.open(path))


def _pairs(folder: str) -> list[tuple[Path, Path]]:
    lines = (DATA / folder / "pairs.csv").read_text().splitlines()[1:]
    rows = [line.split(",") for line in lines if line.strip()]
    return [(DATA / folder / r[0], DATA / folder / r[1]) for r in rows]


def _scribbles() -> Callable[..., np.ndarray]:
    spec = importlib.util.spec_from_file_location("scribbles", SHARED / "tools" / "scribbles.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(SHARED / "tools" / "scribbles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.strokes


@dataclass
class Case:
    """One benchmark case: images, the paintings to train on, ground truth to score on."""

    name: str
    task: str  # "semantic" (ISBI) or "instances"
    axes: str
    train_images: list[np.ndarray]
    train_targets: list[np.ndarray]  # what train() gets: paintings or instance masks
    rf_paintings: list[np.ndarray]  # the same supervision as painting values for the forest
    test_images: list[np.ndarray]
    test_truth: list[np.ndarray]  # ISBI: classes 1 membrane / 2 interior; else instance ids
    spacing: tuple[float, ...] | None = None
    min_size: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


def _isbi(strokes: bool, quick: bool) -> Case:
    pairs = _pairs("isbi2012_em_membrane")
    train, test = (pairs[:4], pairs[15:17]) if quick else (pairs[:15], pairs[15:])
    imgs = [_read(i) for i, _ in train]
    classes = [(_read(m) > 127).astype(np.int64) for _, m in train]  # 0 membrane, 1 interior
    if strokes:
        paint = _scribbles()
        paintings = [paint(c, 2, fraction=0.01, seed=k) for k, c in enumerate(classes)]
    else:
        paintings = [(c + 1).astype(np.uint8) for c in classes]
    return Case(
        name="isbi_strokes" if strokes else "isbi_dense",
        task="semantic",
        axes="YX",
        train_images=imgs,
        train_targets=paintings,
        rf_paintings=paintings,
        test_images=[_read(i) for i, _ in test],
        test_truth=[(_read(m) > 127).astype(np.uint8) + 1 for _, m in test],
        config={"class_names": ["membrane", "cell"]},
    )


def _instances_case(
    name: str, folder: str, train_idx: Sequence[int], test_idx: Sequence[int], **kw: Any
) -> Case:
    pairs = _pairs(folder)
    load = [(_read(pairs[i][0]), _read(pairs[i][1]).astype(np.int32)) for i in train_idx]
    test = [(_read(pairs[i][0]), _read(pairs[i][1]).astype(np.int32)) for i in test_idx]
    return Case(
        name=name,
        task="instances",
        axes="YX",
        train_images=[i for i, _ in load],
        train_targets=[m for _, m in load],
        rf_paintings=[instance_targets(m, w0=0.0)[0] for _, m in load],
        test_images=[i for i, _ in test],
        test_truth=[m for _, m in test],
        **kw,
    )


def _dsb(quick: bool) -> Case:
    n = len(_pairs("dsb2018_fluo_nuclei"))
    test = list(range(2, n, 3))  # every third image, all sizes represented
    train = [i for i in range(n) if i not in test]
    if quick:
        train, test = train[::4], test[::4]
    return _instances_case("dsb", "dsb2018_fluo_nuclei", train, test, min_size=15.0)


def _usiigaci(quick: bool) -> Case:
    train, test = ([0, 1], [9]) if quick else (list(range(7)), [7, 8, 9])
    case = _instances_case(
        "usiigaci",
        "usiigaci_phc_t98g",
        train,
        test,
        min_size=100.0,
        config={"depth": 4, "patch_shape": [192, 192]},
    )
    return case


def _nuclei3d(quick: bool) -> Case:
    (img_path, mask_path), *_ = _pairs("plantseg_nuclei3d")
    vol, lab = tifffile.imread(img_path), tifffile.imread(mask_path).astype(np.int32)
    spacing = (0.28372, 0.12679, 0.12679)
    # The halves are parts of one image: normalise once over the whole volume (the halves'
    # own percentiles differ a lot here), and tell the U-Net the images are normalised.
    vol = _normalised(vol, "ZYX")
    half = vol.shape[1] // 2  # train on the top half (Y), test on the bottom half
    train_lab = lab[:, :half]
    return Case(
        name="nuclei3d",
        task="instances",
        axes="ZYX",
        train_images=[vol[:, :half]],
        train_targets=[train_lab],
        rf_paintings=[instance_targets(train_lab, w0=0.0)[0]],
        test_images=[vol[:, half:]],
        test_truth=[lab[:, half:]],
        spacing=spacing,
        min_size=20 * float(np.prod(spacing)),  # 20 voxels, in um^3
        config={
            "dims": 3,
            "patch_shape": [24, 48, 48],
            "inplane_levels": 1,
            "batch_size": 2,
            "normalization": {"mode": "none"},
        },
    )


LOADERS: dict[str, Callable[[bool], Case]] = {
    "isbi_strokes": lambda q: _isbi(True, q),
    "isbi_dense": lambda q: _isbi(False, q),
    "dsb": _dsb,
    "usiigaci": _usiigaci,
    "nuclei3d": _nuclei3d,
}


# --------------------------------------------------------------------------------- methods


def _normalised(image: np.ndarray, axes: str) -> np.ndarray:
    if image.dtype == np.float32:  # normalised by the case already (see _nuclei3d)
        return image
    rule = Normalization()
    return rule.apply(np.asarray(image), rule.stats(image, axes=axes), axes=axes)


def run_unet(
    case: Case, *, steps: int, seconds: float, device: str, start: str = "none"
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Train on the case's targets, predict probabilities for its test images.

    ``start="none"`` trains from random weights (the comparison with the forest);
    ``"auto"`` lets ``train`` begin from a shipped starting model when one fits.
    """
    from napari_unet.core.prediction.predict import predict_image
    from napari_unet.core.training.train import TrainConfig, train

    cfg: dict[str, Any] = {"task": case.task, "axes": case.axes, "dims": len(case.axes)}
    # the test images are held out already: train on every painted pixel, keep the last weights
    cfg.update(seed=0, val_fraction=0.0, keep="last", batch_size=4, start=start)
    cfg.update(case.config)
    cfg.update(max_steps=steps, max_seconds=seconds or None)
    config = TrainConfig(**cfg)
    t0 = time.perf_counter()
    gen = train(config, list(zip(case.train_images, case.train_targets)), device=device)
    records = []
    model = run(gen, records.append)
    last = records[-1] if records else None
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    probs = [
        np.asarray(predict_image(model, img, axes=case.axes, device=device))
        for img in case.test_images
    ]
    info = {
        "train_s": train_s,
        "predict_s": time.perf_counter() - t0,
        "steps": getattr(last, "step", None),
        "start": str((model.meta.get("training") or {}).get("start", "")),
        # post-processing fitted to the training masks by train() (instance models)
        "options": model_instance_options(model.meta, case.spacing, len(case.axes)),
    }
    return probs, info


def _features(image: np.ndarray, axes: str) -> np.ndarray:
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(
        _normalised(image, axes), sigma_min=1.0, sigma_max=16.0, channel_axis=None
    ).astype(np.float32)


def run_rf(
    case: Case, *, max_samples: int = RF_SAMPLES, seed: int = 0
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """A random forest on multiscale features, trained on the painted pixels."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    xs, ys = [], []
    for img, paint in zip(case.train_images, case.rf_paintings, strict=True):
        feats = _features(img, case.axes)
        painted = np.flatnonzero(paint.ravel() > 0)
        xs.append(feats.reshape(-1, feats.shape[-1])[painted])
        ys.append(paint.ravel()[painted])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(y) > max_samples:
        pick = rng.choice(len(y), max_samples, replace=False)
        x, y = x[pick], y[pick]
    forest = RandomForestClassifier(
        n_estimators=RF_TREES, min_samples_leaf=2, n_jobs=-1, random_state=seed
    )
    forest.fit(x, y)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    k = int(max(p.max() for p in case.rf_paintings))
    probs = []
    for img in case.test_images:
        feats = _features(img, case.axes)
        p = forest.predict_proba(feats.reshape(-1, feats.shape[-1]))
        full = np.zeros((k, p.shape[0]), np.float32)
        full[np.asarray(forest.classes_, int) - 1] = p.T
        probs.append(full.reshape((k, *img.shape)))
    return probs, {"train_s": train_s, "predict_s": time.perf_counter() - t0, "steps": None}


# ---------------------------------------------------------------------------------- scores


def score(
    case: Case, probs: list[np.ndarray], options: dict[str, Any] | None = None
) -> dict[str, float]:
    """Same post-processing and metrics for every method; instance ``options`` fitted to the
    U-Net when training (the forest keeps the defaults: its probabilities on its own training
    pixels are near-perfect, nothing to fit them on)."""
    if case.task == "semantic":  # ISBI: membrane IoU; objects = regions between membranes
        classes = [probabilities_to_classes(p) for p in probs]
        iou = _pooled_iou(classes, case.test_truth, 1)
        pred_obj = [ndi.label(c == 2)[0] for c in classes]
        true_obj = [ndi.label(t == 2)[0] for t in case.test_truth]
    else:
        pred_obj = [
            instances(p, spacing=case.spacing, min_size=case.min_size, **(options or {}))
            for p in probs
        ]
        true_obj = case.test_truth
        iou = _pooled_iou([(o > 0) + 1 for o in pred_obj], [(t > 0) + 1 for t in true_obj], 2)
    m = match_dataset(pred_obj, true_obj, thresholds=(0.5, 0.75))
    are = float(np.mean([adapted_rand_error(p, t)[0] for p, t in zip(pred_obj, true_obj)]))
    return {
        "IoU": iou,
        "F1@0.5": m[0].f1,
        "AP@0.5": m[0].average_precision,
        "AP@0.75": m[1].average_precision,
        "ARE": are,
        "objects": float(m[0].n_pred),
        "true objects": float(m[0].n_true),
    }


def _pooled_iou(preds: list[np.ndarray], truths: list[np.ndarray], cls: int) -> float:
    """IoU of one class with pixel counts pooled over the test images."""
    stack = np.concatenate([p.ravel() for p in preds])
    truth = np.concatenate([t.ravel() for t in truths])
    return float(class_scores(stack, truth, classes=[cls], ignore=None)["iou"][0])


# ----------------------------------------------------------------------------------- table

COLUMNS = ["IoU", "F1@0.5", "AP@0.5", "AP@0.75", "ARE", "objects", "true objects"]
ORDER = {name: i for i, name in enumerate(LOADERS)}


def primary(case: str) -> str:
    """The metric a case is judged by: membrane IoU for ISBI, F1 at IoU 0.5 for objects."""
    return "IoU" if case.startswith("isbi") else "F1@0.5"


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table, one row per (case, method); U-Net rows show their ratio to the RF."""
    head = ["case", "method", *COLUMNS, "vs RF", "train s", "predict s", "steps", "budget"]
    head.append("target")
    rf = {r["case"]: r for r in rows if r["method"] == "rf"}
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        metric = primary(r["case"])
        ref = rf.get(r["case"], {}).get(metric)
        ratio = f"{metric} x{r[metric] / ref:.2f}" if r["method"] != "rf" and ref else ""
        cells = [r["case"], r["method"]]
        cells += [
            f"{r[c]:.0f}" if c in ("objects", "true objects") else f"{r[c]:.3f}" for c in COLUMNS
        ]
        cells.append(ratio)
        cells += [f"{r['train_s']:.0f}", f"{r['predict_s']:.1f}", str(r.get("steps") or "-")]
        cells += [r.get("budget", ""), r.get("target", "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target(name: str, method: str, scores: dict[str, float]) -> str:
    if name not in TARGETS or method == "rf":
        return ""
    metric, floor = TARGETS[name]
    return f"{metric} >= {floor}: {'met' if scores[metric] >= floor else 'MISSED'}"


def merge_rows(new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of earlier full runs (``quality_rows.json``) updated with this run's rows."""
    old = json.loads(ROWS.read_text()) if ROWS.exists() else []
    done = {(r["case"], r["method"]) for r in new}
    rows = [r for r in old if (r["case"], r["method"]) not in done] + new
    rank = {"unet": 0, "unet-start": 1, "rf": 2}
    rows.sort(key=lambda r: (ORDER.get(r["case"], 99), rank.get(r["method"], 3)))
    ROWS.write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def write_results(text: str) -> None:
    """Replace (or add) the ``## Quality`` section of RESULTS.md, leaving the rest alone."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Quality"), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        gap = [""] if end < len(lines) else []
        section = [*text.rstrip("\n").splitlines(), *gap]
        new = "\n".join([*lines[:start], *section, *lines[end:]]) + "\n"
    RESULTS.write_text(new)


# ------------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(LOADERS), help="comma-separated case names")
    ap.add_argument("--quick", action="store_true", help="few images, short budget; writes nothing")
    ap.add_argument("--steps", type=int, default=None, help="U-Net step budget per case")
    ap.add_argument("--seconds", type=float, default=None,
                    help="U-Net time budget per case (0: none, the step budget alone: use it "
                    "when other jobs load the machine)")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--methods",
        default="unet,rf",
        help="unet (random start), rf, unet-start (from a shipped starting model if one fits)",
    )
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    a = ap.parse_args(argv)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in LOADERS]
    if unknown:
        ap.error(f"unknown cases {unknown}; choose from {list(LOADERS)}")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    if not methods or set(methods) - {"unet", "rf", "unet-start"}:
        ap.error(f"--methods: expected unet, rf, unet-start, found {a.methods!r}")
    if not DATA.is_dir():
        print(f"data folder {DATA} not found", file=sys.stderr)
        return 2
    gpu = resolve_device(a.device).type == "cuda"
    steps = a.steps or (200 if a.quick else (3000 if gpu else 2000))
    seconds = (40.0 if a.quick else (300.0 if gpu else 150.0)) if a.seconds is None else a.seconds
    device = describe_device(a.device)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for name in cases:
        case = LOADERS[name](a.quick)
        for method in methods:
            t0 = time.perf_counter()
            if method in ("unet", "unet-start"):
                start = "auto" if method == "unet-start" else "none"
                probs, info = run_unet(
                    case, steps=steps, seconds=seconds, device=a.device, start=start
                )
                budget = f"{steps} steps / {seconds:.0f} s, {device}" if seconds else (
                    f"{steps} steps, no time limit, {device}")
                if method == "unet-start":
                    budget += f"; {info['start'].split(' (')[0]}"
            else:
                probs, info = run_rf(case)
                budget = f"{RF_TREES} trees / {RF_SAMPLES // 1000}k px, CPU"
            options = info.pop("options", None)
            s = score(case, probs, options)
            if options:
                budget += "; fitted " + ", ".join(f"{k} {v:.3g}" for k, v in options.items())
            row = {"case": name, "method": method, **s, **info, "budget": budget, "when": when}
            row["target"] = _target(name, method, s)
            rows.append(row)
            print(
                f"{name:13s} {method:5s} "
                + " ".join(f"{c}={s[c]:.3f}" for c in COLUMNS[:5])
                + f"  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    write = not (a.no_write or a.quick)
    shown = merge_rows(rows) if write else rows
    dates = sorted({r.get("when", "") for r in shown})
    text = (
        "## Quality\n\n"
        "Written by `.venv/bin/python benchmarks/bench_quality.py` (see its docstring; rows of"
        " the latest run of each case and method are kept in"
        f" `benchmarks/quality_rows.json`). Runs: {', '.join(dates)}; torch {torch.__version__},"
        f" {platform.machine()}.\n\n"
        "U-Net: `TrainConfig` defaults (3 levels, 16 channels; Usiigaci 4 levels) with batch 4"
        " (3D: 2), random initial weights, no validation split, last weights, trained until the"
        " step or time budget (data preparation included); `unet-start` rows begin from the"
        ' shipped starting model that `train` picks (`start="auto"`) when one fits.'
        " Random forest: multiscale_basic_features (sigma 1-16) on"
        " the same normalised images and paintings. Same post-processing for both: argmax"
        " classes; instances by the seeded watershed (`core.postprocess.instances`, min_size"
        " per case), with the thresholds `train` fitted to the training masks for U-Net rows"
        " run since 12:00 UTC (shown in the budget column; `core.instance_tuning`) and the"
        " defaults for the forest and older rows. Rows trained by steps alone (\"no time"
        " limit\") were run while other jobs loaded the machine; the step budget is what 150 s"
        " gave on the idle machine.\n"
        "IoU: membrane IoU (ISBI) or foreground IoU (instance cases); F1 and AP (= TP / (TP + FP"
        " + FN)) at IoU 0.5 and 0.75 with counts summed over the test images (ISBI objects: the"
        " connected regions between membranes); ARE: adapted Rand error, mean over test"
        " images. vs RF: the U-Net's judged metric (ISBI: IoU; objects: F1@0.5) over the"
        " forest's. One run per row, fixed seeds (no medians: training is the slow part).\n\n"
        + table(shown)
        + "\n\n"
        "ISBI dense, target 0.75: the truth's own centrelines drawn at the best single width score"
        " 0.760 against the truth (`benchmarks/isbi_ceiling.py`; the annotated width varies"
        " 6.0-8.1 px from slice to slice), so 0.75 asks for a perfect membrane finder that also"
        " guesses each slice's annotation width; see the Training notes.\n"
    )
    print()
    print(text)
    if write:
        write_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
