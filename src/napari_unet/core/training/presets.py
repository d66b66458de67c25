"""Size presets of the Train widget, in steps rather than seconds.

A preset used to be a time budget (``fast`` = 60 s), which buys 700 steps on one machine and
40 on another. A preset now names an architecture, a **step** budget that reaches a useful
plateau on the samples (a quality, not a duration), a generous time cap, and early stopping:
training ends when the held-out strokes stop improving (``TrainConfig.patience``). What the
preset buys on the machine at hand is said in words by :func:`describe_preset`, with a
duration estimated from a measured speed when one is known.

Step budgets: on this project's 2-core CPU (bfloat16) the 2D ``fast`` net runs about 12
steps/s with batch 4 of 128^2 (benchmarks/RESULTS.md, Quality: 1840 steps in 150 s), so 600
steps are about 50 s there, a few seconds on a GPU and a few minutes on a laptop without
native bfloat16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "Preset", "describe_preset", "preset_settings"]


@dataclass(frozen=True)
class Preset:
    """One size preset.

    Attributes
    ----------
    depth, base_channels : int
        Architecture of a new model.
    patch : int
        Patch side in pixels (2D; in 3D the in-plane side, the depth is 16).
    steps_2d, steps_3d : int
        Step budget of a 2D and a 3D model (a 3D step costs about three 2D steps).
    max_seconds : float
        Time cap, whatever the machine: a slow laptop stops here with what it has.
    patience : int
        Validations without progress before training stops early.
    """

    depth: int
    base_channels: int
    patch: int
    steps_2d: int
    steps_3d: int
    max_seconds: float
    patience: int = 3

    def steps(self, dims: int) -> int:
        """The step budget of a ``dims``-D model."""
        return self.steps_2d if dims == 2 else self.steps_3d


#: The presets by name, smallest first.
PRESETS: dict[str, Preset] = {
    "fast": Preset(3, 16, 128, steps_2d=600, steps_3d=300, max_seconds=300),
    "balanced": Preset(4, 16, 192, steps_2d=2000, steps_3d=1000, max_seconds=1200),
    "accurate": Preset(4, 32, 256, steps_2d=6000, steps_3d=3000, max_seconds=3600),
}


def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"size preset {name!r}: expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_settings(name: str, dims: int) -> dict[str, Any]:
    """The :class:`~napari_unet.core.training.config.TrainConfig` fields a preset sets.

    Raises
    ------
    ValueError
        For an unknown preset name or ``dims`` other than 2 or 3.
    """
    p = _preset(name)
    if dims not in (2, 3):
        raise ValueError(f"dims: expected 2 or 3, found {dims!r}")
    patch = [p.patch, p.patch] if dims == 2 else [16, p.patch * 3 // 4, p.patch * 3 // 4]
    return {"depth": p.depth, "base_channels": p.base_channels, "patch_shape": patch,
            "max_steps": p.steps(dims), "max_seconds": p.max_seconds,
            "patience": p.patience}


def describe_preset(name: str, dims: int, *, steps_per_s: float | None = None) -> str:
    """What a preset buys, in words: steps, early stopping, the cap and (when a speed was
    measured here) about how long it takes on this machine."""
    p = _preset(name)
    steps = p.steps(dims)
    words = (f"{name}: {p.depth} levels x {p.base_channels} channels, up to {steps} steps; "
             f"stops early when the held-out strokes stop improving; at most "
             f"{p.max_seconds / 60:.0f} min")
    if steps_per_s and steps_per_s > 0:
        words += f" (about {max(1, round(steps / steps_per_s))} s at this machine's last speed)"
    return words
