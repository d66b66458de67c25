"""The step loop behind :func:`napari_unet.core.training.train.train` (see there)."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from napari_unet.core.devices import empty_cache, is_out_of_memory
from napari_unet.core.training.augment import augment
from napari_unet.core.training.config import TrainProgress
from napari_unet.core.training.prior import estimate_prior, shift_head_bias, unlabelled_posteriors
from napari_unet.core.training.schedule import lr_factor
from napari_unet.core.training.targets import labelled
from napari_unet.core.training.validation import evaluate


def _crop_to(t: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor | None:
    if t is None or tuple(t.shape[-len(shape) :]) == shape:
        return t
    sp = t.shape[-len(shape) :]
    sl = tuple(slice((a - b) // 2, (a - b) // 2 + b) for a, b in zip(sp, shape))
    return t[(..., *sl)]


def _amp(device: torch.device, enabled: bool) -> tuple[bool, torch.dtype, Any]:
    if not (enabled and device.type == "cuda"):
        return False, torch.float32, None
    if torch.cuda.is_bf16_supported():
        return True, torch.bfloat16, None
    return True, torch.float16, torch.amp.GradScaler("cuda")


def run(s: dict) -> Generator[TrainProgress, None, Any]:
    cfg = s["config"]
    net = s["model"]
    dev: torch.device = s["device"]
    data = s["data"]
    sampler = s["sampler"]
    aug = s["augment"]
    patch: tuple[int, ...] = s["patch"]
    loss_fn = s["loss_fn"]
    tiles = s["tiles"]
    t0 = s["t0"]
    stop = s["stop"]
    bs = s["batch_size"]
    out_shape = net.output_shape(patch)
    use_amp, amp_dtype, scaler = _amp(dev, cfg.amp)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device=dev)
    gen.manual_seed(cfg.seed)
    net.train()

    def budget_used(step: int) -> float:
        used = 0.0
        if cfg.max_steps:
            used = max(used, step / cfg.max_steps)
        if cfg.max_seconds:
            used = max(used, (time.perf_counter() - t0) / cfg.max_seconds)
        return used

    def validate() -> tuple[float, Any]:
        """Loss and per-class IoU of the network as it is now on the held-out tiles."""
        return evaluate(net, tiles, task=data.task, n_classes=data.n_classes, device=dev,
                        loss_fn=loss_fn, amp=use_amp)

    val_every = cfg.val_every
    n_val = 10
    next_val = 1.0 / n_val
    best = (float("inf"), None, -1)  # loss, state, step
    val_loss, val_iou = None, None
    seen = np.zeros(data.n_classes if data.task != "regression" else 1, np.float64)
    step, losses = 0, []
    val_time, since_val = 0.0, 0.0  # validation costs at most about a tenth of the time
    times: list[float] = []
    lr = cfg.lr
    while True:
        used = budget_used(step)
        if used >= 1.0 or (stop is not None and stop.is_set()):
            break
        f = lr_factor(used, step, warmup_steps=cfg.warmup_steps, schedule=cfg.schedule)
        lr = cfg.lr * f * s.get("lr_scale", 1.0)
        for g in opt.param_groups:
            g["lr"] = lr
        ts = time.perf_counter()
        net.train()  # a live preview between steps may have switched it to eval
        try:
            x, y, w = sampler.sample(bs)
            x = torch.from_numpy(x).to(dev, non_blocking=True)
            y = torch.from_numpy(y).to(dev, non_blocking=True)
            w = torch.from_numpy(w).to(dev, non_blocking=True) if w is not None else None
            x, y, w = augment(x, y, w, config=aug, out_shape=patch, generator=gen)
            y, w = _crop_to(y, out_shape), _crop_to(w, out_shape)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                out = net(x)
            loss = loss_fn(out.float(), y, w)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
        except (RuntimeError, MemoryError) as err:
            if not is_out_of_memory(err) or bs <= 1:
                raise
            x = y = w = out = loss = None
            opt.zero_grad(set_to_none=True)
            empty_cache(dev)
            bs = max(1, bs // 2)
            yield _record(
                cfg,
                step,
                t0,
                times,
                losses,
                lr,
                val_loss,
                val_iou,
                bs,
                "train",
                f"out of memory: batch {bs * 2} -> {bs}",
            )
            continue
        if data.task != "regression":
            yy = y[y >= 0]
            seen += torch.bincount(yy.flatten(), minlength=len(seen))[: len(seen)].cpu().numpy()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - ts)
        step += 1
        yield _record(cfg, step, t0, times, losses, lr, val_loss, val_iou, bs, "train")
        since_val += times[-1]
        due = (val_every and step % val_every == 0) or (
            not val_every
            and step >= 20
            and budget_used(step) >= next_val
            and since_val >= 9 * val_time
        )
        if tiles and due and budget_used(step) < 1.0:
            next_val = budget_used(step) + 1.0 / n_val
            tv = time.perf_counter()
            val_loss, val_iou = validate()
            val_time, since_val = time.perf_counter() - tv, 0.0
            if val_loss < best[0]:
                best = (val_loss, _snapshot(net), step)
            yield _record(cfg, step, t0, times, losses, lr, val_loss, val_iou, bs, "validate")
    # the end: last validation, choose weights, class prior, metadata
    last_state = _snapshot(net)
    if tiles and step > 0:
        val_loss, val_iou = validate()
        if val_loss <= best[0]:
            best = (val_loss, last_state, step)
    kept = "last"
    if best[1] is not None and best[2] != step:
        net.best_state_dict = best[1]  # the other set of weights stays at hand
        net.last_state_dict = last_state
        if cfg.keep == "best":
            net.load_state_dict(best[1])
            kept = f"best (step {best[2]})"
            val_loss, val_iou = validate()
    prior = None
    if _wants_prior(cfg, data) and seen.sum() > 0:
        prior = _apply_prior(net, data, seen, dev)
        if tiles:
            val_loss, val_iou = validate()
    net.eval()
    net.to("cpu")
    _fill_meta(s, net, step, bs, kept, val_loss, val_iou, prior, time.perf_counter() - t0)
    yield _record(
        cfg,
        step,
        t0,
        times,
        losses,
        lr,
        val_loss,
        val_iou,
        bs,
        "done",
        f"done: {step} steps, kept {kept} weights",
    )
    return net


def _snapshot(net: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _record(cfg, step, t0, times, losses, lr, val_loss, val_iou, bs, phase, message=""):
    elapsed = time.perf_counter() - t0
    recent = times[-20:]
    sps = len(recent) / sum(recent) if recent and sum(recent) > 0 else 0.0
    eta, total = None, cfg.max_steps or step
    if sps > 0:
        left = []
        if cfg.max_steps:
            left.append((cfg.max_steps - step) / sps)
        if cfg.max_seconds:
            left.append(max(0.0, cfg.max_seconds - elapsed))
        eta = min(left)
        total = step + round(eta * sps)
    loss = float(np.mean(losses[-10:])) if losses else None
    metrics = {}
    if val_iou is not None:
        metrics["val_iou"] = tuple(val_iou)
    if val_loss is not None:
        metrics["val_loss"] = val_loss
    return TrainProgress(
        step=step,
        total=max(total, step),
        message=message,
        loss=loss,
        metrics=metrics,
        lr=lr,
        val_loss=val_loss,
        val_iou=tuple(val_iou) if val_iou is not None else None,
        steps_per_s=sps,
        elapsed=elapsed,
        eta=eta,
        batch_size=bs,
        phase=phase,
    )


def _wants_prior(cfg, data) -> bool:
    if data.task != "semantic" or cfg.prior == "off":
        return False
    if cfg.prior == "on":
        return True
    region = sum(it.target.size for it in data.items)
    lab = sum(int(labelled(it.target).sum()) for it in data.items) + data.n_val_labelled
    return lab < region / 3


def _apply_prior(net, data, seen, dev) -> dict | None:
    targets = []
    for it in data.items:
        t = it.target.copy()
        if it.val_target is not None:
            t[it.val_target >= 0] = 0  # labelled, so not an unpainted pixel
        targets.append(t)
    probs = unlabelled_posteriors(net, [it.image for it in data.items], targets, dev)
    if probs.size == 0:
        return None
    train_prior = (seen + 1) / (seen + 1).sum()
    q = estimate_prior(probs, train_prior)
    q = np.clip(q, 1e-4, 1.0)
    q /= q.sum()
    shift_head_bias(net, np.log(q / train_prior))
    return {
        "painted": [round(float(v), 5) for v in train_prior],
        "estimated": [round(float(v), 5) for v in q],
    }


def _fill_meta(s, net, step, bs, kept, val_loss, val_iou, prior, seconds) -> None:
    cfg = s["config"]
    data = s["data"]
    names = s["names"]
    meta = net.meta
    meta["task"] = cfg.task
    meta["class_names"] = names
    meta["axes"] = cfg.axes
    meta["training"] = {
        "config": cfg.to_dict(),
        "steps": step,
        "steps_total": s["start_steps"] + step,
        "seconds": round(seconds, 2),
        "batch_size": bs,
        "patch_shape": list(s["patch"]),
        "weights": kept,
        "device": str(s["device"]),
        "samples": len(data.items),
        "start": s.get("start", ""),
        "labelled_pixels": {"train": data.n_train_labelled, "validation": data.n_val_labelled},
    }
    if prior is not None:
        meta["class_prior"] = prior
    if data.target_scale is not None:
        meta["target_scale"] = {"offset": data.target_scale[0], "scale": data.target_scale[1]}
    if val_loss is not None:
        v: dict[str, Any] = {"loss": float(val_loss)}
        if val_iou is not None:
            v["iou"] = {
                n: (None if i is None else round(float(i), 4)) for n, i in zip(names, val_iou)
            }
        meta["validation"] = v
    else:
        meta.pop("validation", None)
