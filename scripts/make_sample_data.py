"""Build sample_data/ from the shared microscopy data (run once by a maintainer; output committed).

Each sample is an image, a painting (0 = not painted, 1 = background, 2 = foreground class)
made of short brush strokes by ``shared/tools/scribbles.py``, and the ground truth it was
simulated from (used by tests to check that training from the strokes learns something real).

    python scripts/make_sample_data.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "sample_data"

EM_IMAGE = "isbi2012_em_membrane/images/0.png"
EM_MASK = "isbi2012_em_membrane/masks/0.png"
NUC3D_IMAGE = "plantseg_nuclei3d/images/1135_mini.tif"
NUC3D_MASK = "plantseg_nuclei3d/masks/1135_mini.tif"
NUC3D_SLICES = (25, 50, 75)
NUC3D_SPACING_UM = (0.28372, 0.12679, 0.12679)


def load_scribbles(shared: Path):
    spec = importlib.util.spec_from_file_location("scribbles", shared / "tools" / "scribbles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.strokes


def write(name: str, array: np.ndarray, **meta) -> None:
    path = OUT / name
    tifffile.imwrite(path, array, compression="zlib", metadata=meta or None)
    size_kb = path.stat().st_size / 1e3
    print(f"{path.relative_to(ROOT)}: {array.shape} {array.dtype}, {size_kb:.0f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    data = args.shared / "data"
    strokes = load_scribbles(args.shared)
    OUT.mkdir(exist_ok=True)

    # (a) EM membranes: mask 255 = cell interior, 0 = membrane -> classes 1 background, 2 membrane
    em = np.asarray(Image.open(data / EM_IMAGE))
    membrane = (np.asarray(Image.open(data / EM_MASK)) == 0).astype(np.int64)
    em_paint = strokes(membrane, 2, fraction=0.01, seed=0)
    write("em_membranes_image.tif", em)
    write("em_membranes_strokes.tif", em_paint)
    write("em_membranes_truth.tif", (membrane + 1).astype(np.uint8))

    # (b) DSB 2018 fluorescence nuclei: the 360x360 field with the most nuclei
    csv = (data / "dsb2018_fluo_nuclei/pairs.csv").read_text()
    rows = [line.split(",") for line in csv.split()]
    header, rows = rows[0], rows[1:]
    col = {k: i for i, k in enumerate(header)}
    square = [r for r in rows if r[col["height"]] == "360" and r[col["width"]] == "360"]
    best = max(square, key=lambda r: int(r[col["n_instances"]]))
    nuc = np.asarray(Image.open(data / "dsb2018_fluo_nuclei" / best[col["image"]]))
    nuc_inst = tifffile.imread(data / "dsb2018_fluo_nuclei" / best[col["mask"]])
    nuc_paint = strokes((nuc_inst > 0).astype(np.int64), 2, fraction=0.02, seed=0)
    write("fluo_nuclei_image.tif", nuc)
    write("fluo_nuclei_strokes.tif", nuc_paint)
    write("fluo_nuclei_truth.tif", nuc_inst.astype(np.uint16))

    # (c) 3D nuclei, painted on 3 of 100 slices only
    vol = tifffile.imread(data / NUC3D_IMAGE)
    vol_inst = tifffile.imread(data / NUC3D_MASK)
    vol_paint = np.zeros(vol.shape, np.uint8)
    for z in NUC3D_SLICES:
        vol_paint[z] = strokes((vol_inst[z] > 0).astype(np.int64), 2, fraction=0.03, seed=z)
    write("nuclei3d_image.tif", vol)
    write("nuclei3d_strokes.tif", vol_paint)
    write("nuclei3d_truth.tif", vol_inst)

    facts = {
        "em_membranes": {"source": EM_IMAGE, "painted_fraction": float((em_paint > 0).mean())},
        "fluo_nuclei": {"source": best[col["image"]],
                        "n_nuclei": int(best[col["n_instances"]]),
                        "painted_fraction": float((nuc_paint > 0).mean())},
        "nuclei_3d": {"source": NUC3D_IMAGE, "painted_slices": list(NUC3D_SLICES),
                      "voxel_size_zyx_um": list(NUC3D_SPACING_UM),
                      "painted_fraction": float((vol_paint > 0).mean())},
    }
    (OUT / "samples.json").write_text(json.dumps(facts, indent=2) + "\n")
    print(json.dumps(facts, indent=2))


if __name__ == "__main__":
    main()
