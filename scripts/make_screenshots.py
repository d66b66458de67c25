"""Screenshots for the README at a laptop's 1366 x 768, made headless: Train mid-training,
Predict over a 3D stack with its object table, and the stack as a volume.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/make_screenshots.py [DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

#: The window size of every screenshot: a common laptop screen.
SIZE = (1366, 768)


def wait(app, condition, timeout: float) -> None:
    end = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def shoot(viewer, path: Path) -> Path:
    """Render the whole window (canvas and docks) at :data:`SIZE` into ``path`` as PNG."""
    from qtpy.QtWidgets import QApplication

    window = viewer.window._qt_window
    window.showNormal()
    window.resize(*SIZE)
    window.show()
    for _ in range(30):
        QApplication.processEvents()
        time.sleep(0.01)
    size = window.size()
    if (size.width(), size.height()) != SIZE:
        raise RuntimeError(f"the window is {size.width()} x {size.height()}, not {SIZE}: the "
                           "docks do not fit a laptop screen")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        raise OSError(f"could not write the screenshot to {path}")
    return path


def seconds(train, value: int) -> None:
    train.budget_kind.setCurrentText("seconds")
    train.budget_spin.setValue(value)


def small_net(train) -> None:
    """A small 2D network (3 levels, 8 channels) in the Advanced settings."""
    train.dims_combo.setCurrentText("2D")
    train.advanced.setChecked(True)
    train.depth_spin.setValue(3)
    train.width_spin.setValue(8)
    train.advanced.setChecked(False)


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
    seconds(train, 150)
    train._preview_timer.setInterval(1500)
    train.start()
    wait(app, lambda: len(train.plot.val_steps) >= 3 and len(train.plot.steps) > 60, 140)
    print(shoot(viewer, out / "train.png"))
    train.stop()
    wait(app, lambda: not train.busy, 60)
    viewer.close()

    # 2. Predict over the 3D nuclei stack (a 2D model trained on 3 painted slices): classes
    # and objects over the image, the object table in the Predict dock
    viewer = napari.Viewer(title="napari-unet", show=False)
    viewer.open_sample("napari-unet", "nuclei_3d")
    _, train = viewer.window.add_plugin_dock_widget("napari-unet", "Train")
    _, predict = viewer.window.add_plugin_dock_widget("napari-unet", "Predict", tabify=True)
    seconds(train, 150)
    small_net(train)  # learns the nuclei in the time a busy laptop gives it
    train.preview_combo.setCurrentIndex(1)
    train.start()
    wait(app, lambda: not train.busy, 300)
    for name, check in predict.output_checks.items():
        check.setChecked(name in ("classes", "probabilities", "instances", "uncertainty"))
    predict.start()
    wait(app, lambda: not predict.busy, 180)
    for layer in viewer.layers:
        if layer.name in ("Nuclei 3D paint", "Nuclei 3D instances"):
            layer.visible = False
    viewer.dims.set_point(0, 50 * viewer.layers["Nuclei 3D"].scale[0])
    predict.parent().raise_()
    predict.scroll.ensureWidgetVisible(predict.objects)
    print(shoot(viewer, out / "predict3d.png"))
    viewer.dims.ndisplay = 3
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.angles = (15, 35, 140)
    print(shoot(viewer, out / "predict3d_volume.png"))
    viewer.close()


if __name__ == "__main__":
    main()
