"""One training segment of a :class:`~napari_unet.core.training.loop.Trainer`: the step loop.

A segment trains for its budget (steps and/or seconds), validates about ten times on the
held-out regions, applies label updates between steps, and ends with the weights it keeps,
the class prior (optional) and the model card's training record.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from napari_unet.core.devices import empty_cache, is_out_of_memory
from napari_unet.core.prediction.network import channels_last_format
from napari_unet.core.training.affinity import affinity_loss
from napari_unet.core.training.augment import augment
from napari_unet.core.training.config import TrainProgress
from napari_unet.core.training.pseudo import pseudo_label_loss, pseudo_weight
from napari_unet.core.training.validation import evaluate

if TYPE_CHECKING:
    from napari_unet.core.model import UNet
    from napari_unet.core.training.loop import Trainer

__all__ = ["Plateau", "Segment", "run_segment"]

#: Steps of a segment at which it validates besides its ~10 regular validations.
EARLY_VALIDATIONS = (20, 50, 100, 200)
#: A validation counts as progress when it lowers the best held-out loss by this share
#: (and by at least PLATEAU_FLOOR, so that a loss near zero does not count as progress).
PLATEAU_DELTA, PLATEAU_FLOOR = 0.01, 1e-3
#: Early stopping waits for this share of the budget and this many steps of a segment.
PLATEAU_AFTER = (0.2, 100)


@dataclass
class Segment:
    """The budget and bookkeeping of one :meth:`Trainer.run` call."""

    max_steps: int | None
    max_seconds: float | None
    start_step: int
    t0: float
    warmup: int = 0
    #: Seconds spent outside training (live previews): not counted in the time budget.
    paused: float = 0.0
    #: Why the segment ended before its budget (a plateau of the held-out loss), else None.
    stopped_early: str | None = None

    def seconds(self) -> float:
        """Seconds this segment has trained (wall time less :attr:`paused`)."""
        return time.perf_counter() - self.t0 - self.paused

    def used(self, steps: int) -> float:
        """Share of the budget used after ``steps`` steps of this segment."""
        used = 0.0
        if self.max_steps:
            used = max(used, steps / self.max_steps)
        if self.max_seconds:
            used = max(used, self.seconds() / self.max_seconds)
        return used


class Plateau:
    """Counts validations that do not lower the held-out loss (``TrainConfig.patience``).

    A validation is progress when its loss is below the best so far by at least
    :data:`PLATEAU_DELTA` of the best; :meth:`update` says when ``patience`` validations in a
    row, counted once a segment is past :data:`PLATEAU_AFTER`, made none.
    """

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.reset()

    def reset(self) -> None:
        """Forget the best loss (the held-out strokes changed)."""
        self.best, self.best_step, self.waited = float("inf"), -1, 0

    def update(self, loss: float, step: int, *, counting: bool) -> bool:
        """Note one validation; True when training should stop."""
        if self.best == float("inf") or (
                loss < self.best - max(PLATEAU_DELTA * abs(self.best), PLATEAU_FLOOR)):
            self.best, self.best_step, self.waited = loss, step, 0
            return False
        if counting:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def words(self, step: int) -> str:
        return (f"stopped early at step {step}: the held-out loss has not improved by "
                f"{PLATEAU_DELTA:.0%} over the last {self.waited} validations (best "
                f"{self.best:.3f} at step {self.best_step})")


def crop_to(t: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor | None:
    """The centre of ``t``'s last axes at ``shape`` (targets of a 'valid' network)."""
    if t is None or tuple(t.shape[-len(shape):]) == shape:
        return t
    sp = t.shape[-len(shape):]
    sl = tuple(slice((a - b) // 2, (a - b) // 2 + b) for a, b in zip(sp, shape))
    return t[(..., *sl)]


def snapshot(net: torch.nn.Module) -> dict:
    """A detached copy of the network's weights."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


class _Run:
    """The counters of one segment and the records it yields."""

    def __init__(self, tr: Trainer, seg: Segment) -> None:
        self.tr, self.seg = tr, seg
        self.use_amp = tr.precision.dtype is not None
        self.amp_dtype = tr.precision.dtype or torch.float32
        self.scaler = tr.precision.scaler
        self.layout = (channels_last_format(tr.net.dims) if tr.precision.channels_last
                       else torch.contiguous_format)
        self.lr = tr.config.lr

    def validate(self, net: torch.nn.Module | None = None) -> tuple[float, Any]:
        tr = self.tr
        return evaluate(net if net is not None else tr.net, tr.tiles, task=tr.data.task,
                        n_classes=tr.data.n_classes, device=tr.device, loss_fn=tr.loss_fn,
                        amp=self.use_amp)

    def record(self, phase: str, message: str = "") -> TrainProgress:
        tr, seg = self.tr, self.seg
        elapsed = seg.seconds()
        recent = tr.times[-20:]
        sps = len(recent) / sum(recent) if recent and sum(recent) > 0 else 0.0
        eta, total = None, (seg.start_step + seg.max_steps) if seg.max_steps else tr.steps
        if sps > 0:
            left = []
            if seg.max_steps:
                left.append((seg.start_step + seg.max_steps - tr.steps) / sps)
            if seg.max_seconds:
                left.append(max(0.0, seg.max_seconds - elapsed))
            eta = min(left)
            total = tr.steps + round(eta * sps)
        loss = float(np.mean(tr.losses[-10:])) if tr.losses else None
        metrics: dict[str, Any] = {"painted": tr.painted_pixels()}
        if tr.val_iou is not None:
            metrics["val_iou"] = tuple(tr.val_iou)
        if tr.val_loss is not None:
            metrics["val_loss"] = tr.val_loss
        return TrainProgress(
            step=tr.steps, total=max(total, tr.steps), message=message, loss=loss,
            metrics=metrics, lr=self.lr, val_loss=tr.val_loss,
            val_iou=tuple(tr.val_iou) if tr.val_iou is not None else None,
            steps_per_s=sps, elapsed=elapsed, eta=eta, batch_size=tr.batch_size, phase=phase,
        )

    def step(self) -> bool:
        """One optimisation step on a fresh batch; False (and no update) when the loss is
        not finite."""
        tr = self.tr
        net, dev = tr.net, tr.device
        x, y, w = tr.sampler.sample(tr.batch_size)
        x = torch.from_numpy(x).to(dev, non_blocking=True)
        y = torch.from_numpy(y).to(dev, non_blocking=True)
        w = torch.from_numpy(w).to(dev, non_blocking=True) if w is not None else None
        x, y, w = augment(x, y, w, config=tr.augment, out_shape=tr.patch,
                          generator=tr.generator)
        x = x.contiguous(memory_format=self.layout)
        out_shape = net.output_shape(tr.patch)
        y, w = crop_to(y, out_shape), crop_to(w, out_shape)
        buffers = [b.detach().clone() for b in net.buffers()]  # batch-norm statistics
        with torch.autocast(dev.type, dtype=self.amp_dtype, enabled=self.use_amp):
            out = net(x)
        out = out.float()  # the losses in float32, converted once (bfloat16 under autocast)
        loss = tr.loss_fn(out, y, w)
        weight = pseudo_weight(tr.config.pseudo_labels, tr.steps)
        if weight > 0 and tr.data.task == "semantic":
            loss = loss + weight * pseudo_label_loss(out, y,
                                                     threshold=tr.config.pseudo_threshold)
        if tr.affinity > 0:
            loss = loss + tr.affinity * affinity_loss(out, crop_to(x, out_shape))
        if not torch.isfinite(loss):  # undo what the forward pass changed
            with torch.no_grad():
                for b, old in zip(net.buffers(), buffers):
                    b.copy_(old)
            return False
        tr.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(tr.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            tr.optimizer.step()
        if tr.anchor:
            pull_back(tr.net, tr.anchor, tr.optimizer.param_groups[0]["lr"]
                      * tr.config.start_anchor)
        if tr.data.task != "regression":
            yy = y[y >= 0]
            k = len(tr.seen)
            tr.seen += torch.bincount(yy.flatten(), minlength=k)[:k].cpu().numpy()
        tr.losses.append(float(loss.detach()))
        return True


def pull_back(net: torch.nn.Module, anchor: dict[str, torch.Tensor], fraction: float) -> None:
    """Move each weight of ``net`` ``fraction`` of the way back to its ``anchor`` (a head
    grown since has new shapes and is left free)."""
    fraction = min(1.0, max(0.0, fraction))
    with torch.no_grad():
        for name, p in net.named_parameters():
            a = anchor.get(name)
            if a is not None and a.shape == p.shape:
                p.lerp_(a, fraction)


def run_segment(tr: Trainer, seg: Segment, stop: Any) -> Generator[TrainProgress, None, UNet]:
    """Train ``seg`` (see :meth:`Trainer.run`)."""
    run = _Run(tr, seg)
    cfg = tr.config
    tr.apply_label_updates()
    before = snapshot(tr.net) if tr.steps > 0 else None  # a Continue: where it starts from
    yield tr.prepare_record(tr.teach(stop))
    if tr.tiles and tr.steps == 0 and not tr.start.startswith("random"):
        # trained weights (a starting or given model): scored before they change, so a
        # preview can show them from the first second when they match the shallow classifier
        tr.val_loss, tr.val_iou = run.validate()
        yield run.record("validate", "held-out strokes before training: the starting weights")
    n_val, val_every = 10, cfg.val_every
    next_val = 1.0 / n_val
    val_time = since_val = 0.0
    best = (float("inf"), None, -1)  # held-out loss, weights, step (for keep="best")
    plateau = Plateau(cfg.patience)
    seg.stopped_early = None
    while True:
        used = seg.used(tr.steps - seg.start_step)
        if used >= 1.0 or (stop is not None and stop.is_set()):
            break
        if tr.apply_label_updates():
            plateau.reset()  # other held-out strokes: another loss scale
            taught = tr.teach(stop)
            yield run.record("labels", f"new strokes: {tr.data.n_train_labelled} labelled "
                             f"pixels for training, {tr.data.n_val_labelled} held out"
                             + (f"; {taught}" if taught else ""))
        run.lr = tr.lr_at(seg, used)
        for g in tr.optimizer.param_groups:
            g["lr"] = run.lr
        ts = time.perf_counter()
        tr.net.train()  # a live preview between steps may have switched it to eval
        try:
            finite = run.step()
        except (RuntimeError, MemoryError) as err:
            if not is_out_of_memory(err) or tr.batch_size <= 1:
                raise
            tr.optimizer.zero_grad(set_to_none=True)
            empty_cache(tr.device)
            tr.batch_size = max(1, tr.batch_size // 2)
            yield run.record("train", f"out of memory: batch {tr.batch_size * 2} -> "
                             f"{tr.batch_size}")
            continue
        if not finite:  # the weights are those of the last finite step: keep them, say why
            tr.notes.append(f"the loss became NaN or infinite at step {tr.steps + 1}; "
                            "training stopped with the last finite weights (lower the learning "
                            "rate, or check the image for extreme values)")
            yield run.record("train", tr.notes[-1])
            break
        tr.times.append(time.perf_counter() - ts)
        tr.steps += 1
        yield run.record("train")
        since_val += tr.times[-1]
        here = tr.steps - seg.start_step
        # about ten times per budget, and early ones (steps 20, 50, 100, 200) so that a live
        # preview can switch to the U-Net as soon as it is better; at most ~10 % of the time
        due = (val_every and here % val_every == 0) or (
            not val_every and (seg.used(here) >= next_val or here in EARLY_VALIDATIONS)
            and here >= 20 and since_val >= 9 * val_time)
        if tr.tiles and due and seg.used(here) < 1.0:
            next_val = max(next_val, seg.used(here) + 1.0 / n_val)
            tv = time.perf_counter()
            tr.val_loss, tr.val_iou = run.validate()
            val_time, since_val = time.perf_counter() - tv, 0.0
            if tr.val_loss < best[0]:
                best = (tr.val_loss, snapshot(tr.net), tr.steps)
            counting = seg.used(here) >= PLATEAU_AFTER[0] and here >= PLATEAU_AFTER[1]
            if plateau.update(tr.val_loss, tr.steps, counting=counting):
                seg.stopped_early = plateau.words(tr.steps)
                tr.notes.append(seg.stopped_early)
                yield run.record("validate", seg.stopped_early)
                break
            yield run.record("validate")
    kept = _choose_weights(run, best, before)
    model = _finish(run, kept)
    why = f"; {seg.stopped_early}" if seg.stopped_early else ""
    yield run.record("done", f"done: {tr.steps} steps, kept {kept}{why}")
    return model


def _choose_weights(run: _Run, best: tuple, before: dict | None) -> str:
    """Validate the last weights; keep them, the best ones, or those before a Continue."""
    tr = run.tr
    if not tr.tiles or tr.steps == run.seg.start_step:
        return "last weights"
    tr.val_loss, tr.val_iou = run.validate()
    kept = "last weights"
    if tr.config.keep == "best" and best[1] is not None and best[0] < tr.val_loss:
        tr.net.load_state_dict(best[1])
        kept = f"best weights (step {best[2]})"
        tr.val_loss, tr.val_iou = run.validate()
    if before is not None:  # a Continue never leaves the model worse on the held-out strokes
        old = copy.deepcopy(tr.net)
        old.load_state_dict(before)
        old_loss, old_iou = run.validate(old)
        if not tr.val_loss <= old_loss:  # also when training diverged to NaN
            tr.notes.append(f"segment {len(tr.segments)}: held-out loss rose "
                            f"{old_loss:.3f} -> {tr.val_loss:.3f}; kept the weights from "
                            "before it")
            tr.net.load_state_dict(before)
            tr.val_loss, tr.val_iou = old_loss, old_iou
            kept = "the weights from before Continue (held-out loss did not improve)"
    return kept


def _finish(run: _Run, kept: str) -> UNet:
    """A CPU copy of the network with the class prior (optional) and the training record."""
    tr = run.tr
    model = tr.model_copy(prior=True)
    prior = model.meta.pop("class_prior", None)
    if prior is not None and tr.tiles:  # the held-out figures of the corrected model
        tr.val_loss, tr.val_iou = run.validate(model.to(tr.device))
        model.to("cpu")
    _fill_meta(tr, model, kept, prior)
    return model


def _fill_meta(tr: Trainer, model: UNet, kept: str, prior: dict | None) -> None:
    cfg = tr.config
    meta = model.meta
    meta["task"] = cfg.task
    meta["class_names"] = list(tr.names)
    meta["axes"] = cfg.axes
    meta["training"] = {
        "config": cfg.to_dict(),
        "steps": tr.steps,
        "steps_total": tr.lineage_steps + tr.steps,
        "segments": len(tr.segments),
        "stopped_early": tr.segments[-1].stopped_early if tr.segments else None,
        "seconds": round(sum(tr.times), 2),
        "batch_size": tr.batch_size,
        "patch_shape": list(tr.patch),
        "weights": kept,
        "device": str(tr.device),
        "precision": tr.precision.words,
        "samples": len(tr.data.items),
        "start": tr.start,
        "start_model_steps": tr.start_steps,
        "labelled_pixels": tr.painted_pixels(),
        "affinity": tr.affinity,
        "teacher": None if tr.teaching is None else {
            "pixels": tr.teaching.pixels, "predicted": tr.teaching.predicted,
            "held_out_iou": (None if tr.teaching.held_out_iou is None
                             else round(tr.teaching.held_out_iou, 4))},
        "notes": list(tr.notes),
    }
    meta.pop("class_prior", None)
    if prior is not None:
        meta["class_prior"] = prior
    if tr.data.target_scale is not None:
        offset, scale = tr.data.target_scale
        meta["target_scale"] = {"offset": offset, "scale": scale}
    if tr.val_loss is not None:
        v: dict[str, Any] = {"loss": float(tr.val_loss)}
        if tr.val_iou is not None:
            v["iou"] = {n: (None if i is None else round(float(i), 4))
                        for n, i in zip(tr.names, tr.val_iou)}
        meta["validation"] = v
    else:
        meta.pop("validation", None)
