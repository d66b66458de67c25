"""The U-Net: shapes, accepted sizes, receptive field and halo, configuration round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from tests.core._unet import sensitive_unet


def test_same_model_keeps_the_input_shape_2d_and_3d():
    for dims, shape in ((2, (40, 24)), (3, (8, 16, 24))):
        model = UNet(dims=dims, depth=3, base_channels=4).eval()
        with torch.no_grad():
            y = model(torch.rand(2, 1, *shape))
        assert y.shape == (2, 2, *shape)
        assert model.output_shape(shape) == shape


def test_valid_model_has_the_papers_sizes():
    # Ronneberger et al. 2015: a 5-level valid U-Net maps 572x572 to 388x388.
    model = UNet(depth=5, base_channels=2, padding="valid")
    assert model.output_shape((572, 572)) == (388, 388)
    assert model.receptive_field == (185, 185)
    assert model.halo == (92, 92)
    assert model.valid_input_shape((570, 572)) == (572, 572)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("upsampling", ["transposed", "interpolate"])
def test_valid_input_shape_is_accepted_and_output_is_smaller(dims, upsampling):
    model = UNet(dims=dims, depth=3, base_channels=2, padding="valid", upsampling=upsampling,
                 inplane_levels=1 if dims == 3 else 0).eval()
    shape = model.valid_input_shape((30,) * dims)
    assert all(s >= 30 for s in shape)
    with torch.no_grad():
        y = model(torch.rand(1, 1, *shape))
    assert tuple(y.shape[2:]) == model.output_shape(shape)
    assert all(o == s - r + 1 for o, s, r in zip(y.shape[2:], shape, model.receptive_field))
    assert all(2 * h + 1 == r for h, r in zip(model.halo, model.receptive_field))


def test_inplane_levels_pool_only_rows_and_columns():
    model = UNet(dims=3, depth=4, base_channels=2, inplane_levels=2)
    assert model.pool_factors == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
    assert model.pool_product == (2, 8, 8)
    assert model.valid_input_shape((3, 9, 9)) == (4, 16, 16)
    assert model.halo[0] < model.halo[1]


@pytest.mark.parametrize("norm", ["batch", "group", "instance", "none"])
def test_every_norm_trains_one_step(norm):
    model = UNet(depth=2, base_channels=4, norm=norm)
    x = torch.rand(2, 1, 16, 16)
    loss = model(x).square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_config_round_trip_rebuilds_the_same_architecture():
    model = UNet(dims=3, depth=3, base_channels=4, padding="valid", norm="group",
                 upsampling="interpolate", inplane_levels=1, out_channels=3,
                 normalization=Normalization(low=2.0, high=98.0),
                 meta={"task": "instances", "class_names": ["bg", "in", "edge"]})
    config = json.loads(json.dumps(model.config))
    again = UNet.from_config(config)
    assert again.config == model.config
    assert again.normalization == Normalization(low=2.0, high=98.0)
    assert again.meta["class_names"] == ["bg", "in", "edge"]
    again.load_state_dict(model.state_dict())  # same parameter names and shapes


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_halo_bounds_what_an_output_pixel_sees(padding):
    # Change every input pixel farther than the halo from a block of output pixels: those
    # outputs must not move. Change one pixel inside: they must.
    model = sensitive_unet(depth=3, padding=padding)
    h = model.halo[0]
    grid = model.pool_product[0]
    size = model.valid_input_shape((4 * h + 2 * grid,) * 2)[0]
    out_size = model.output_shape((size, size))[0]
    offset = (size - out_size) // 2  # input position of output pixel 0
    rng = np.random.default_rng(1)
    x = rng.random((1, 1, size, size)).astype(np.float32)
    lo = (size // 2) // grid * grid  # an output block on the pooling grid, in input positions
    block = slice(lo, lo + grid)
    far = np.ones((size, size), bool)
    far[lo - h:lo + grid + h, lo - h:lo + grid + h] = False
    x_far = x.copy()
    x_far[0, 0][far] = rng.random(far.sum())
    x_near = x.copy()
    x_near[0, 0, lo - 1, lo] += 5.0
    with torch.no_grad():
        ys = [model(torch.from_numpy(v)).numpy() for v in (x, x_far, x_near)]
    out_block = slice(block.start - offset, block.stop - offset)
    pick = (slice(None), slice(None), out_block, out_block)
    assert np.abs(ys[0][pick] - ys[1][pick]).max() < 1e-5
    assert np.abs(ys[0][pick] - ys[2][pick]).max() > 1e-3


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="padding"):
        UNet(padding="reflect")
    with pytest.raises(ValueError, match="norm"):
        UNet(norm="layer")
    with pytest.raises(ValueError, match="dims"):
        UNet(dims=4)
    with pytest.raises(ValueError, match="inplane_levels"):
        UNet(dims=2, inplane_levels=1)
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=0)
    model = UNet(depth=3, base_channels=2)
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match=r"nearest accepted shape is \(16, 20\)"):
        model(torch.rand(1, 1, 16, 18))
    with pytest.raises(ValueError, match="architecture"):
        UNet.from_config({"architecture": "resnet"})
