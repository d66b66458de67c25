"""A 2D model inflated to 3D computes the 2D model slice by slice, then learns across slices."""

from __future__ import annotations

import pytest
import torch

from napari_unet.core.model import UNet
from napari_unet.core.training.architecture import inflate_to_3d


def _trained_2d() -> UNet:
    torch.manual_seed(0)
    m = UNet(dims=2, in_channels=1, out_channels=3, depth=3, base_channels=4)
    # non-trivial batch-norm statistics, as a trained model has
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(2, 1, 32, 32) * 3 + 1)
    return m.eval()


def test_inflated_model_is_the_2d_model_per_slice():
    m2 = _trained_2d()
    m3 = inflate_to_3d(m2)
    assert (m3.dims, m3.inplane_levels, m3.pool_product) == (3, 2, (1, 4, 4))
    assert not m3.training and m2.dims == 2  # mode kept, original untouched
    x = torch.randn(2, 1, 5, 32, 24)
    with torch.no_grad():
        y3 = m3(x)
        y2 = torch.stack([m2(x[:, :, z]) for z in range(x.shape[2])], 2)
    assert y3.shape == (2, 3, 5, 32, 24)
    assert torch.allclose(y3, y2, atol=1e-5)
    # and it survives a config round trip as a 3D model
    again = UNet.from_config(m3.config)
    again.load_state_dict(m3.state_dict())
    with torch.no_grad():
        assert torch.allclose(again.eval()(x), y3, atol=1e-6)


def test_inflated_model_can_learn_across_slices():
    m3 = inflate_to_3d(_trained_2d()).train()
    opt = torch.optim.SGD(m3.parameters(), lr=0.1)
    x = torch.randn(1, 1, 5, 16, 16)
    loss = m3(x)[:, 0].mean()
    loss.backward()
    conv = m3.encoders[0][0]
    assert conv.weight.grad[:, :, 0].abs().sum() > 0  # the zero planes get gradients
    opt.step()
    assert conv.weight[:, :, 0].abs().sum() > 0


def test_inflate_refuses_a_3d_model():
    with pytest.raises(ValueError, match="2D model"):
        inflate_to_3d(UNet(dims=3, depth=2, base_channels=2))
