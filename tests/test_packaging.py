"""The manifest and sample data sit at the top level and must work from an installed package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import napari_unet


def test_installed_package_finds_manifest_and_samples():
    package = Path(napari_unet.__file__).parent
    assert (package / "napari.yaml").is_file()
    for name in ("em_membranes_image.tif", "nuclei3d_strokes.tif", "README.md"):
        assert (package / "sample_data" / name).is_file(), name


def test_npe2_validates_the_manifest():
    npe2 = Path(sys.executable).with_name("npe2")
    out = subprocess.run([str(npe2), "validate", "napari-unet"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_sample_data_stays_small(repo_root):
    total = sum(p.stat().st_size for p in (repo_root / "sample_data").rglob("*") if p.is_file())
    assert total < 10 * 2**20, f"sample_data is {total / 2**20:.1f} MiB; keep it under 10 MB"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the tree")
def test_built_wheel_holds_real_manifest_and_sample_files(repo_root, tmp_path):
    """A wheel must contain real files where the repository has symbolic links."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
         str(repo_root)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("napari_unet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "napari_unet/napari.yaml" in names
    assert "napari_unet/sample_data/em_membranes_strokes.tif" in names
    assert "napari_unet/sample_data/README.md" in names
    assert "napari_unet/start_models/em_membranes.safetensors" in names
    assert "napari_unet/start_models/em_membranes.json" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "napari_unet:napari.yaml" in text
