"""Image normalisation: decided once per image, carried by the model, applied to every block.

The rule (:class:`Normalization`) lives in the model's configuration. Its statistics
(:class:`NormStats`) are measured once per image, over the whole image or, for lazy and big
arrays, over a regular strided sample of it, and then applied identically to every tile, every
training patch and every preview. Never per tile: per-tile normalisation makes tiles disagree
and shows as seams.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_MODES = ("percentile", "none")

#: Largest number of elements per channel read to measure statistics; bigger images are sampled.
SAMPLE_ELEMENTS = 4_000_000
#: Largest magnitude accepted without normalisation (mode "none"): far beyond any intensity,
#: far below where float32 sums in the network overflow.
MAX_RAW_MAGNITUDE = 1e12


@dataclass(frozen=True)
class NormStats:
    """Per-channel statistics of one image.

    Parameters
    ----------
    low, high : tuple of float
        One value per channel: the intensities mapped to 0 and 1.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NormStats:
        """Inverse of :meth:`to_dict`."""
        return cls(low=tuple(float(v) for v in d["low"]), high=tuple(float(v) for v in d["high"]))


def _strided_sample(image: Any, axes: str, budget: int) -> np.ndarray:
    """Read ``image`` whole, or every k-th element along its non-channel axes if it is big."""
    c_axis = axes.find("C")
    per_channel = math.prod(s for i, s in enumerate(image.shape) if i != c_axis)
    index: list[slice] = [slice(None)] * image.ndim
    if per_channel > budget:
        spatial = [i for i in range(image.ndim) if i != c_axis and image.shape[i] > 1]
        step = math.ceil((per_channel / budget) ** (1.0 / max(1, len(spatial))))
        for i in spatial:
            index[i] = slice(None, None, step)
    block = image[tuple(index)]
    if hasattr(block, "compute"):  # dask
        block = block.compute()
    block = np.asarray(block)
    return block.view(np.uint8) if block.dtype == bool else block


def _check_values(sample: np.ndarray, mode: str) -> None:
    """Refuse values a network cannot learn from: NaN or infinite pixels (in every mode),
    and, without normalisation, magnitudes beyond :data:`MAX_RAW_MAGNITUDE`."""
    if sample.dtype.kind not in "fc" or sample.size == 0:
        if mode == "none" and sample.size and sample.dtype.kind in "iu" and \
                float(np.abs(sample.astype(np.float64)).max()) > MAX_RAW_MAGNITUDE:
            raise ValueError(f"image: expected values within +-{MAX_RAW_MAGNITUDE:g} with "
                             f"normalization 'none', found larger ones; use 'percentile'")
        return
    finite = np.isfinite(sample)
    if not finite.all():
        bad = int(sample.size - np.count_nonzero(finite))
        raise ValueError(f"image: expected only finite values, found {bad} NaN or infinite "
                         f"value(s) (in the sample read); replace them (e.g. with "
                         f"numpy.nan_to_num) before training or predicting")
    if mode == "none" and float(np.abs(sample).max()) > MAX_RAW_MAGNITUDE:
        raise ValueError(f"image: expected values within +-{MAX_RAW_MAGNITUDE:g} with "
                         f"normalization 'none', found {float(np.abs(sample).max()):g}; use "
                         f"'percentile' normalisation or rescale the image")


@dataclass(frozen=True)
class Normalization:
    """How a model wants its input intensities scaled.

    Parameters
    ----------
    mode : {"percentile", "none"}
        ``"percentile"`` maps the ``low`` percentile of each channel to 0 and the ``high``
        percentile to 1 (values outside are kept, not clipped); ``"none"`` only casts to float32.
    low, high : float
        Percentiles, ``0 <= low < high <= 100``.
    """

    mode: str = "percentile"
    low: float = 1.0
    high: float = 99.8

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"Normalization mode={self.mode!r} is not one of {_MODES}")
        if not 0.0 <= self.low < self.high <= 100.0:
            raise ValueError(
                f"Normalization percentiles must satisfy 0 <= low < high <= 100; "
                f"found low={self.low}, high={self.high}"
            )

    def stats(self, image: Any, *, axes: str) -> NormStats:
        """Measure per-channel statistics once for a whole image.

        Parameters
        ----------
        image : array-like (numpy, dask or zarr)
            The image, with axes named by ``axes``.
        axes : str
            Axis names such as ``"YX"``, ``"CZYX"``; ``"C"`` marks the channel axis.

        Returns
        -------
        NormStats
            One (low, high) pair per channel (one channel when ``axes`` has no ``C``).

        Raises
        ------
        ValueError
            If ``axes`` does not match ``image.ndim`` or the sampled values are not finite.
        """
        if len(axes) != image.ndim:
            raise ValueError(
                f"axes={axes!r} names {len(axes)} axes, but the image has {image.ndim} "
                f"(shape {tuple(image.shape)})"
            )
        c_axis = axes.find("C")
        n_channels = image.shape[c_axis] if c_axis >= 0 else 1
        sample = _strided_sample(image, axes, SAMPLE_ELEMENTS)
        _check_values(sample, self.mode)
        if self.mode == "none":
            return NormStats(low=(0.0,) * n_channels, high=(1.0,) * n_channels)
        sample = np.moveaxis(sample, c_axis, 0) if c_axis >= 0 else sample[None]
        sample = sample.reshape(n_channels, -1)
        wide = sample.astype(np.float64, copy=False)
        lows, highs = np.percentile(wide, [self.low, self.high], axis=1)
        scale = np.where(highs - lows > 1e-12, highs - lows, 1.0)
        reach = np.maximum(np.abs(wide.max(axis=1) - lows), np.abs(wide.min(axis=1) - lows))
        if wide.size and float((reach / scale).max()) > MAX_RAW_MAGNITUDE:
            raise ValueError(
                f"image: expected values within {MAX_RAW_MAGNITUDE:g} times the range between "
                f"its {self.low} and {self.high} percentiles, found outliers "
                f"{float((reach / scale).max()):.3g} times beyond it; remove or clip them")
        return NormStats(low=tuple(float(v) for v in lows), high=tuple(float(v) for v in highs))

    def apply(self, block: np.ndarray, stats: NormStats, *, axes: str) -> np.ndarray:
        """Scale a block (a tile, a patch or a whole image) with the image's statistics.

        Parameters
        ----------
        block : numpy.ndarray
            Any part of the image, with axes named by ``axes``.
        stats : NormStats
            The statistics of the whole image, from :meth:`stats`.
        axes : str
            Axis names of ``block``.

        Returns
        -------
        numpy.ndarray
            A new float32 array of the same shape; the input is never modified.
        """
        out = np.asarray(block, dtype=np.float32).copy()
        if self.mode == "none":
            return out
        c_axis = axes.find("C")
        shape = [1] * out.ndim
        if c_axis >= 0:
            shape[c_axis] = out.shape[c_axis]
        n = out.shape[c_axis] if c_axis >= 0 else 1
        if len(stats.low) != n:
            raise ValueError(
                f"stats has {len(stats.low)} channels, but the block has {n} (axes {axes!r})"
            )
        low = np.asarray(stats.low, dtype=np.float64)
        scale = np.asarray(stats.high, dtype=np.float64) - low
        scale = np.where(scale > 1e-12, scale, 1.0)
        out -= low.astype(np.float32).reshape(shape)
        out *= (1.0 / scale).astype(np.float32).reshape(shape)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Normalization:
        """Inverse of :meth:`to_dict`; ``None`` gives the default rule."""
        if d is None:
            return cls()
        return cls(mode=str(d.get("mode", "percentile")), low=float(d.get("low", 1.0)),
                   high=float(d.get("high", 99.8)))
