"""The README's start command in its headless form writes a screenshot of the docked plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from skimage.io import imread


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs Xvfb; dev.sh installs it")
@pytest.mark.skipif(
    not (Path(sys.prefix) / ".napari-unet-stamp").exists(),
    reason="runs inside the environment that scripts/dev.sh made (bash scripts/dev.sh test)",
)
def test_headless_start_writes_a_screenshot(repo_root, tmp_path):
    shot = tmp_path / "napari-unet.png"
    env = dict(os.environ, NAPARI_UNET_VENV=sys.prefix)
    out = subprocess.run(
        ["bash", str(repo_root / "scripts" / "dev.sh"), "start", "--screenshot", str(shot)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    picture = imread(shot)
    assert picture.shape[0] >= 600 and picture.shape[1] >= 1000
    # the EM sample fills the canvas with grey levels; an empty window would be nearly uniform
    assert picture[..., :3].std() > 20
