"""The shallow teacher: confident unpainted pixels added to the strokes, and when a run uses it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile

from napari_unet.core.normalize import Normalization
from napari_unet.core.progress import run
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.dataset import prepare_pairs
from napari_unet.core.training.loop import Trainer
from napari_unet.core.training.preview import Previewer, first_answer_data
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.teacher import teach, wants_teacher
from napari_unet.core.training.train import train_segment


@pytest.fixture(scope="module")
def volume(repo_root):
    d = repo_root / "sample_data"
    crop = np.s_[16:56, 10:90, 10:90]  # painted on slices 25 and 50 here
    return tuple(tifffile.imread(d / f"nuclei3d_{k}.tif")[crop] for k in ("image", "strokes"))


TINY_3D = {"axes": "ZYX", "dims": 3, "depth": 2, "base_channels": 4,
           "patch_shape": [16, 48, 48], "batch_size": 2, "start": "none"}


def _data(image, strokes, **kw):
    return prepare_pairs([(image, strokes)], axes="YX", region=(32, 32), context=(32, 32),
                         val_fraction=0.2, seed=0, **kw)


def test_teach_labels_only_unpainted_pixels_outside_the_held_out_regions(nuclei):
    image, strokes, truth = nuclei
    data = _data(image, strokes)
    before = [it.target.copy() for it in data.items]
    taught = teach(data, seed=0)
    assert taught is not None and taught.source is data
    it, new = data.items[0], taught.data.items[0]
    np.testing.assert_array_equal(it.target, before[0])  # the strokes' set is untouched
    painted = it.target >= 0
    np.testing.assert_array_equal(new.target[painted], it.target[painted])
    added = (new.target >= 0) & ~painted
    assert added.sum() == taught.pixels > 10 * painted.sum()
    for i, block in data.val_blocks:  # the held-out strokes judge the U-Net alone
        assert (taught.data.items[i].target[block] == IGNORE).all()
    assert taught.data.items[0].val_target is it.val_target
    # the confident pixels are mostly right on this image (nuclei = class 1)
    y0, x0 = it.offset
    sub = truth[y0:y0 + it.spatial_shape[0], x0:x0 + it.spatial_shape[1]]
    agree = (new.target[added] == 1) == sub[added]
    assert agree.mean() > 0.9
    counts = np.bincount(new.target[new.target >= 0], minlength=2)
    np.testing.assert_array_equal(taught.data.class_counts, counts)
    assert taught.held_out_iou is not None and "shallow teacher" in taught.words()


@pytest.mark.slow
def test_teach_keeps_to_its_budget_and_stops_between_blocks(nuclei):
    image, strokes, _ = nuclei
    big = _data(np.tile(image, (9, 9)), np.tile(strokes, (9, 9)))  # 2304^2: 512^2 blocks
    part = teach(big, seed=0, max_pixels=1)  # one block, whatever its size
    n = big.items[0].target.size
    assert 0 < part.predicted <= 512 * 512 < n
    assert teach(big, seed=0, stop=lambda: True) is None


def test_teach_needs_two_painted_classes(nuclei):
    image, strokes, _ = nuclei
    data = _data(image, strokes)
    for it in data.items:  # (the held-out regions may keep the other class)
        it.target[it.target == 1] = IGNORE
    assert teach(data, seed=0) is None


def test_wants_teacher_auto_means_sparse_3d_strokes_from_random_weights(nuclei, volume):
    image, strokes, truth = nuclei
    sparse = _data(image, strokes)
    dense = _data(image, truth.astype(np.uint8) + 1)
    sparse_3d = prepare_pairs([volume], axes="ZYX", dims=3, region=(16, 24, 24),
                              context=(16, 48, 48), seed=0)
    auto = TrainConfig(max_steps=1)
    assert auto.teacher == "auto"
    assert wants_teacher(auto, sparse_3d, trained_start=False)
    assert not wants_teacher(auto, sparse_3d, trained_start=True)
    assert not wants_teacher(auto, sparse, trained_start=False)  # 2D: mixed, so not auto
    assert wants_teacher(TrainConfig(max_steps=1, teacher="on"), sparse, trained_start=False)
    assert wants_teacher(TrainConfig(max_steps=1, teacher="on"), dense, trained_start=True)
    assert not wants_teacher(TrainConfig(max_steps=1, teacher="off"), sparse,
                             trained_start=False)


@pytest.mark.parametrize("bad", [{"teacher": "sometimes"}, {"teacher_threshold": 0.3},
                                 {"teacher_threshold": 1.5}])
def test_teacher_settings_are_checked(bad):
    with pytest.raises(ValueError, match="teacher"):
        TrainConfig(max_steps=1, **bad)


@pytest.mark.slow
def test_a_3d_run_from_random_weights_is_taught_and_says_so(volume):
    tr = Trainer(TrainConfig(max_steps=2, **TINY_3D), [volume], device="cpu")
    records = []
    model = run(train_segment(tr), records.append)
    prepare = next(r for r in records if r.phase == "prepare")
    assert "shallow teacher" in prepare.message
    assert tr.affinity == 0.0  # the affinity term is for 2D strokes
    assert tr.teaching is not None and tr.teaching.source is tr.data
    # the teacher labels the slices nobody painted
    target = tr.teaching.data.items[0].target
    painted = (tr.data.items[0].target >= 0).any((1, 2))
    assert painted.sum() <= 2 < (target >= 0).any((1, 2)).sum()
    # the painted-pixel counts and the model card count strokes, not the teacher's pixels
    assert tr.painted_pixels()["train"] == int((tr.data.items[0].target >= 0).sum())
    assert model.meta["training"]["labelled_pixels"] == tr.painted_pixels()
    card = model.meta["training"]["teacher"]
    assert card["pixels"] == tr.teaching.pixels > 0
    assert tr.sampler.data is tr.teaching.data
    # the volume's preview shows this teacher (no second fit) until the U-Net matches it
    pv = Previewer(tr.net.normalization, volume[0], "ZYX", threading.Event())
    pv.attach(tr)
    pv.refit(tr.data)
    assert pv.shallow is tr.teaching.shallow


def test_a_given_model_is_not_taught(nuclei, tiny, volume):
    image, strokes, _ = nuclei
    flat = Trainer(TrainConfig(max_steps=1, **tiny), [(image, strokes)], device="cpu")
    run(train_segment(flat))
    assert flat.teaching is None  # 2D strokes: not by default
    first = Trainer(TrainConfig(max_steps=1, teacher="off", **TINY_3D), [volume], device="cpu")
    model = run(train_segment(first))
    assert first.teaching is None
    tr = Trainer(TrainConfig(max_steps=1, **TINY_3D), [volume], model=model, device="cpu")
    again = run(train_segment(tr))
    assert tr.teaching is None and tr.sampler.data is tr.data
    assert again.meta["training"]["teacher"] is None


def test_new_strokes_are_taught_again(nuclei, tiny):
    image, strokes, _ = nuclei
    half = strokes.copy()
    half[:, 128:] = 0
    tr = Trainer(TrainConfig(max_steps=2, teacher="on", **tiny), [(image, half)], device="cpu")
    run(train_segment(tr))
    old = tr.teaching
    tr.update_labels(0, None, strokes)
    records = []
    run(tr.run(max_steps=2, stop=threading.Event()), records.append)
    assert tr.teaching is not None and tr.teaching is not old
    assert tr.teaching.source is tr.data
    assert tr.data.n_train_labelled > old.source.n_train_labelled


def test_the_preview_shows_the_teacher_the_run_learns_from(nuclei, tiny):
    image, strokes, _ = nuclei
    tr = Trainer(TrainConfig(max_steps=2, teacher="on", **tiny), [(image, strokes)],
                 device="cpu")
    run(train_segment(tr))
    pv = Previewer(tr.net.normalization, image, "YX", threading.Event())
    pv.attach(tr)
    pv.refit(tr.data)  # no second fit on the same strokes
    assert pv.shallow is tr.teaching.shallow
    assert pv.shallow_iou == tr.teaching.held_out_iou


def test_the_first_answer_teaches_without_a_second_fit(nuclei, tiny):
    image, strokes, _ = nuclei
    half = strokes.copy()
    half[:, 128:] = 0
    taught = {}
    for name, painted in (("same", strokes), ("changed", half)):
        config = TrainConfig(max_steps=1, teacher="on", seed=3, **tiny)
        pv = Previewer(Normalization.from_dict(config.normalization), image, "YX",
                       threading.Event(), seed=config.seed)
        pv.refit(first_answer_data(config, [(image, strokes)], pv.norm))
        tr = Trainer(config, [(image, painted)], device="cpu")
        pv.attach(tr)
        run(train_segment(tr))
        taught[name] = (pv, tr.teaching)
    pv, teaching = taught["same"]
    assert teaching.shallow is pv.shallow and teaching.held_out_iou == pv.shallow_iou
    # the same labels as the teacher's own fit would give (the run's seed)
    own = teach(teaching.source, threshold=config.teacher_threshold, seed=config.seed)
    assert own.pixels == teaching.pixels > 0
    assert all(np.array_equal(a.target, b.target)
               for a, b in zip(own.data.items, teaching.data.items))
    pv, teaching = taught["changed"]  # the strokes changed before it taught: its own fit
    assert teaching.shallow is not pv.shallow and teaching.pixels > 0
