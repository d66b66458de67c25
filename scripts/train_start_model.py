"""Train a starting model that ships with napari-unet (the recipe, rerunnable).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/train_start_model.py em_membranes \
        --seconds 2700 --depth 4 --channels 24      # the shipped model (one CPU core)

``em_membranes``: ISBI 2012 EM (``../shared/data/isbi2012_em_membrane``), dense masks of
images 5-14 only (images 0-4 are the stroke benchmark's training images and 15-19 its test
images; neither is seen here). Classes: 1 = cell interior (background), 2 = membrane. The
architecture is a :class:`TrainConfig` U-Net with batch norm, ``--depth`` levels and
``--channels`` base channels (defaults: the TrainConfig defaults), trained with
:func:`napari_unet.core.training.train` and its default augmentation, 10% of the pixels held out
by region, last weights kept. Written as float16 safetensors plus a JSON card to
``src/napari_unet/start_models/<name>.{safetensors,json}``; the JSON also holds the
appearance signature of the training images
(:func:`napari_unet.core.training.start_models.signature`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from napari_unet.core.progress import run
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.start_models import START_DIR, save_start_model, signature
from napari_unet.core.training.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def em_membranes() -> tuple[list, dict]:
    d = DATA / "isbi2012_em_membrane"
    pairs = []
    for i in range(5, 15):
        image = np.asarray(Image.open(d / "images" / f"{i}.png"))
        mask = np.asarray(Image.open(d / "masks" / f"{i}.png"))
        pairs.append((image, np.where(mask == 0, 2, 1).astype(np.uint8)))
    info = {
        "description": "EM membranes (ssTEM): 1 = cell interior, 2 = membrane",
        "data": "ISBI 2012 EM training set, images 5-14, dense masks "
        "(github.com/zhixuhao/unet copy; see ../shared/data/isbi2012_em_membrane)",
        "class_names": ["interior", "membrane"],
    }
    return pairs, info


def fluo_membranes() -> tuple[list, dict]:
    """The images of :func:`em_membranes` inverted (membranes bright on dark, as a membrane
    stain shows them) and blurred by 0, 1 and 2 pixels (a light microscope's point spread
    function is far wider than an EM pixel): a start for fluorescence cell membranes.

    Not shipped: on the PlantSeg ovule membranes it scored 0.42 IoU as it is and no better
    than random weights after 60 s of fine-tuning from strokes (benchmarks/RESULTS.md, fifth
    session of issue 14). Kept so the experiment can be repeated."""
    from scipy import ndimage as ndi

    em, _ = em_membranes()
    pairs = [(ndi.gaussian_filter(255 - image.astype(np.float32), sigma), mask)
             for image, mask in em for sigma in (0, 1, 2)]
    info = {
        "description": "fluorescence cell membranes: 1 = cell interior, 2 = membrane",
        "data": "ISBI 2012 EM training set, images 5-14, dense masks (as em_membranes), each "
        "image inverted and blurred by Gaussian sigma 0, 1 and 2 px "
        "(see ../shared/data/isbi2012_em_membrane)",
        "class_names": ["interior", "membrane"],
    }
    return pairs, info


def _pairs(folder: str) -> list[tuple[Path, Path]]:
    lines = (DATA / folder / "pairs.csv").read_text().splitlines()[1:]
    return [(DATA / folder / ln.split(",")[0], DATA / folder / ln.split(",")[1]) for ln in lines]


def _read(path: Path) -> np.ndarray:
    import tifffile

    if path.suffix == ".tif":
        return tifffile.imread(path)
    return np.asarray(Image.open(path))


def _foreground_pairs(paths: list[tuple[Path, Path]]) -> list:
    """Image (first channel of RGB(A)) and 1 = background, 2 = foreground from an instance mask."""
    pairs = []
    for image_path, mask_path in paths:
        image = _read(image_path)
        if image.ndim == 3:
            image = image[..., 0]
        pairs.append((image, np.where(_read(mask_path) > 0, 2, 1).astype(np.uint8)))
    return pairs


def fluo_nuclei() -> tuple[list, dict]:
    paths = _pairs("dsb2018_fluo_nuclei")
    scored = set(range(2, len(paths), 3))  # bench_quality._dsb's test images: never seen here
    pairs = _foreground_pairs([p for i, p in enumerate(paths) if i not in scored])
    info = {
        "description": "fluorescence nuclei: 1 = background, 2 = nucleus",
        "data": "Kaggle DSB 2018 stage1_train fluorescence subset (BBBC038, CC0; Caicedo et al. "
        "2019), the 40 images that benchmarks/bench_quality.py does not score (every third "
        "image from index 2 is its test set), dense masks as foreground "
        "(see ../shared/data/dsb2018_fluo_nuclei)",
        "class_names": ["background", "nucleus"],
    }
    return pairs, info


def phc_cells() -> tuple[list, dict]:
    paths = _pairs("usiigaci_phc_t98g")
    # bench_loop / bench_strokes paint images 0-1 and score 7-9; bench_quality scores 7-9
    pairs = _foreground_pairs(paths[2:7])
    info = {
        "description": "phase-contrast cells: 1 = background, 2 = cell",
        "data": "Usiigaci T98G phase-contrast training data (Tsai et al. 2019, MIT; "
        "github.com/oist/Usiigaci), images set3-set7 (indices 2-6 of "
        "../shared/data/usiigaci_phc_t98g/pairs.csv), dense masks as foreground; the stroke "
        "benchmarks paint indices 0-1 and every benchmark scores 7-9",
        "class_names": ["background", "cell"],
    }
    return pairs, info


RECIPES = {"em_membranes": em_membranes, "fluo_membranes": fluo_membranes,
           "fluo_nuclei": fluo_nuclei, "phc_cells": phc_cells}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name", choices=sorted(RECIPES))
    p.add_argument("--seconds", type=float, default=900)
    p.add_argument("--steps", type=int, default=None,
                   help="a step budget (reproducible on any machine); --seconds still caps it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--depth", type=int, default=TrainConfig.depth)
    p.add_argument("--channels", type=int, default=TrainConfig.base_channels)
    p.add_argument("--patch", type=int, default=None,
                   help="patch side in pixels (default: the TrainConfig default)")
    p.add_argument("--augment", default="",
                   help="AugmentConfig fields to change, e.g. noise=0.15,scale=0.25")
    p.add_argument("--out", default=None,
                   help="file stem under start_models/ (default: the recipe's name)")
    a = p.parse_args()
    pairs, info = RECIPES[a.name]()
    augment = {k: float(v) for k, v in (kv.split("=", 1) for kv in a.augment.split(",") if kv)}
    config = TrainConfig(
        max_steps=a.steps,
        max_seconds=a.seconds,
        seed=a.seed,
        prior="off",
        class_names=info["class_names"],
        start="none",
        depth=a.depth,
        base_channels=a.channels,
        **({"patch_shape": [a.patch, a.patch]} if a.patch else {}),
        augment={**AugmentConfig().to_dict(), **augment},
    )
    t = time.perf_counter()
    gen = train(config, pairs, device="auto")
    def show(rec) -> None:
        if rec.phase == "validate":
            print(f"step {rec.step} loss {rec.loss:.3f} val {rec.val_loss:.3f} iou {rec.val_iou}",
                  flush=True)

    model = run(gen, show)
    steps = f" --steps {a.steps}" if a.steps else ""
    info["recipe"] = (f"scripts/train_start_model.py {a.name} --seconds {a.seconds:g}{steps} "
                      f"--depth {a.depth} --channels {a.channels} --seed {a.seed}"
                      + (f" --patch {a.patch}" if a.patch else "")
                      + (f" --augment {a.augment}" if a.augment else ""))
    info["steps"] = int((model.meta.get("training") or {}).get("steps", 0))
    info["signature"] = signature([im for im, _ in pairs])
    info["trained_seconds"] = round(time.perf_counter() - t, 1)
    path = save_start_model(model, START_DIR / (a.out or a.name), info)
    print(json.dumps(model.meta.get("validation")), path, torch.__version__)


if __name__ == "__main__":
    main()
