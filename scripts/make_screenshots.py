"""Screenshots for the README, made headless: Train mid-training, Predict over a 3D stack.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/make_screenshots.py [DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch import save_screenshot


def wait(app, condition, timeout: float) -> None:
    end = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    import napari
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])

    # 1. Train mid-training: EM strokes, the loss curve and the live preview
    viewer = napari.Viewer(title="napari-unet", show=False)
    viewer.open_sample("napari-unet", "em_membranes")
    _, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    app = QApplication.instance()
    train.budget_spin.setValue(40)
    train._preview_timer.setInterval(1500)
    train.start()
    wait(app, lambda: len(train.plot.val_steps) >= 2 and len(train.plot.steps) > 40, 35)
    print(save_screenshot(viewer, out / "train.png"))
    train.stop()
    wait(app, lambda: not train.busy, 60)
    viewer.close()

    # 2. Predict over the 3D nuclei stack (a 2D model trained on 3 painted slices)
    viewer = napari.Viewer(title="napari-unet", show=False)
    viewer.open_sample("napari-unet", "nuclei_3d")
    _, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    _, predict = viewer.window.add_plugin_dock_widget("napari-unet", "Predict", tabify=True)
    train.budget_spin.setValue(40)
    train.preview_combo.setCurrentIndex(1)
    train.start()
    wait(app, lambda: not train.busy, 120)
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("classes", "probabilities"))
    predict.start()
    wait(app, lambda: not predict.busy, 120)
    viewer.layers["Nuclei 3D paint"].visible = False
    viewer.layers["Nuclei 3D probabilities"].visible = False
    viewer.dims.set_point(0, 50 * viewer.layers["Nuclei 3D"].scale[0])
    predict.parent().raise_()
    print(save_screenshot(viewer, out / "predict3d.png"))
    viewer.dims.ndisplay = 3
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.angles = (15, 35, 140)
    print(save_screenshot(viewer, out / "predict3d_volume.png"))
    viewer.close()


if __name__ == "__main__":
    main()
