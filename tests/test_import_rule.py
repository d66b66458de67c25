"""The core must stay Qt-free: no napari, Qt or magicgui, directly or through a dependency."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import napari_unet.core

FORBIDDEN = ("napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6",
             "vispy")
CORE_DIR = Path(napari_unet.core.__file__).parent


def _core_modules() -> list[str]:
    return sorted(
        f"napari_unet.core.{m.name}" for m in pkgutil.iter_modules([str(CORE_DIR)])
    )


def test_core_sources_import_no_gui_package():
    offenders = []
    for path in sorted(CORE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0 and node.module:
                # relative imports may only stay inside the core
                if node.level > 1 and not node.module.startswith("core"):
                    offenders.append(f"{path.name}: from {'.' * node.level}{node.module}")
            for name in names:
                if name.split(".")[0] in FORBIDDEN or name.startswith(
                    ("napari_unet._widgets", "napari_unet.cli")
                ):
                    offenders.append(f"{path.name}: import {name}")
    assert not offenders, "core imports GUI code:\n" + "\n".join(offenders)


def test_importing_every_core_module_loads_no_gui_package():
    modules = _core_modules()
    assert "napari_unet.core.progress" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the core pulled in: {out.stdout.strip()}"
