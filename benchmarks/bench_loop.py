"""The interactive loop as a user lives it: the quality of what the preview shows, over time.

Per kind of data, a session through the API the Train widget uses (``Trainer``, ``train_segment``,
``update_labels``, ``ShallowClassifier``): 1 % strokes at t = 0 (``../shared/tools/scribbles.py``),
more at 20 s and 40 s over the preview's biggest mistakes (from the truth), never stopped; between
records what the widget does (refit the shallow classifier on new strokes, show it until the
U-Net's held-out IoU reaches its own, preview the first image's view in 10 % of the wall time,
left out of the training budget). At each time point the clock and the budget pause while a
snapshot is scored on held-out dev images (``engine``: what is shown, a shallow classifier
normalised as the preview is, by its fitting rule and the first image's statistics; ``U-Net``
alone; ``forest``: the ilastik loop, ``bench_quality.run_rf`` refitted at each stroke batch,
its later strokes where *its* preview is wrong, shown once fitted and previewed on a simulated
timeline), at the first record after the time point (0 = nothing shown yet); medians over
seeds. Kinds: ``em`` (ISBI, 3 images; membrane IoU on 5), ``nuclei`` (DSB, 4; foreground IoU
and object F1 at IoU 0.5 on 20), ``cells`` (Usiigaci, 2; the same on 3), ``nuclei3d``
(PlantSeg top half painted on 3 slices, bottom half scored; 3D), ``ovule3d`` (PlantSeg ovule
membranes, the same split on 3 of 32
slices; boundary IoU). Last, Stop pressed 3 times (Continue between) on an 8000 x 8000 dask image
while its 1024 x 1024 view is previewed between records: the wait, the previews' share. Run
``.venv/bin/python benchmarks/bench_loop.py`` (all, 3 seeds; ``--quick``: a one-minute smoke run).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import statistics
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bench_quality as bq
import bench_train as bt
import dask.array as da
import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from napari_unet.core.devices import describe_device
from napari_unet.core.metrics import match_dataset
from napari_unet.core.normalize import Normalization
from napari_unet.core.objects.frames import probabilities_to_classes, structure_objects
from napari_unet.core.prediction.predict import predict_image
from napari_unet.core.progress import run
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.preview import Previewer, first_answer_data
from napari_unet.core.training.shallow import ShallowClassifier
from napari_unet.core.training.train import TrainConfig, train_segment

FIRST, MORE, MIN_ERROR, SHARE, VIEW = 0.01, 0.005, 20, 0.1, 1024
TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4}
#: ShallowClassifier options of the engine's first answer (``--shallow``; default: its own).
SHALLOW: dict[str, Any] = {}
LINES = {"engine": "engine, as shown", "unet": "U-Net only", "forest": "forest (ilastik loop)"}


@dataclass
class Kind:
    """A bench_quality case as a session sees it: the user's images with their truth
    (0 = background, 1 = the structure), the dev images with theirs."""
    case: bq.Case
    images: list[np.ndarray]
    truth: list[np.ndarray]
    dev: list[np.ndarray]
    dev_truth: list[np.ndarray]
    dev_objects: list[np.ndarray] | None  # instance ids, where object F1 is scored
    slices: tuple[int, ...] = ()  # 3D: the slices painted first


def load_kind(name: str, quick: bool) -> Kind:
    """A kind from the loaders of bench_quality (``--quick``: one 192 x 192 crop of each)."""
    loaders = {"em": lambda q: bq._isbi(False, q), "nuclei": bq._dsb, "cells": bq._usiigaci,
               "nuclei3d": bq._nuclei3d, "ovule3d": _ovule3d}
    if name not in loaders:
        raise ValueError(f"--kinds: expected one of {sorted(loaders)}, found {name!r}")
    c = loaders[name](quick)
    n = {"em": 3, "nuclei": 4, "cells": 2, "nuclei3d": 1, "ovule3d": 1}[name]
    c.name = name
    if name == "em":  # dense paintings, 1 = membrane: the membrane is the structure
        truth, dev = [t == 1 for t in c.train_targets[:n]], [t == 1 for t in c.test_truth]
    else:
        truth, dev = [t > 0 for t in c.train_targets[:n]], [t > 0 for t in c.test_truth]
    membranes = name in ("em", "ovule3d")  # scored as pixels only, not as objects
    kind = Kind(c, c.train_images[:n], [t.astype(np.uint8) for t in truth], c.test_images,
                [t.astype(np.uint8) for t in dev], None if membranes else c.test_truth,
                {"nuclei3d": (25, 50, 75), "ovule3d": (8, 16, 24)}.get(name, ()))
    for f in ("images", "truth", "dev", "dev_truth", "dev_objects") if quick else ():
        if getattr(kind, f) is not None:  # --quick: 2D only
            setattr(kind, f, [getattr(kind, f)[0][:192, :192]])
    return kind


def _ovule3d(quick: bool) -> bq.Case:
    """The PlantSeg ovule volume (cell-membrane stain, 32 x 128 x 128): the top half (Y)
    painted on three slices, the bottom half scored; the structure is the cell boundaries
    (two voxels thick, from the dense cell ids)."""
    (img_path, mask_path), *_ = bq._pairs("plantseg_ovule_cells3d")
    vol = bq._normalised(tifffile.imread(img_path), "ZYX")  # once, as for nuclei3d
    membrane = find_boundaries(tifffile.imread(mask_path), mode="thick").astype(np.uint8)
    half = vol.shape[1] // 2
    return bq.Case("ovule3d", "semantic", "ZYX", [vol[:, :half]], [membrane[:, :half]],
                   [membrane[:, :half] + 1], [vol[:, half:]], [membrane[:, half:]],
                   spacing=(0.235, 0.15, 0.15),
                   config={"dims": 3, "patch_shape": [16, 48, 48], "inplane_levels": 1,
                           "batch_size": 2, "normalization": {"mode": "none"}})


@functools.cache
def _scribble() -> Any:
    return bq._scribbles()


def paint_first(kind: Kind, seed: int) -> list[np.ndarray]:
    """1 % strokes on each image (3D: on its ``slices``): 0 = unpainted, class + 1."""
    out = [np.zeros(t.shape, np.uint8) for t in kind.truth]
    for i, (t, p) in enumerate(zip(kind.truth, out)):
        for z in kind.slices if t.ndim == 3 else [...]:  # 2D: [...] is the whole image
            z_seed = 1000 * seed + i + (z if t.ndim == 3 else 0)
            p[z] = _scribble()(t[z], 2, fraction=FIRST, seed=z_seed)
    return out


def paint_more(truth: np.ndarray, shown: np.ndarray, paint: np.ndarray, seed: int
               ) -> np.ndarray:
    """``paint`` plus strokes of the true class over the biggest mistakes of ``shown``."""
    if truth.ndim == 3:  # a person paints the two slices that look worst
        out = paint.copy()
        wrong = ((shown != truth) & (paint == 0)).sum((1, 2))
        for z in np.argsort(wrong)[::-1][:2]:
            out[z] = paint_more(truth[z], shown[z], paint[z], seed + int(z))
        return out
    wrong = bt.drop_small(ndi.label((shown != truth) & (paint == 0))[0], MIN_ERROR) > 0
    region = ndi.binary_dilation(wrong, iterations=2) & (paint == 0)
    new = _scribble()(np.where(region, truth, -1), 2, fraction=MORE, seed=seed)
    return np.where(paint > 0, paint, new).astype(np.uint8)


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def normalised(trainer: Trainer, image: Any, rule: tuple[Any, Any] | None = None
               ) -> np.ndarray:
    """``(1, *spatial)`` float32: ``image`` as the U-Net sees it (one-channel images), or as
    ``rule`` (a normalisation and its statistics) normalises it."""
    axes, a = trainer.config.axes, np.asarray(image)
    norm, stats = rule if rule is not None else (trainer.net.normalization, None)
    stats = stats if stats is not None else norm.stats(a, axes=axes)
    return np.asarray(norm.apply(a, stats, axes=axes), np.float32)[None]


class Previews:
    """The widget's work between two records, through the core :class:`Previewer` the widget
    uses (the same choice of what is shown, the same time share, Stop between tiles, preview
    time left out of the budget), plus the costs this benchmark reports."""

    def __init__(self, previewer: Previewer, view: Any, axes: str) -> None:
        self.pv, self.view, self.axes = previewer, view, axes
        self.spent, self.costs = 0.0, {"shallow": [], "U-Net": []}
        # how each shallow classifier's previews are normalised: the rule it was fitted with
        # (the first answer's is the config's, before a starting model brings its own) and
        # the statistics of the first training image, as the preview does (not each dev
        # image's own: on nuclei3d those scored 0.26 against 0.66)
        self.rules: dict[ShallowClassifier, tuple[Any, Any]] = {}

    @property
    def stop(self) -> threading.Event:
        return self.pv.stop

    @stop.setter
    def stop(self, event: threading.Event) -> None:
        self.pv.stop = event

    @property
    def shallow(self) -> ShallowClassifier | None:
        return self.pv.shallow

    def refit(self, data: Any = None) -> None:
        self.pv.refit(data if data is not None else self.pv.trainer.data)
        if self.pv.shallow is not None:
            self.rules.setdefault(self.pv.shallow, (self.pv.norm, self.pv.stats))

    def shown(self) -> str:
        return self.pv.source() or "shallow"

    def maybe(self) -> None:
        if not self.stop.is_set() and self.pv.allowed():
            self.preview()

    def preview(self) -> bool:
        """One preview of the view; whether something was shown."""
        t = time.perf_counter()
        shown = self.pv.predict(self.view, self.axes)
        dt = time.perf_counter() - t
        self.spent += dt
        if shown is not None:
            self.costs[shown[1]].append(dt)
        return shown is not None


def quality(kind: Kind, trainer: Trainer | None, model: Any,
            rule: tuple[Any, Any] | None = None) -> dict[str, float]:
    """Pooled IoU of the structure, object F1 at IoU 0.5 (where scored) on the dev images."""
    probs = model if isinstance(model, list) else probabilities(trainer, model, kind.dev, rule)
    classes = [probabilities_to_classes(p) for p in probs]
    q = {"IoU": bq._pooled_iou(classes, [t + 1 for t in kind.dev_truth], 2)}
    if kind.dev_objects is not None:
        objs = [structure_objects(p, spacing=kind.case.spacing, min_size=kind.case.min_size)
                for p in probs]
        q["F1"] = match_dataset(objs, kind.dev_objects, thresholds=0.5)[0].f1
    return q


def probabilities(trainer: Trainer, model: Any, images: list[np.ndarray],
                  rule: tuple[Any, Any] | None = None) -> list[np.ndarray]:
    """Of a U-Net (``predict_image``) or a shallow classifier, on images normalised as the
    U-Net's rule (or ``rule``) does."""
    if isinstance(model, ShallowClassifier):
        return [model.predict_proba(normalised(trainer, im, rule)) for im in images]
    return [predict_image(model, im, axes=trainer.config.axes, device=trainer.device)
            for im in images]


def _view(kind: Kind) -> np.ndarray:
    image = kind.images[0]
    if image.ndim == 3:  # 3D: a slab of 16 slices around the middle painted slice
        z = kind.slices[len(kind.slices) // 2]
        return image[max(0, z - 8): z + 8]
    return image[:VIEW, :VIEW]


def engine_session(kind: Kind, seed: int, times: list[float], marks: list[float], *,
                   device: str, quick: bool, start: str) -> dict[str, Any]:
    """One session of the engine: what is shown and what the U-Net does at ``times``."""
    paints, todo, marks = paint_first(kind, seed), sorted(times), sorted(marks)
    out: dict[str, Any] = {"engine": {}, "unet": {}}
    cfg = {"axes": kind.case.axes, "dims": len(kind.case.axes), "seed": seed, "start": start,
           **{k: v for k, v in kind.case.config.items() if k != "class_names"},
           **(TINY if quick else {}), "max_steps": None}
    t_start, paused, cache, n_marks = time.perf_counter(), [0.0], {}, len(marks)

    def now() -> float:  # the session's clock: scoring pauses it, and the trainer's budget
        return time.perf_counter() - t_start - paused[0]

    @contextmanager
    def pause() -> Iterator[None]:
        t = time.perf_counter()
        yield
        paused[0] += time.perf_counter() - t
        tr.exclude_time(time.perf_counter() - t)

    config = TrainConfig(**cfg, max_seconds=float(max(times)))
    pairs = list(zip(kind.images, paints))
    # as the widget: the first answer from the strokes, before the trainer is built
    previewer = Previewer(Normalization.from_dict(config.normalization), kind.images[0],
                          config.axes, threading.Event(), SHALLOW, seed=config.seed)
    pv = Previews(previewer, _view(kind), config.axes)
    pv.refit(first_answer_data(config, pairs, previewer.norm))
    first = now() if pv.preview() else None
    tr = Trainer(config, pairs, device=device)
    previewer.attach(tr)
    if first is None and pv.preview():
        first = now()

    def snapshot(t: float, model: Any = None) -> None:
        with pause():
            u, src = quality(kind, tr, model or tr.model_copy()), pv.shown()
            if src == "shallow" and pv.shallow not in cache:
                cache[pv.shallow] = quality(kind, tr, pv.shallow, pv.rules.get(pv.shallow))
            shown = {**(u if src == "U-Net" else cache[pv.shallow]), "source": src}
            seen = first is not None and t >= first
            out["engine"][t] = shown if seen else {**dict.fromkeys(u, 0.0), "source": "-"}
            out["unet"][t] = u

    def due() -> None:
        while todo and now() >= todo[0]:
            snapshot(todo.pop(0))
        if marks and now() >= marks[0]:
            marks.pop(0)
            with pause():
                shown = tr.model_copy() if pv.shown() == "U-Net" else pv.shallow
                probs = probabilities(tr, shown, kind.images, pv.rules.get(shown))
                for i, (t, p) in enumerate(zip(kind.truth, probs)):
                    batch = 1000 * seed + 100 * (n_marks - len(marks)) + i
                    paints[i] = paint_more(t, p.argmax(0), paints[i], batch)
                    tr.update_labels(i, None, paints[i])

    due()
    model = run(train_segment(tr), lambda record: (
        pv.refit() if record.phase in ("prepare", "labels") else None, pv.maybe(), due()))
    while todo:  # the budget is spent: the final model from here on
        snapshot(todo.pop(0), model)
    return {**out, "first": first if first is not None else float("nan"), "steps": tr.steps,
            "preview": pv.costs}


def forest_session(kind: Kind, seed: int, times: list[float], marks: list[float]
                   ) -> tuple[dict[float, dict[str, float]], float]:
    """The ilastik loop on its own timeline: refit at each stroke batch, shown when done."""
    paints, n, versions = paint_first(kind, seed), len(kind.images), []
    starts = [0.0, *sorted(m for m in marks if m < max(times))]
    for b, start in enumerate(starts):
        case = bq.Case(kind.case.name, "semantic", kind.case.axes, kind.images, paints, paints,
                       [*kind.images, *kind.dev], [])
        probs, info = bq.run_rf(case, seed=seed)
        share = _view(kind).size / sum(im.size for im in case.test_images)
        versions.append((start + info["train_s"] + share * info["predict_s"],
                         quality(kind, None, probs[n:])))
        if b + 1 < len(starts):
            paints = [paint_more(t, p.argmax(0), pa, 1000 * seed + 100 * (b + 1) + i)
                      for i, (t, p, pa) in enumerate(zip(kind.truth, probs[:n], paints))]
    rows = {t: max((v for v in versions if v[0] <= t), key=lambda v: v[0],
                   default=(0.0, dict.fromkeys(versions[0][1], 0.0)))[1] for t in times}
    return rows, versions[0][0]


def summary(kind: Kind, runs: list[dict[str, Any]], times: list[float]) -> str:
    """One table per metric (medians over seeds) and the targets of the issue."""
    lines = [f"### {kind.case.name}: {len(kind.images)} image(s) painted, {len(kind.dev)} held-out "
             f"dev image(s), median of {len(runs)} seed(s)"]
    verdicts = []
    for m in ["IoU", *(["F1"] if kind.dev_objects is not None else [])]:
        med = {k: [statistics.median(r[k][t][m] for r in runs) for t in times] for k in LINES}
        diff = [e - f for e, f in zip(med["engine"], med["forest"])]
        lines += ["", f"{m}:", "| line | " + " | ".join(f"{t:g} s" for t in times) + " |",
                  "|---" * (len(times) + 1) + "|"]
        lines += [f"| {LINES[k]} | " + " | ".join(f"{v:.3f}" for v in med[k]) + " |"
                  for k in LINES]
        lines.append("| engine - forest | " + " | ".join(f"{d:+.3f}" for d in diff) + " |")
        bad = ", ".join(f"{t:g} s" for t, d in zip(times, diff) if d < 0)
        verdicts.append(f"{m} >= forest at every time: {f'MISSED at {bad}' if bad else 'met'}")
        if m == "IoU" and 60 in times:
            d = diff[times.index(60)]
            verdicts.append(f"IoU >= forest + 0.05 at 60 s: {_met(d >= 0.05)} ({d:+.3f})")
    shown = [statistics.mode(r["engine"][t]["source"] for r in runs) for t in times]
    mid = {k: statistics.median(r[k] for r in runs) for k in ("first", "forest_first", "steps")}
    cost = ", ".join(f"{k} {statistics.median(c):.2f} s" for k in ("shallow", "U-Net")
                     if (c := [c for r in runs for c in r["preview"][k]]))
    return "\n".join([*lines, "| shown | " + " | ".join(shown) + " |", "", f"first preview: "
                      f"engine {mid['first']:.2f} s, forest {mid['forest_first']:.2f} s; a "
                      f"preview of the view: {cost}; U-Net steps: {mid['steps']:.0f}",
                      "targets: " + "; ".join(verdicts)])


def stop_latency(device: str, *, side: int, stops: int, quick: bool) -> str:
    """Stop pressed while previews of a 1024 x 1024 view run between records."""
    image, membrane = bt.isbi(0)
    big = da.tile(da.from_array(image, chunks=512), (-(-side // 512),) * 2)[:side, :side]
    paint = np.zeros((side, side), np.uint8)
    strokes = _scribble()(membrane.astype(np.int64), 2, fraction=FIRST, seed=0)
    paint[:512, :512] = paint[512:1024, 512:1024] = strokes  # the corner the view shows
    config = TrainConfig(max_steps=None, max_seconds=120.0, **(TINY if quick else {}))
    tr = Trainer(config, [(big, paint)], device=device)
    previewer = Previewer(tr.net.normalization, big, "YX", threading.Event())
    previewer.attach(tr)
    pv = Previews(previewer, big[:VIEW, :VIEW], "YX")
    pv.refit()
    waits, t0 = [], time.perf_counter()
    for k in range(stops):
        pv.stop, pressed = threading.Event(), []
        timer = threading.Timer(4.0 if quick else 10.0 - 2.5 * k, lambda e=pv.stop, p=pressed: (
            p.append(time.perf_counter()), e.set()))
        gen = train_segment(tr, stop=pv.stop, max_seconds=120.0)
        timer.start()
        run(gen, lambda record: (pv.refit() if record.phase == "labels" else None, pv.maybe()))
        waits.append(time.perf_counter() - pressed[0] if pressed else float("nan"))
        timer.cancel()
    share, w = pv.spent / (time.perf_counter() - t0), max(waits)
    cost = {k: f"{statistics.median(v):.2f} s" for k, v in pv.costs.items() if v}
    return (f"### Stop on a {side} x {side} dask image (a preview of {VIEW} x {VIEW}: {cost})\n"
            f"Stop latency: {', '.join(f'{v:.2f}' for v in waits)} s (target <= 1 s: "
            f"{_met(w <= 1)}); preview share: {100 * share:.1f} % of "
            f"{time.perf_counter() - t0:.0f} s (target <= 10 %: {_met(share <= SHARE)})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default, text in [
            ("--kinds", "em,nuclei,cells,nuclei3d", ""), ("--seeds", 3, "medians over these"),
            ("--times", "2,5,10,20,40,60,120", "seconds of wall time"),
            ("--strokes-at", "20,40", "seconds: more strokes"), ("--device", "auto", ""),
            ("--start", "auto", "TrainConfig.start (auto: the widget's)"),
            ("--stop-side", 8000, "side of the Stop image (0: no Stop measurement)"),
            ("--shallow", "", "ShallowClassifier options, e.g. sigma_max=16,max_samples=20000")]:
        p.add_argument(flag, default=default, type=type(default), help=text)
    p.add_argument("--quick", action="store_true", help="tiny sizes and times: a smoke run")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if a.quick:
        a.kinds, a.seeds, a.times, a.strokes_at = "em,nuclei,cells", 1, "1,3,6", "2,4"
        a.stop_side = 2048
    SHALLOW.update({k: float(v) if k == "sigma_max" else int(v) for k, v in
                    (kv.split("=") for kv in a.shallow.split(",") if kv.strip())})
    times = [float(t) for t in a.times.split(",")]
    marks = [float(t) for t in a.strokes_at.split(",") if t.strip()]
    importlib.import_module("sklearn.ensemble")  # warm: both loops use it, a napari pays once
    print(f"bench_loop on {describe_device(a.device)}; times {times} s; strokes at 0 and "
          f"{marks} s; start={a.start}; shallow {SHALLOW or 'defaults'}", flush=True)
    for name in [k.strip() for k in a.kinds.split(",") if k.strip()]:
        kind, runs, t = load_kind(name, a.quick), [], time.perf_counter()
        for seed in range(a.seeds):
            e = engine_session(kind, seed, times, marks, device=a.device, quick=a.quick,
                               start=a.start)
            e["forest"], e["forest_first"] = forest_session(kind, seed, times, marks)
            runs.append(e)
        print(summary(kind, runs, times), f"\n[{name}: {time.perf_counter() - t:.0f} s]\n",
              flush=True)
    if a.stop_side:
        print(stop_latency(a.device, side=a.stop_side, stops=1 if a.quick else 3,
                           quick=a.quick), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
