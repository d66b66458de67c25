"""Microscope files written by the tests themselves (no sample CZI can ship)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_czi(path: Path) -> Path:
    """A 2-channel (DAPI, GFP) x 3-slice x 16 x 20 CZI with voxel size 1 x 0.2 x 0.2 um;
    voxel (c, z) holds ``10 * c + z``. Skips the test where pylibCZIrw or bioio-czi is
    missing."""
    pyczi = pytest.importorskip("pylibCZIrw.czi")
    pytest.importorskip("bioio_czi")
    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for c in range(2):
            for z in range(3):
                czi.write(data=np.full((16, 20), 10 * c + z, np.uint16),
                          plane={"C": c, "Z": z, "T": 0})
        czi.write_metadata(document_name="cells", channel_names={0: "DAPI", 1: "GFP"},
                           scale_x=0.2e-6, scale_y=0.2e-6, scale_z=1e-6)
    return path
