"""How high can membrane IoU go on the ISBI 2012 test images 15-19? A ceiling from the truth.

Why this exists: the training and quality issues ask for membrane IoU >= 0.75 on ISBI images
15-19 after training on images 0-14. This script measures, from the ground truth alone, what
the best conceivable predictor of a certain kind scores, so the model's figure can be read as
a share of what is reachable:

* the annotated membrane width of every image (area / centreline length): it varies from
  slice to slice with nothing in the image to tell why (the darkness ratio, membrane mean over
  interior mean, does not follow it), so no model trained on other slices can know it;
* the *centreline ceiling*: the truth's own centrelines (a skeleton of the truth, i.e. every
  membrane found at exactly the right place) drawn at one width, scored against the truth.
  A predictor that finds every membrane perfectly but, like any model, draws it at the width
  it learned, cannot beat the best of these widths;
* the truth grown and shrunk by one pixel;
* where the annotation sits relative to the dark membrane: the mean image intensity under the
  truth shifted by (dy, dx); the darkest shift is where the truth would sit if centred;
* with ``--model``: a shipped starting model's membrane IoU on the same images (the ratio to
  the ceiling is printed), and the same prediction shifted by one pixel;
* with ``--oracle-steps N``: a capacity check, that model fine-tuned for N steps ON the test
  images themselves (dense masks, no augmentation, nothing held out) and scored on them: how
  well the network can fit these slices when it sees them, as against how well it generalises
  to them from the other slices.

Run (data from ``../shared/data``; 10 s, plus ~0.3 s per oracle step on one core)::

    .venv/bin/python benchmarks/isbi_ceiling.py --model em_membranes --oracle-steps 1500
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_train import isbi
from bench_train import membrane_iou as iou
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

TEST = range(15, 20)
RADII = (2.0, 2.5, 3.0, 3.2, 3.7, 4.0)


def shift_table(value, fmt: str) -> None:
    """Print ``value(dy, dx)`` for one-pixel shifts as a 3 x 3 table."""
    print("| dy \\ dx | -1 | 0 | 1 |")
    print("|---|---|---|---|")
    for dy in (-1, 0, 1):
        print(f"| {dy} | " + " | ".join(format(value(dy, dx), fmt) for dx in (-1, 0, 1)) + " |")


def widths() -> None:
    print("| image | membrane share | width (px) | darkness ratio |")
    print("|---|---|---|---|")
    for i in range(20):
        image, truth = isbi(i)
        width = truth.sum() / skeletonize(truth).sum()
        dark = image[truth].mean() / image[~truth].mean()
        print(f"| {i} | {truth.mean():.3f} | {width:.2f} | {dark:.3f} |")


def ceiling(truths: list[np.ndarray]) -> float:
    dist = [ndi.distance_transform_edt(~skeletonize(t)) for t in truths]
    best = 0.0
    print("\n| centrelines of the truth drawn at radius | membrane IoU vs the truth |")
    print("|---|---|")
    for r in RADII:
        v = iou([d <= r for d in dist], truths)
        best = max(best, v)
        print(f"| {r} | {v:.3f} |")
    grown = iou([ndi.binary_dilation(t) for t in truths], truths)
    shrunk = iou([ndi.binary_erosion(t) for t in truths], truths)
    print(f"\ntruth grown by 1 px: {grown:.3f}; shrunk by 1 px: {shrunk:.3f}")
    return best


def offset(images: list[np.ndarray], truths: list[np.ndarray]) -> None:
    print("\nmean image intensity under the truth shifted by (dy, dx) (dark = membrane):")
    shift_table(lambda dy, dx: np.mean([im[np.roll(t, (dy, dx), (0, 1))].mean()
                                        for im, t in zip(images, truths)]), ".2f")


def model_rows(name: str, images: list[np.ndarray], truths: list[np.ndarray],
               best: float) -> None:
    from napari_unet.core.prediction.predict import predict_image
    from napari_unet.core.training.start_models import load_start_model

    model = load_start_model(name)[0]
    probs = [predict_image(model, im, axes="YX", device="cpu")[1] for im in images]
    at = {th: iou([p > th for p in probs], truths) for th in (0.4, 0.5, 0.6)}
    print(f"\nstarting model {name}: membrane IoU at 0.5 {at[0.5]:.3f} "
          f"(0.4: {at[0.4]:.3f}, 0.6: {at[0.6]:.3f}); "
          f"ratio to the centreline ceiling {at[0.5] / best:.3f}")
    print("its prediction (> 0.5) shifted by (dy, dx):")
    shift_table(lambda dy, dx: iou([np.roll(p > 0.5, (dy, dx), (0, 1)) for p in probs], truths),
                ".3f")


def oracle(name: str, steps: int, images: list[np.ndarray], truths: list[np.ndarray]) -> float:
    from bench_train import run_train

    from napari_unet.core.prediction.predict import predict_image
    from napari_unet.core.training.augment import AugmentConfig
    from napari_unet.core.training.train import TrainConfig

    config = TrainConfig(max_steps=steps, max_seconds=None, val_fraction=0.0, start=name,
                         augment=AugmentConfig.off().to_dict())
    pairs = [(im, (t + 1).astype(np.uint8)) for im, t in zip(images, truths)]
    model, _ = run_train(config, pairs, "cpu")
    probs = [predict_image(model, im, axes="YX", device="cpu")[1] for im in images]
    return iou([p > 0.5 for p in probs], truths)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="a shipped starting model to score too")
    p.add_argument("--oracle-steps", type=int, default=0,
                   help="fine-tune the model on the test images for N steps (capacity check)")
    a = p.parse_args(argv)
    test = [isbi(i) for i in TEST]
    images, truths = [im for im, _ in test], [t for _, t in test]
    widths()
    best = ceiling(truths)
    print(f"centreline ceiling (best width): {best:.3f}")
    offset(images, truths)
    if a.model:
        model_rows(a.model, images, truths, best)
    if a.oracle_steps:
        v = oracle(a.model or "em_membranes", a.oracle_steps, images, truths)
        print(f"\noracle: the starting model fine-tuned {a.oracle_steps} steps on images 15-19 "
              f"themselves scores {v:.3f} on them (ratio to the centreline ceiling {v / best:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
