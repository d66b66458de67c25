"""How responsive napari stays while napari-unet trains and predicts.

A 10 ms QTimer pings the main thread; the lateness of each ping is a stall. Printed for an idle
viewer (the reference, measured in the same run), during training from the EM sample's
strokes, and during prediction of a 2048 x 2048 image; medians over several runs.
Targets: max stall <= 100 ms, p95 <= 30 ms.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_gui_latency.py
        [--runs 3] [--train-seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def measure(app, busy, seconds: float | None = None) -> tuple[float, float]:
    """Max and 95th percentile of ping lateness (ms) while ``busy()`` is true (or for seconds)."""
    from qtpy.QtCore import QTimer

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000 - 10)
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    start = time.perf_counter()
    while busy() if seconds is None else time.perf_counter() - start < seconds:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    lateness = np.maximum(np.asarray(gaps[1:] or [0.0]), 0)
    return float(lateness.max()), float(np.percentile(lateness, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--train-seconds", type=float, default=20)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.open_sample("napari-unet", "em_membranes")
    _, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    _, predict = viewer.window.add_plugin_dock_widget("napari-unet", "Predict")
    app = QApplication.instance()
    em = viewer.layers["EM membranes"]
    big = np.tile(em.data, (4, 4))
    viewer.add_image(big, name="big EM", scale=em.scale, units=em.units)
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("probabilities", "classes"))

    rows: dict[str, list[tuple[float, float]]] = {"idle": [], "training": [], "prediction": []}
    for run in range(args.runs):
        rows["idle"].append(measure(app, None, seconds=3))
        train.image_combo.setCurrentText("EM membranes")
        train.budget_kind.setCurrentText("seconds")
        train.budget_spin.setValue(int(args.train_seconds))
        train.start()
        rows["training"].append(measure(app, lambda: train.busy))
        predict.image_combo.setCurrentText("big EM")
        predict.start()
        rows["prediction"].append(measure(app, lambda: predict.busy))
        print(f"run {run + 1}: " + ", ".join(
            f"{k} max {v[-1][0]:.0f} ms p95 {v[-1][1]:.0f} ms" for k, v in rows.items()))

    print("\nmain-thread stall (ping lateness), median of", args.runs, "runs")
    print(f"{'phase':<12}{'max ms':>9}{'p95 ms':>9}{'max / idle max':>16}")
    idle_max = statistics.median(r[0] for r in rows["idle"]) or 1.0
    for phase, values in rows.items():
        worst = statistics.median(v[0] for v in values)
        p95 = statistics.median(v[1] for v in values)
        print(f"{phase:<12}{worst:>9.0f}{p95:>9.1f}{worst / idle_max:>16.2f}")
    print("targets: max <= 100 ms, p95 <= 30 ms while training and predicting")
    viewer.close()


if __name__ == "__main__":
    main()
