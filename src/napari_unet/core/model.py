"""The U-Net: 2D or 3D, 'same' or 'valid' convolutions, and the sizes that make tiling exact.

The network follows Ronneberger et al. (2015): per level two 3x3(x3) convolutions, each followed
by a normalisation and a ReLU; max pooling down, transposed convolution (or interpolation and a
1x1 convolution) up, skip connections concatenated; a 1x1 convolution gives ``out_channels``
logits. With ``padding="valid"`` the convolutions are unpadded as in the paper: the output is
smaller than the input and every output pixel sees exactly its receptive field, so tiling is
exact. With ``padding="same"`` the output has the input's shape; tiling is exact when each tile
carries a :attr:`UNet.halo` of context and tiles start on the pooling grid.

Normalisation layers and tiling: ``"batch"`` (evaluated with running statistics) and ``"none"``
are tile-exact; ``"group"`` and ``"instance"`` normalise each sample over its own spatial extent,
so a tile's output depends on the tile's size and the result of tiled prediction differs from
untiled prediction (predict() warns when it has to split such a model's input).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from napari_unet.core.normalize import Normalization

_PADDINGS = ("same", "valid")
_NORMS = ("batch", "group", "instance", "none")
_UPSAMPLINGS = ("transposed", "interpolate")
#: Pixels lost per side by one unpadded 3-wide convolution.
_CONV_LOSS = 1
_CONVS_PER_LEVEL = 2
#: Version of the layout of :attr:`UNet.config`.
CONFIG_VERSION = 1


def _norm_layer(norm: str, dims: int, channels: int) -> nn.Module:
    if norm == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if norm == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if norm == "group":
        groups = min(8, channels)
        while channels % groups:
            groups -= 1
        return nn.GroupNorm(groups, channels)
    return nn.Identity()


class _DoubleConv(nn.Sequential):
    def __init__(self, dims: int, c_in: int, c_out: int, padding: str, norm: str) -> None:
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        pad = 1 if padding == "same" else 0
        layers: list[nn.Module] = []
        for c in (c_in, c_out):
            layers += [
                conv(c, c_out, 3, padding=pad, bias=norm == "none"),
                _norm_layer(norm, dims, c_out),
                nn.ReLU(inplace=True),
            ]
        super().__init__(*layers)


class _Up(nn.Module):
    def __init__(self, dims: int, c_in: int, c_out: int, factor: tuple[int, ...],
                 upsampling: str, padding: str) -> None:
        super().__init__()
        self.factor = factor
        if upsampling == "transposed":
            tconv = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
            self.conv: nn.Module = tconv(c_in, c_out, kernel_size=factor, stride=factor)
            self.mode = ""
        else:
            # Linear interpolation for 'same' models; nearest for 'valid' models, whose outputs
            # must not depend on how far a feature map extends (linear clamps at the border).
            if padding == "valid":
                self.mode = "nearest"
            else:
                self.mode = "bilinear" if dims == 2 else "trilinear"
            self.conv = (nn.Conv2d if dims == 2 else nn.Conv3d)(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.mode:
            return self.conv(x)
        kwargs = {} if self.mode == "nearest" else {"align_corners": False}
        x = F.interpolate(x, scale_factor=self.factor, mode=self.mode, **kwargs)
        return self.conv(x)


class UNet(nn.Module):
    """A 2D or 3D U-Net that knows its receptive field and the sizes it accepts.

    Parameters
    ----------
    dims : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Image channels in; logits out (classes, or regression outputs).
    depth : int
        Number of resolution levels (``depth - 1`` poolings), at least 1.
    base_channels : int
        Feature channels at the first level; doubled at each level down.
    padding : {"same", "valid"}
        ``"same"``: output shape equals input shape (input sizes must be multiples of the
        pooling factors). ``"valid"``: unpadded convolutions, output smaller than input.
    norm : {"batch", "group", "instance", "none"}
        Normalisation after each convolution. Only ``"batch"`` and ``"none"`` are tile-exact.
    upsampling : {"transposed", "interpolate"}
        Transposed convolution, or interpolation (linear for 'same', nearest for 'valid')
        followed by a 1x1 convolution.
    inplane_levels : int
        3D only: the first ``inplane_levels`` poolings are (1, 2, 2), in-plane only, for
        anisotropic stacks whose Z spacing is coarser than their in-plane spacing.
    normalization : Normalization, dict or None
        The intensity rule that prepares images for this model (default: percentiles 1-99.8).
    meta : dict or None
        Free JSON metadata, e.g. ``{"task": "semantic", "class_names": [...], "axes": "YX"}``.

    Attributes
    ----------
    card : dict or None
        The model card this model was loaded with (see :mod:`napari_unet.core.modelfile`):
        set by ``load_model``, None for a model built or trained in memory.
    """

    card: dict[str, Any] | None

    def __init__(
        self,
        *,
        dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 2,
        depth: int = 4,
        base_channels: int = 16,
        padding: str = "same",
        norm: str = "batch",
        upsampling: str = "transposed",
        inplane_levels: int = 0,
        normalization: Normalization | dict | None = None,
        meta: dict | None = None,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3; found {dims!r}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("depth", depth), ("base_channels", base_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; found {value!r}")
        for name, value, allowed in (("padding", padding, _PADDINGS), ("norm", norm, _NORMS),
                                     ("upsampling", upsampling, _UPSAMPLINGS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; found {value!r}")
        if inplane_levels and dims != 3:
            raise ValueError(f"inplane_levels applies to 3D models only; found dims={dims}")
        if not 0 <= inplane_levels <= depth - 1:
            raise ValueError(
                f"inplane_levels must be between 0 and depth - 1 = {depth - 1}; "
                f"found {inplane_levels}"
            )
        self.dims = dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.base_channels = base_channels
        self.padding = padding
        self.norm = norm
        self.upsampling = upsampling
        self.inplane_levels = inplane_levels
        if isinstance(normalization, Normalization):
            self.normalization = normalization
        else:
            self.normalization = Normalization.from_dict(normalization)
        self.meta: dict[str, Any] = dict(meta or {})
        self.card = None

        chans = [base_channels * 2**level for level in range(depth)]
        self.pool_factors: list[tuple[int, ...]] = [
            (1, 2, 2) if level < inplane_levels else (2,) * dims for level in range(depth - 1)
        ]
        self.encoders = nn.ModuleList()
        c_prev = in_channels
        for c in chans:
            self.encoders.append(_DoubleConv(dims, c_prev, c, padding, norm))
            c_prev = c
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(depth - 1)):
            self.ups.append(_Up(dims, chans[level + 1], chans[level],
                                self.pool_factors[level], upsampling, padding))
            self.decoders.append(_DoubleConv(dims, 2 * chans[level], chans[level], padding, norm))
        self.head = (nn.Conv2d if dims == 2 else nn.Conv3d)(chans[0], out_channels, 1)

    # ----------------------------------------------------------------- configuration
    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture (JSON-serialisable, no weights)."""
        return {
            "architecture": "unet",
            "config_version": CONFIG_VERSION,
            "dims": self.dims,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "depth": self.depth,
            "base_channels": self.base_channels,
            "padding": self.padding,
            "norm": self.norm,
            "upsampling": self.upsampling,
            "inplane_levels": self.inplane_levels,
            "normalization": self.normalization.to_dict(),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UNet:
        """Build a fresh (randomly initialised) model from :attr:`config`."""
        if config.get("architecture", "unet") != "unet":
            raise ValueError(
                f"config describes architecture {config.get('architecture')!r}; expected 'unet'"
            )
        keys = ("dims", "in_channels", "out_channels", "depth", "base_channels", "padding",
                "norm", "upsampling", "inplane_levels", "normalization", "meta")
        return cls(**{k: config[k] for k in keys if k in config})

    # ----------------------------------------------------------------- sizes
    @property
    def pool_product(self) -> tuple[int, ...]:
        """Product of the pooling factors per spatial axis: tiles start on this grid."""
        return tuple(math.prod(f[a] for f in self.pool_factors) for a in range(self.dims))

    def _walk(self, size: int, axis: int, valid: bool) -> int | None:
        """Output size along ``axis`` for input ``size``, or None if that size is not accepted."""
        loss = 2 * _CONV_LOSS * _CONVS_PER_LEVEL if valid else 0
        skips = []
        s = size
        for factor in self.pool_factors:
            s -= loss
            f = factor[axis]
            if s < f or s % f:
                return None
            skips.append(s)
            s //= f
        s -= loss
        if s < 1:
            return None
        for level in reversed(range(self.depth - 1)):
            s *= self.pool_factors[level][axis]
            extra = skips[level] - s
            if extra < 0 or extra % 2:
                return None
            s -= loss
            if s < 1:
                return None
        return s

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Spatial output shape for a spatial input shape (equal to it for 'same' models).

        Raises
        ------
        ValueError
            If the model does not accept ``input_shape`` (see :meth:`valid_input_shape`).
        """
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != self.dims:
            raise ValueError(
                f"input_shape must have {self.dims} spatial sizes; found {input_shape}"
            )
        out = [self._walk(s, a, self.padding == "valid") for a, s in enumerate(input_shape)]
        if any(o is None for o in out):
            raise ValueError(
                f"this {self.padding!r} U-Net does not accept spatial input shape {input_shape}; "
                f"the nearest accepted shape is {self.valid_input_shape(input_shape)}"
            )
        return tuple(int(o) for o in out)  # type: ignore[arg-type]

    def valid_input_shape(self, min_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The smallest accepted spatial input shape that is at least ``min_shape``."""
        min_shape = tuple(int(s) for s in min_shape)
        if len(min_shape) != self.dims:
            raise ValueError(f"min_shape must have {self.dims} sizes; found {min_shape}")
        valid = self.padding == "valid"
        result = []
        for a, s in enumerate(min_shape):
            s = max(1, s)
            while self._walk(s, a, valid) is None:
                s += 1
            result.append(s)
        return tuple(result)

    @property
    def _shrink(self) -> tuple[int, ...]:
        """Input minus output size of the 'valid' version of this network, per axis."""
        out = []
        for a in range(self.dims):
            s = 1
            while self._walk(s, a, True) is None:
                s += 1
            out.append(s - self._walk(s, a, True))  # type: ignore[operator]
        return tuple(out)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Input pixels per spatial axis that one output pixel depends on (as in a valid net)."""
        return tuple(s + 1 for s in self._shrink)

    @property
    def halo(self) -> tuple[int, ...]:
        """Context per side and spatial axis that makes tiled prediction equal untiled.

        For 'valid' models it is half the size lost by the network. For 'same' models it adds
        the pooling phase (and, with linear interpolation, the interpolation footprint) and is
        rounded up to the pooling grid, so that tiles always start on that grid.
        """
        half = [s // 2 for s in self._shrink]
        if self.padding == "valid":
            return tuple(half)
        grid = self.pool_product
        out = []
        for a in range(self.dims):
            extra = grid[a] - 1
            if self.upsampling == "interpolate":
                scale = 1
                for f in self.pool_factors:
                    scale *= f[a]
                    extra += scale
            out.append(math.ceil((half[a] + extra) / grid[a]) * grid[a])
        return tuple(out)

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(N, out_channels, *output_shape(spatial))``; no softmax."""
        if x.ndim != self.dims + 2:
            raise ValueError(
                f"input must be (N, C, {'Z, ' if self.dims == 3 else ''}Y, X) with "
                f"{self.dims + 2} dimensions; found shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"input has {x.shape[1]} channels; this model expects {self.in_channels}"
            )
        self.output_shape(tuple(x.shape[2:]))  # raises for shapes the model does not accept
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x)
            if level < self.depth - 1:
                skips.append(x)
                factor = self.pool_factors[level]
                x = (F.max_pool2d if self.dims == 2 else F.max_pool3d)(x, factor, factor)
        for up, decoder in zip(self.ups, self.decoders):
            x = up(x)
            skip = skips.pop()
            if skip.shape[2:] != x.shape[2:]:
                crop = [(s - t) // 2 for s, t in zip(skip.shape[2:], x.shape[2:])]
                index = (slice(None), slice(None),
                         *(slice(c, c + t) for c, t in zip(crop, x.shape[2:])))
                skip = skip[index]
            x = decoder(torch.cat([skip, x], dim=1))
            del skip
        return self.head(x)

    def extra_repr(self) -> str:
        return (f"dims={self.dims}, depth={self.depth}, base_channels={self.base_channels}, "
                f"padding={self.padding!r}, norm={self.norm!r}, upsampling={self.upsampling!r}")
