"""Ablation: consistency between two augmented views of each patch (issue 14), not built.

Issue 14 names four ways to learn from the unpainted pixels; three are product options
(self-labels ``TrainConfig.pseudo_labels``, the shallow teacher ``teacher``, the affinity term
``affinity``). This script measures the fourth without adding it to the product: each step
takes half its batch of distinct patches, augments them as usual, and adds a second view of
each (mirrored along the last axis, Gaussian noise of ``NOISE`` on the normalised image), with
the mirrored strokes. The loss is the engine's (strokes, affinity term where "auto" gives one)
plus ``weight`` times the squared difference between the class probabilities of the two views
(the second mirrored back), summed over classes, averaged over pixels, ramped in over the
first ``RAMP`` steps (a Pi-model; Laine & Aila 2017). Same batch size, so the same cost per
step as the engine's.

It wraps the trainer's sampler, the segment's ``augment`` and the loss function rather than
copying the training step, so the step is the product's own. Runs are
``bench_strokes.engine_run`` from random weights (``start="none"``), scored on the dev images
at 15 / 30 / 60 s; one line per kind, seed and weight.

Run alone on a quiet machine, from ``benchmarks/``:
``../.venv/bin/python ablate_consistency.py --kinds nuclei,em,cells,ovule3d --seeds 0,1,2
--weights 1,0`` (weight 0 is the engine unchanged). Figures: benchmarks/RESULTS.md, ninth
session of issue 14.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from collections.abc import Iterator
from typing import Any

import bench_loop as bl
import bench_strokes as bs
import torch

from napari_unet.core.training import segment
from napari_unet.core.training.loop import Trainer

#: Standard deviation of the noise added to the second view (normalised intensities).
NOISE = 0.1
#: Steps over which the consistency weight grows from 0 to its value.
RAMP = 100


def consistency(probs: torch.Tensor) -> torch.Tensor:
    """Mean squared disagreement between the first half of a batch's class probabilities
    and the mirrored-back second half."""
    h = probs.shape[0] // 2
    other = torch.flip(probs[h:], [probs.ndim - 1])
    return ((probs[:h] - other) ** 2).sum(1).mean()


@contextlib.contextmanager
def two_views(weight: float) -> Iterator[None]:
    """While open, every new :class:`Trainer` trains on pairs of views with the term."""
    if weight <= 0:
        yield
        return
    plain_augment, plain_sample_from = segment.augment, Trainer._sample_from

    def augment(x: torch.Tensor, y: Any, w: Any, **kw: Any) -> tuple[Any, Any, Any]:
        x, y, w = plain_augment(x, y, w, **kw)
        noise = torch.randn(x.shape, device=x.device, generator=kw.get("generator"))
        x2 = torch.flip(x, [x.ndim - 1]) + NOISE * noise

        def pair(t: Any) -> Any:
            return None if t is None else torch.cat([t, torch.flip(t, [t.ndim - 1])])
        return torch.cat([x, x2]), pair(y), pair(w)

    def sample_from(tr: Trainer, data: Any) -> None:
        """The trainer's sampler and loss (made again after the teacher's labels), halved
        and with the term."""
        plain_sample_from(tr, data)
        sample, loss_fn = tr.sampler.sample, tr.loss_fn

        def halved(n: int) -> Any:
            return sample(max(1, n // 2))

        def loss(out: torch.Tensor, y: Any, w: Any) -> torch.Tensor:
            if not out.requires_grad:  # a validation (no gradient): its batch is no pairs
                return loss_fn(out, y, w)
            ramp = min(1.0, tr.steps / RAMP)
            return loss_fn(out, y, w) + weight * ramp * consistency(torch.softmax(out, 1))
        tr.sampler.sample, tr.loss_fn = halved, loss

    segment.augment, Trainer._sample_from = augment, sample_from
    try:
        yield
    finally:
        segment.augment, Trainer._sample_from = plain_augment, plain_sample_from


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", default="nuclei,em,cells,ovule3d")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--weights", default="1,0")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    times = [15.0, 30.0, 60.0]
    seeds = [int(s) for s in a.seeds.split(",")]
    for name in a.kinds.split(","):
        kind = bl.load_kind(name, False)
        for weight in (float(w) for w in a.weights.split(",")):
            at60 = []
            for seed in seeds:
                t = time.perf_counter()
                with two_views(weight):
                    r = bs.engine_run(kind, bl.paint_first(kind, seed), seed, times,
                                      start="none", device="cpu", quick=False)
                ious = [r["rows"][s]["IoU"] for s in times]
                at60.append(ious[-1])
                print(f"{name} seed {seed} weight {weight:g}: IoU "
                      + " / ".join(f"{v:.3f}" for v in ious)
                      + f" at 15 / 30 / 60 s, {r['steps']} steps "
                      f"({time.perf_counter() - t:.0f} s)", flush=True)
            print(f"{name} weight {weight:g}: median IoU at 60 s "
                  f"{statistics.median(at60):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
