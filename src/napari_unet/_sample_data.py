"""Sample data for File > Open Sample > napari-unet: images with a few painted strokes.

Each sample returns an image layer and a Labels layer of short brush strokes
(0 = not painted, 1 = background, 2 = the structure), so a newcomer can click Train at once.
Sources, licences and citations: sample_data/README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"

#: colours of painted classes: 1 = background (blue), 2 = structure (orange)
CLASS_COLORS = {0: "transparent", 1: "#3b7ddd", 2: "#ff8c1a", None: "#b0b0b0"}


def sample_path(name: str) -> Path:
    """Path of a file shipped in ``sample_data/``.

    Raises
    ------
    FileNotFoundError
        If the package was installed without its sample data.
    """
    path = SAMPLE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"sample file {name!r} is missing from {SAMPLE_DIR}; reinstall napari-unet "
            "(the sample_data folder ships inside the package)"
        )
    return path


def read_sample(name: str) -> np.ndarray:
    """Read one sample array (``*_image.tif``, ``*_strokes.tif`` or ``*_truth.tif``)."""
    return tifffile.imread(sample_path(name))


def _sample(stem: str, title: str, class_names: list[str], scale, units, contrast=None):
    image = read_sample(f"{stem}_image.tif")
    strokes = read_sample(f"{stem}_strokes.tif")
    image_kwargs = {"name": title, "scale": scale, "units": units}
    if contrast is not None:
        image_kwargs["contrast_limits"] = contrast
    paint_kwargs = {
        "name": f"{title} paint",
        "scale": scale,
        "units": units,
        "colormap": CLASS_COLORS,
        "opacity": 0.8,
        "metadata": {"napari_unet": {"class_names": class_names}},
    }
    return [(image, image_kwargs, "image"), (strokes, paint_kwargs, "labels")]


def em_membranes():
    """ISBI 2012 serial-section TEM (512x512) with strokes on background and membranes."""
    return _sample("em_membranes", "EM membranes", ["background", "membrane"],
                   scale=(4.0, 4.0), units=("nm", "nm"))


def fluo_nuclei():
    """DSB 2018 fluorescence nuclei (360x360) with strokes on background and nuclei."""
    return _sample("fluo_nuclei", "Fluorescence nuclei", ["background", "nucleus"],
                   scale=(1.0, 1.0), units=("pixel", "pixel"))


def nuclei_3d():
    """Confocal nuclei stack (ZYX 100x100x100, anisotropic voxels) painted on 3 slices only."""
    return _sample("nuclei3d", "Nuclei 3D", ["background", "nucleus"],
                   scale=(0.28372, 0.12679, 0.12679), units=("um", "um", "um"))
