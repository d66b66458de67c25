"""Data augmentation as batched tensor operations on the training device.

Geometry (flips, 90-degree rotations in the YX plane, mild scaling and the U-Net paper's
elastic deformation) is one resampling per batch: an output pixel grid is mapped to the input
patch by a per-sample affine matrix plus a smooth displacement field, then the image is read
with linear interpolation and the labels (and weights) with nearest neighbour. When no
scaling or elastic deformation is asked for, flips and rotations are exact index operations.
Intensity changes (gamma, contrast, brightness, noise) touch the image only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """What to randomise, and how much.

    Attributes
    ----------
    flip : bool
        Random flips along each spatial axis (in-plane only for 3D unless ``flip_z``).
    flip_z : bool
        Also flip along Z for 3D data.
    rotate90 : bool
        Random multiples of 90 degrees in the YX plane (needs square YX patches).
    scale : float
        Random isotropic in-plane zoom in ``[1 - scale, 1 + scale]`` (0 = off).
    elastic : float
        Standard deviation in pixels of the displacements on a coarse 3 x 3 grid, smoothly
        interpolated (the U-Net paper used 10 on 572 px tiles); 0 = off.
    elastic_p : float
        Share of samples that get the elastic deformation.
    gamma : float
        Gamma drawn log-uniformly in ``[1 / (1 + gamma), 1 + gamma]`` (0 = off).
    contrast : float
        Contrast factor in ``[1 - contrast, 1 + contrast]`` and brightness shift in
        ``[-contrast / 2, contrast / 2]`` (normalised units; 0 = off).
    noise : float
        Maximum standard deviation of additive Gaussian noise (normalised units; 0 = off).
    """

    flip: bool = True
    flip_z: bool = False
    rotate90: bool = True
    scale: float = 0.15
    elastic: float = 6.0
    elastic_p: float = 0.5
    gamma: float = 0.3
    contrast: float = 0.2
    noise: float = 0.03

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AugmentConfig:
        return cls(**d)

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(False, False, False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _rand(n: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device)


def _geometry(n: int, nd: int, cfg: AugmentConfig, gen, device, square: bool) -> torch.Tensor:
    """Per-sample matrices ``(n, nd, nd)`` mapping output offsets to input offsets."""
    eye = torch.eye(nd, device=device).expand(n, nd, nd).clone()
    iy, ix = nd - 2, nd - 1
    if cfg.flip:
        for ax in range(nd):
            if nd == 3 and ax == 0 and not cfg.flip_z:
                continue
            s = torch.where(_rand(n, gen, device) < 0.5, -1.0, 1.0)
            eye[:, :, ax] = eye[:, :, ax] * s[:, None]
    if cfg.rotate90 and square:
        k = torch.floor(_rand(n, gen, device) * 4).clamp(max=3)
        ang = k * (math.pi / 2)
        c, s = torch.cos(ang).round(), torch.sin(ang).round()
        rot = torch.eye(nd, device=device).expand(n, nd, nd).clone()
        rot[:, iy, iy], rot[:, iy, ix], rot[:, ix, iy], rot[:, ix, ix] = c, -s, s, c
        eye = rot @ eye
    if cfg.scale > 0:
        z = 1.0 + (2 * _rand(n, gen, device) - 1) * cfg.scale
        sc = torch.ones(n, nd, device=device)
        sc[:, iy], sc[:, ix] = z, z
        eye = eye * sc[:, :, None]
    return eye


def _elastic(n: int, out_shape: Sequence[int], cfg: AugmentConfig, gen, device) -> torch.Tensor:
    """Displacements ``(n, *out_shape, nd)`` in pixels, in-plane only for 3D."""
    nd = len(out_shape)
    coarse = torch.randn((n, 2, 3, 3), generator=gen, device=device) * cfg.elastic
    keep = (_rand(n, gen, device) < cfg.elastic_p).float()
    coarse = coarse * keep[:, None, None, None]
    plane = F.interpolate(coarse, size=tuple(out_shape[-2:]), mode="bicubic", align_corners=True)
    plane = plane.permute(0, 2, 3, 1)  # (n, Y, X, 2): dy, dx
    if nd == 2:
        return plane
    disp = torch.zeros((n, *out_shape, 3), device=device)
    disp[..., 1:] = plane[:, None]
    return disp


def augment(
    images: torch.Tensor,
    targets: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    *,
    config: AugmentConfig | None = None,
    out_shape: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Augment a batch on its device.

    Parameters
    ----------
    images : torch.Tensor
        float ``(N, C, *spatial)``.
    targets : torch.Tensor or None
        Class indices ``(N, *spatial)`` (any integer dtype; -1 = ignore) or float
        ``(N, 1, *spatial)`` regression targets (NaN = ignore).
    weights : torch.Tensor or None
        float ``(N, *spatial)``.
    config : AugmentConfig
        Default: :class:`AugmentConfig` defaults.
    out_shape : sequence of int or None
        Spatial shape of the output (a centre crop of the input after the geometry); the
        input may be larger to give the deformation real pixels to pull in. Default: the
        input shape.
    generator : torch.Generator or None
        Random source on the images' device, for reproducible runs.

    Returns
    -------
    images, targets, weights
        Augmented tensors with the ``out_shape`` spatial shape. Labels follow the image with
        nearest-neighbour sampling; pixels pulled in from outside the input are mirrored.
    """
    cfg = config or AugmentConfig()
    n, _, *in_shape = images.shape
    nd = len(in_shape)
    out_shape = tuple(in_shape) if out_shape is None else tuple(int(s) for s in out_shape)
    device = images.device
    square = out_shape[-1] == out_shape[-2]
    mats = _geometry(n, nd, cfg, generator, device, square)
    smooth = cfg.scale > 0 or (cfg.elastic > 0 and cfg.elastic_p > 0)
    if not smooth:
        images, targets, weights = _exact(images, targets, weights, mats, out_shape)
    else:
        images, targets, weights = _resample(
            images, targets, weights, mats, out_shape, cfg, generator
        )
    images = _intensity(images, cfg, generator)
    return images, targets, weights


def _centre_crop(x: torch.Tensor, out_shape: Sequence[int]) -> torch.Tensor:
    sp = x.shape[-len(out_shape) :]
    sl = tuple(slice((a - b) // 2, (a - b) // 2 + b) for a, b in zip(sp, out_shape))
    return x[(..., *sl)]


def _exact(images, targets, weights, mats, out_shape):
    """Flips and 90-degree turns by indexing, sample by sample."""
    nd = len(out_shape)
    outs = [[], [], []]
    for i in range(images.shape[0]):
        m = mats[i].round().long().cpu().tolist()
        views = []
        for x, _lead in (
            (images[i], 1),
            (targets[i] if targets is not None else None, None),
            (weights[i] if weights is not None else None, 0),
        ):
            if x is None:
                views.append(None)
                continue
            off = x.ndim - nd
            # m maps output offsets to input offsets: out[o] = in[m @ o]
            perm = [next(j for j in range(nd) if m[j][k] != 0) for k in range(nd)]
            x = x.permute(*range(off), *(off + p for p in perm))
            flips = [off + k for k in range(nd) if m[perm[k]][k] < 0]
            if flips:
                x = torch.flip(x, flips)
            views.append(_centre_crop(x, out_shape))
        for j, v in enumerate(views):
            outs[j].append(v)
    res = [torch.stack(o) if o and o[0] is not None else None for o in outs]
    return res[0], res[1], res[2]


def _resample(images, targets, weights, mats, out_shape, cfg, gen):
    n, _, *in_shape = images.shape
    device = images.device
    axes = [torch.arange(s, device=device, dtype=torch.float32) - (s - 1) / 2 for s in out_shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)  # (*out, nd) offsets
    coords = torch.einsum("nij,...j->n...i", mats, grid)
    if cfg.elastic > 0 and cfg.elastic_p > 0:
        coords = coords + _elastic(n, out_shape, cfg, gen, device)
    centre = torch.tensor([(s - 1) / 2 for s in in_shape], device=device)
    size = torch.tensor(in_shape, device=device, dtype=torch.float32)
    norm = (coords + centre + 0.5) / size * 2 - 1  # align_corners=False convention
    norm = norm.flip(-1)  # grid_sample wants (x, y[, z])
    img = F.grid_sample(
        images.float(), norm, mode="bilinear", padding_mode="reflection", align_corners=False
    ).to(images.dtype)
    tgt = None
    if targets is not None:
        if targets.dtype.is_floating_point:
            tgt = F.grid_sample(
                targets, norm, mode="nearest", padding_mode="reflection", align_corners=False
            )
        else:
            t = targets[:, None].float()
            tgt = (
                F.grid_sample(
                    t, norm, mode="nearest", padding_mode="reflection", align_corners=False
                )[:, 0]
                .round()
                .to(targets.dtype)
            )
    w = None
    if weights is not None:
        w = F.grid_sample(
            weights[:, None].float(),
            norm,
            mode="bilinear",
            padding_mode="reflection",
            align_corners=False,
        )[:, 0]
    return img, tgt, w


def _intensity(x: torch.Tensor, cfg: AugmentConfig, gen) -> torch.Tensor:
    n = x.shape[0]
    dev = x.device
    view = (n,) + (1,) * (x.ndim - 1)
    if cfg.gamma > 0:
        lo = x.amin(dim=tuple(range(1, x.ndim)), keepdim=True)
        hi = x.amax(dim=tuple(range(1, x.ndim)), keepdim=True)
        span = (hi - lo).clamp_min(1e-6)
        g = torch.exp((2 * _rand(n, gen, dev) - 1) * math.log1p(cfg.gamma)).view(view)
        x = ((x - lo) / span).clamp(0, 1) ** g * span + lo
    if cfg.contrast > 0:
        mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
        c = (1 + (2 * _rand(n, gen, dev) - 1) * cfg.contrast).view(view)
        b = ((2 * _rand(n, gen, dev) - 1) * cfg.contrast / 2).view(view)
        x = (x - mean) * c + mean + b
    if cfg.noise > 0:
        s = (_rand(n, gen, dev) * cfg.noise).view(view)
        x = x + torch.randn(x.shape, generator=gen, device=dev, dtype=x.dtype) * s
    return x
