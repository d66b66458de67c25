"""Training: it learns from strokes, stops when asked, continues, and fills the model's metadata."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core.devices import is_out_of_memory
from napari_unet.core.model import UNet
from napari_unet.core.progress import run as drive
from napari_unet.core.training.prior import estimate_prior
from napari_unet.core.training.schedule import lr_factor
from napari_unet.core.training.train import TrainConfig, TrainProgress, train
from napari_unet.core.training.validation import padded_forward

TINY = {"depth": 2, "base_channels": 8, "patch_shape": [64, 64], "batch_size": 4}


@pytest.fixture(scope="module")
def nuclei(repo_root):
    """A 160 x 160 crop of the fluorescence nuclei sample: image, strokes, truth (bool)."""
    d = repo_root / "sample_data"
    image = tifffile.imread(d / "fluo_nuclei_image.tif")[100:260, 100:260]
    strokes = tifffile.imread(d / "fluo_nuclei_strokes.tif")[100:260, 100:260]
    truth = tifffile.imread(d / "fluo_nuclei_truth.tif")[100:260, 100:260] > 0
    assert set(np.unique(strokes)) == {0, 1, 2}
    return image, strokes, truth


def run(gen):
    """Drive a training generator; return (records, model)."""
    records = []
    return records, drive(gen, records.append)


def nuclei_iou(model, image, truth):
    x = model.normalization.apply(image, model.normalization.stats(image, axes="YX"), axes="YX")
    with torch.no_grad():
        out = padded_forward(model.eval(), torch.from_numpy(x)[None, None])
    pred = out[0].argmax(0).numpy() == 1
    return (pred & truth).sum() / (pred | truth).sum()


@pytest.mark.slow
def test_learns_nuclei_from_strokes_and_fills_the_model(nuclei):
    image, strokes, truth = nuclei
    config = TrainConfig(max_steps=60, lr=1e-2, class_names=["background", "nucleus"], **TINY)
    records, model = run(train(config, [(image, strokes)], device="cpu"))
    assert isinstance(model, UNet) and not model.training
    assert records[0].phase == "prepare" and records[-1].phase == "done"
    steps = [r for r in records if r.phase == "train"]
    assert [r.step for r in steps] == list(range(1, 61))
    assert all(isinstance(r, TrainProgress) for r in records)
    assert steps[-1].loss < steps[0].loss
    assert all(r.lr > 0 and r.elapsed >= 0 and r.batch_size == 4 for r in steps)
    assert nuclei_iou(model, image, truth) > 0.6
    meta = model.meta
    assert meta["task"] == "semantic" and meta["axes"] == "YX"
    assert meta["class_names"] == ["background", "nucleus"]
    assert meta["training"]["steps"] == 60 and meta["training"]["steps_total"] == 60
    assert TrainConfig.from_dict(meta["training"]["config"]) == config
    assert set(meta["validation"]["iou"]) == {"background", "nucleus"}
    json.dumps(meta)  # the metadata is JSON
    # the model's own config rebuilds it
    clone = UNet.from_config(model.config)
    clone.load_state_dict(model.state_dict())
    assert clone.meta["task"] == "semantic"


def test_stop_event_ends_within_one_step_and_returns_the_model(nuclei):
    image, strokes, _ = nuclei
    stop = threading.Event()
    gen = train(TrainConfig(max_steps=1000, **TINY), [(image, strokes)], device="cpu", stop=stop)
    records = []
    for r in gen:
        records.append(r)
        if r.phase == "train" and r.step == 3:
            stop.set()
    # the loop above ran the generator to its end; its value is the model
    steps = [r.step for r in records if r.phase == "train"]
    assert max(steps) <= 4
    assert records[-1].phase == "done" and records[-1].step <= 4


def test_closing_the_generator_stops_at_once(nuclei):
    image, strokes, _ = nuclei
    gen = train(TrainConfig(max_steps=1000, **TINY), [(image, strokes)], device="cpu")
    for r in gen:
        if r.step == 2:
            break
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


@pytest.mark.slow
def test_continue_training_a_given_model(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=20, lr=1e-2, seed=1, **TINY)
    _, model = run(train(config, [(image, strokes)], device="cpu"))
    live = []
    records, again = run(train(config, [(image, strokes)], model=model, device="cpu",
                               on_model=live.append))
    assert live[0] is model  # trained in place, so a live preview follows the weights
    assert again is not model  # the result is a copy that later training cannot change
    assert again.meta["training"]["steps_total"] == 40
    fresh, _ = run(train(config, [(image, strokes)], device="cpu"))
    first = next(r.loss for r in records if r.phase == "train")
    first_fresh = next(r.loss for r in fresh if r.phase == "train")
    assert first < first_fresh


@pytest.mark.slow
def test_seeded_runs_repeat_and_a_step_budget_is_exact(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=8, seed=3, **TINY)
    a, _ = run(train(config, [(image, strokes)], device="cpu"))
    b, _ = run(train(config, [(image, strokes)], device="cpu"))
    la = [r.loss for r in a if r.phase == "train"]
    assert la == [r.loss for r in b if r.phase == "train"] and len(la) == 8


@pytest.mark.slow
def test_time_budget_and_progress_estimates(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=None, max_seconds=1.5, val_fraction=0.0, **TINY)
    records, model = run(train(config, [(image, strokes)], device="cpu"))
    steps = [r for r in records if r.phase == "train"]
    assert steps and steps[-1].eta is not None and steps[-1].total >= steps[-1].step
    assert "validation" not in model.meta  # nothing held out, so no validation figure
    assert records[-1].phase == "done"


def test_instances_3d_and_regression_train(repo_root):
    inst = np.zeros((48, 48), np.uint16)
    inst[6:20, 6:22] = 1
    inst[6:20, 24:40] = 2
    inst[28:44, 10:30] = 3
    image = (inst > 0).astype(np.float32) + np.random.default_rng(0).normal(0, 0.1, inst.shape)
    cfg = TrainConfig(task="instances", max_steps=3, **{**TINY, "patch_shape": [32, 32]})
    _, m = run(train(cfg, [(image, inst)], device="cpu"))
    assert m.out_channels == 3 and m.meta["class_names"] == ["background", "interior", "boundary"]

    vol = tifffile.imread(repo_root / "sample_data" / "nuclei3d_image.tif")[40:56, 52:100, 40:88]
    paint = tifffile.imread(repo_root / "sample_data" / "nuclei3d_strokes.tif")[
        40:56, 52:100, 40:88
    ]
    assert paint.any()
    cfg3 = TrainConfig(
        axes="ZYX",
        dims=3,
        max_steps=2,
        depth=2,
        base_channels=4,
        patch_shape=[8, 32, 32],
        batch_size=2,
        val_fraction=0,
    )
    _, m3 = run(train(cfg3, [(vol, paint)], device="cpu"))
    assert m3.dims == 3 and m3.meta["axes"] == "ZYX"

    target = np.sqrt(image.clip(0, None)).astype(np.float32)
    cfgr = TrainConfig(
        task="regression",
        max_steps=25,
        lr=1e-2,
        val_fraction=0,
        **{**TINY, "patch_shape": [32, 32]},
    )
    recs, mr = run(train(cfgr, [(image, target)], device="cpu"))
    losses = [r.loss for r in recs if r.phase == "train"]
    assert mr.out_channels == 1 and losses[-1] < losses[0]
    assert set(mr.meta["target_scale"]) == {"offset", "scale"}


def test_bad_input_and_bad_models_raise(nuclei):
    image, strokes, _ = nuclei
    with pytest.raises(ValueError, match="no painted pixels"):
        next(train(TrainConfig(**TINY), [(image, np.zeros_like(strokes))], device="cpu"))
    with pytest.raises(ValueError, match="found a 3D one"):
        next(train(TrainConfig(**TINY), [(image, strokes)], model=UNet(dims=3), device="cpu"))
    with pytest.raises(ValueError, match="channel"):
        next(
            train(TrainConfig(**TINY), [(image, strokes)], model=UNet(in_channels=2), device="cpu")
        )
    with pytest.raises(ValueError, match="budget"):
        TrainConfig(max_steps=None, max_seconds=None)
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"learning_rate": 1})


def test_config_json_round_trip():
    config = TrainConfig(
        task="instances",
        axes="zyx",
        dims=3,
        patch_shape=[8, 64, 64],
        class_weights="balanced",
        max_seconds=60.0,
    )
    again = TrainConfig.from_json(config.to_json())
    assert again == config and again.axes == "ZYX"
    assert TrainConfig.defaults()["lr"] == TrainConfig().lr


def test_schedule_prior_and_oom_helpers():
    assert lr_factor(0.0, 0, warmup_steps=10, schedule="cosine") == pytest.approx(0.1)
    assert lr_factor(0.0, 20, warmup_steps=10, schedule="cosine") == pytest.approx(1.0)
    assert lr_factor(1.0, 500, warmup_steps=10, schedule="cosine") == pytest.approx(0.05)
    # EM recovers the frequencies of unlabelled pixels from a calibrated classifier
    rng = np.random.default_rng(0)
    truth = rng.random(20000) < 0.2
    score = rng.normal(np.where(truth, 1.0, -1.0), 1.0)
    p1 = 1 / (1 + np.exp(-2 * score))  # posterior under a 50/50 training prior
    q = estimate_prior(np.stack([1 - p1, p1]), np.array([0.5, 0.5]))
    assert q[1] == pytest.approx(0.2, abs=0.03)
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trains_on_cuda_with_autocast_and_auto_batch(nuclei):
    image, strokes, _ = nuclei
    config = TrainConfig(max_steps=10, **{**TINY, "batch_size": None})
    records, model = run(train(config, [(image, strokes)], device="cuda"))
    assert records[-1].batch_size >= 1 and next(model.parameters()).device.type == "cpu"
