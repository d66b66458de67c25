"""Augmentation: labels follow the image exactly; the smooth path agrees with the exact one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core.training.augment import AugmentConfig, augment

GEOMETRY_ONLY = AugmentConfig(scale=0.0, elastic=0.0, gamma=0.0, contrast=0.0, noise=0.0)


def _batch(n=6, shape=(24, 24), seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n, *shape), generator=g) - 1  # -1..2, -1 = ignore
    image = labels[:, None].float() * 10 + 0.5  # the image encodes its labels
    weights = labels.float() + 5
    return image, labels, weights


def test_flips_and_rotations_move_labels_with_the_image():
    image, labels, weights = _batch()
    gen = torch.Generator().manual_seed(3)
    img, lab, w = augment(image, labels, weights, config=GEOMETRY_ONLY, generator=gen)
    assert img.shape == image.shape and lab.dtype == labels.dtype
    torch.testing.assert_close(img[:, 0], lab.float() * 10 + 0.5)
    torch.testing.assert_close(w, lab.float() + 5)
    # each output is one of the 8 symmetries of its input, and not all are the identity
    changed = 0
    for i in range(image.shape[0]):
        views = [
            torch.rot90(v, k, (0, 1)) for v in (labels[i], labels[i].flip(0)) for k in range(4)
        ]
        assert any(torch.equal(lab[i], v) for v in views)
        changed += not torch.equal(lab[i], labels[i])
    assert changed > 0


def test_smooth_path_without_deformation_equals_the_exact_path():
    image, labels, _ = _batch(seed=1)
    # scale 1e-9 forces resampling through grid_sample with an identity-like grid
    smooth = AugmentConfig(
        flip=True, rotate90=True, scale=1e-9, elastic=0.0, gamma=0.0, contrast=0.0, noise=0.0
    )
    a = augment(image, labels, config=smooth, generator=torch.Generator().manual_seed(5))
    b = augment(image, labels, config=GEOMETRY_ONLY, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a[0], b[0], atol=1e-4, rtol=0)
    assert torch.equal(a[1], b[1])


def test_elastic_deformation_and_scaling_keep_labels_nearest_neighbour():
    g = torch.Generator().manual_seed(2)
    blocks = torch.randint(0, 4, (4, 5, 5), generator=g) - 1
    labels = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)  # 8 x 8 blocks
    image, weights = labels[:, None].float() * 10 + 0.5, labels.float() + 5
    cfg = AugmentConfig(scale=0.2, elastic=8.0, elastic_p=1.0, gamma=0, contrast=0, noise=0)
    img, lab, w = augment(
        image,
        labels,
        weights,
        config=cfg,
        out_shape=(32, 32),
        generator=torch.Generator().manual_seed(0),
    )
    assert img.shape == (4, 1, 32, 32) and lab.shape == (4, 32, 32) and w.shape == (4, 32, 32)
    assert set(torch.unique(lab).tolist()) <= {-1, 0, 1, 2}  # no blended label values
    assert not torch.equal(lab, labels[:, 4:36, 4:36])  # it did deform
    # away from label edges the image still encodes the label it carries
    pool = torch.nn.functional.max_pool2d
    inside = pool(-lab[:, None].float(), 5, 1, 2)[:, 0] == -lab.float()
    inside &= pool(lab[:, None].float(), 5, 1, 2)[:, 0] == lab.float()
    err = (img[:, 0] - (lab.float() * 10 + 0.5)).abs()[inside]
    assert err.median() < 1e-3


def test_3d_rotations_stay_in_plane_and_intensity_changes_touch_only_the_image():
    vol = torch.arange(2 * 4 * 8 * 8, dtype=torch.float32).reshape(2, 1, 4, 8, 8)
    lab = (vol[:, 0] % 3).long()
    cfg = AugmentConfig(scale=0.0, elastic=0.0, gamma=0.5, contrast=0.3, noise=0.1)
    img, out, _ = augment(vol, lab, config=cfg, generator=torch.Generator().manual_seed(1))
    for i in range(2):
        # the Z order is kept: each output slice is a symmetry of the same input slice
        for z in range(4):
            views = [
                torch.rot90(v, k, (0, 1)) for v in (lab[i, z], lab[i, z].flip(0)) for k in range(4)
            ]
            assert any(torch.equal(out[i, z], v) for v in views)
    assert not torch.allclose(img, vol)
    assert np.isfinite(img.numpy()).all()


def test_regression_targets_follow_and_nan_stays_nan():
    x = torch.rand(3, 1, 16, 16)
    t = x.clone()
    t[:, :, :4] = float("nan")
    cfg = AugmentConfig(scale=0.1, elastic=3.0, elastic_p=1.0, gamma=0, contrast=0, noise=0)
    a, b, _ = augment(x, t, config=cfg, generator=torch.Generator().manual_seed(0))
    assert torch.isnan(b).any() and b.shape == t.shape
    m = ~torch.isnan(b)
    # nearest for targets vs bilinear for the image: close, not equal
    assert (a[m] - b[m]).abs().mean() < 0.2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_the_gpu():
    image, labels, weights = _batch()
    dev = torch.device("cuda")
    img, lab, _w = augment(
        image.to(dev),
        labels.to(dev),
        weights.to(dev),
        generator=torch.Generator(device=dev).manual_seed(0),
    )
    assert img.device.type == "cuda" and lab.device.type == "cuda"
