"""Start napari with the napari-unet widgets docked and a sample loaded.

    python scripts/launch.py [--sample em_membranes|fluo_nuclei|nuclei_3d]
    python scripts/launch.py --screenshot out.png   # needs a (virtual) screen; exits 0 when saved

``bash scripts/dev.sh start`` sets up the environment and runs this (under Xvfb with
``--screenshot``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PLUGIN = "napari-unet"
WIDGETS = ("Load", "Train", "Predict", "Model")
SAMPLES = ("em_membranes", "fluo_nuclei", "nuclei_3d")


def build_viewer(sample: str, *, show: bool):
    """A napari viewer with ``sample`` opened and every napari-unet widget docked on the right."""
    import napari

    viewer = napari.Viewer(title="napari-unet", show=show)
    viewer.open_sample(PLUGIN, sample)
    first = None
    for name in WIDGETS:
        dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=first is not None)
        first = first or dock
    if first is not None:
        first.raise_()
    return viewer


def save_screenshot(viewer, path: Path) -> Path:
    """Render the whole window (canvas and docks) into ``path`` as PNG."""
    from qtpy.QtWidgets import QApplication

    window = viewer.window._qt_window
    window.resize(1366, 768)  # a laptop screen: every dock must fit it
    window.show()
    for _ in range(20):
        QApplication.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        raise OSError(f"could not write the screenshot to {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", choices=SAMPLES, default="em_membranes")
    parser.add_argument("--screenshot", type=Path, help="save the window as PNG here and exit")
    args = parser.parse_args(argv)

    import napari

    viewer = build_viewer(args.sample, show=args.screenshot is None)
    if args.screenshot is not None:
        path = save_screenshot(viewer, args.screenshot)
        print(f"screenshot written to {path}")
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
