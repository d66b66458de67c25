"""The training configuration (:class:`TrainConfig`) and progress record (:class:`TrainProgress`).

One :class:`TrainConfig` describes a run completely; it is saved in the model's metadata
(``model.meta["training"]["config"]``) so a run started in the GUI can be repeated from the
command line.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from napari_unet.core.progress import Progress
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.targets import TASKS


def _is_weight(value: Any) -> bool:
    """Whether ``value`` is a finite real number >= 0 (the weight of a loss term)."""
    return isinstance(value, numbers.Real) and value >= 0 and math.isfinite(value)


@dataclass
class TrainConfig:
    """Everything that decides a training run.

    Attributes
    ----------
    task : {"semantic", "instances", "regression"}
        What the targets are (see :mod:`napari_unet.core.training.targets`).
    axes : str
        Axes of the training images, e.g. ``"YX"``, ``"CYX"``, ``"ZYX"``, ``"TYX"``.
    dims : {2, 3}
        Spatial dimensions of the model.
    n_classes : int or None
        Classes of a semantic model (default: the largest painted value).
    class_names : list of str or None
        Names stored in the model (default ``"class 1"``, ...; fixed for instances).
    depth, base_channels, norm, padding, upsampling, inplane_levels
        Architecture of a new model (ignored when a model is given). The default, a 3-level
        net 16 channels wide, trains fast on a CPU.
    normalization : dict
        The image normalisation rule of a new model (:class:`~.normalize.Normalization`).
    max_steps : int or None
        Step budget. At least one of ``max_steps`` and ``max_seconds`` must be set; training
        stops at whichever comes first.
    max_seconds : float or None
        Time budget in seconds, counted from the call (data preparation included).
    batch_size : int or None
        None: chosen from the memory at hand (and halved on an out-of-memory error).
    patch_shape : list of int
        Spatial patch shape; defaults to 128 x 128 (2D) or 16 x 96 x 96 (3D) when empty.
    lr, weight_decay : float
        AdamW's base learning rate and weight decay.
    warmup_steps : int
        Linear learning-rate warm-up.
    schedule : {"cosine", "constant"}
        Decay over the budget after the warm-up.
    dice_weight : float
        Weight of the soft Dice term next to the cross-entropy (semantic and instances).
    class_weights : list of float, "balanced" or None
        Cross-entropy class weights; ``"balanced"`` from the labelled pixel counts.
    border_weight, border_sigma : float
        ``w0`` and ``sigma`` of the instance border weight map.
    regression_loss : {"l1", "l2"}
    balance : bool
        Centre patches on classes chosen uniformly (class-balanced sampling).
    augment : dict
        An :class:`~.augment.AugmentConfig` as a dict.
    val_fraction : float
        Share of labelled pixels held out for validation, by whole regions.
    val_region : list of int
        Shape of a held-out region; empty: half the patch in-plane, the whole patch in Z.
    val_every : int or None
        Validate every this many steps; None: about ten times per budget.
    pseudo_labels : float
        Weight of the self-label term on unpainted pixels (semantic task;
        :mod:`~napari_unet.core.training.pseudo`); 0 = off, the default.
    pseudo_threshold : float
        Least confidence of an unpainted pixel's prediction for it to be used.
    affinity : float or "auto"
        Weight of the affinity (CRF-style) term: neighbouring pixels that look alike are
        pushed towards one class, so what the strokes teach spreads up to intensity edges
        (semantic task; :mod:`~napari_unet.core.training.affinity`); 0 = off. ``"auto"`` (the
        default) gives weight 1 to sparse 2D paintings in runs from random weights and 0
        elsewhere: from 1 % strokes (benchmarks/RESULTS.md, runs 25-26, medians of 3 seeds
        at 60 s, off -> on) DSB nuclei 0.787 -> 0.834 IoU (object F1 0.815 -> 0.852), ISBI
        membranes 0.514 -> 0.539, phase-contrast cells 0.627 -> 0.616 (within their seed
        spread), while in 3D, where it costs a sixth of the steps, the ovule membranes lost
        (0.626 -> 0.581).
    patience : int or None
        Stop early when this many validations in a row have not lowered the held-out loss
        by at least 1 % of its best value (a plateau), counted once a fifth of the budget
        (and at least 100 steps) is trained; new strokes restart the count. None: train the
        whole budget. The widget's size presets set 3 (about 30 % of the budget without
        progress).
    keep : {"last", "best"}
        Which weights the returned model carries (best = lowest validation loss). Held-out
        strokes are few, so "best" is a noisy choice; with the cosine decay "last" is the
        safer default. A continued run (Continue) never returns weights worse on the
        held-out strokes than those it started from.
    prior : {"auto", "on", "off"}
        Correct the class frequencies learnt from sparse, class-balanced paint with those
        estimated (by EM, Saerens et al. 2002) on the unpainted pixels of the training images:
        a shift of the last layer's bias, applied to the returned model and to the live
        preview. ``"auto"`` does it for semantic paintings that cover less than a third of
        their region, in runs that did not start from a shipped starting model (whose
        frequencies come from dense masks). Off by default: from 1 % strokes and random
        weights (benchmarks/RESULTS.md, medians of 3 seeds at 60 s) it lifted DSB nuclei
        by 0.11 IoU, the 3D ovule membranes by 0.03 and the 3D nuclei by 0.02, but cost
        ISBI membranes 0.09 and phase-contrast cells 0.08 (and ISBI after the EM start 0.21).
    teacher : {"auto", "on", "off"}
        Learn also from the unpainted pixels that a shallow classifier fitted on the training
        strokes is sure of (:mod:`~napari_unet.core.training.teacher`). ``"auto"`` (the
        default) does it for sparse 3D semantic paintings in runs from random weights, never
        in 2D, after a shipped starting model or for a given model: the U-Net then answers
        about as the shallow classifier does, which lifted both 3D kinds measured (ovule
        membranes +0.15, nuclei +0.11 IoU at 60 s from 1 % strokes) and ISBI membranes
        (+0.08), but cost DSB nuclei 0.05 and phase-contrast cells 0.06
        (benchmarks/RESULTS.md). ``"on"`` teaches every semantic run.
    teacher_threshold : float
        Least probability of the shallow classifier's class for an unpainted pixel to be used.
    amp : bool
        Mixed precision (autocast): bfloat16 (or float16) on CUDA, and bfloat16 on CPUs that
        compute it natively when a short trial finds it faster
        (:mod:`~napari_unet.core.training.precision`); the loss and the optimizer stay float32.
    start : str
        Without a given model: ``"auto"`` starts from a shipped starting model when the data
        look alike and the strokes agree with it (see
        :mod:`~napari_unet.core.training.start_models`), ``"none"`` from random weights, or
        the name of a shipped starting model to try.
    start_lr_factor : float
        Learning-rate factor when training from a shipped starting model or a given model
        (a model continued from a file, or the current one): fine-tuning on a
        few strokes with the full rate undoes much of what it knew (ISBI, 5 images, 1%
        strokes, 150 steps: IoU 0.66 as shipped, 0.63 after lr 3e-3, 0.66 after 1e-3).
        0.1 since bench_strokes (1 % strokes, 60 s, dev images): DSB nuclei from the
        nuclei starting model 0.876 IoU / 0.880 F1 against 0.838 / 0.852 with 0.3; ISBI
        0.672 against 0.669 (benchmarks/RESULTS.md).
    start_anchor : float
        Pull toward the starting weights while fine-tuning a shipped starting model (L2-SP,
        Li et al. 2018, decoupled like AdamW's decay): after each step every weight moves
        ``lr * start_anchor`` of the way back to where it started (about 3 % at the default
        fine-tuning rate), so a few strokes adjust the model without it forgetting what it
        knew elsewhere. A given model (a user's own, continued) is not pulled. 0: off. 100
        since bench_strokes (1 % strokes, 60 s, dev images, one seed): DSB nuclei IoU 0.924
        against 0.829 without, Usiigaci cells 0.794 against 0.764, 3D nuclei 0.665 against
        0.584; 30 gave 0.897 / 0.789 / 0.656 and ISBI 0.681 against 0.675
        (benchmarks/RESULTS.md).
    tune_instances : bool
        Instance models: after training, fit the seed and foreground thresholds of the
        post-processing to the training masks (:mod:`~napari_unet.core.objects.tuning`) and
        keep them in ``model.meta["instance_options"]``. Up to a tenth of a time budget is kept
        for it (Usiigaci cells, 740 steps: F1@0.5 0.62 with the default seed threshold 0.5,
        0.78 with 0.9; touching cells merge through soft interiors).
    seed : int
    """

    task: str = "semantic"
    axes: str = "YX"
    dims: int = 2
    n_classes: int | None = None
    class_names: list[str] | None = None
    depth: int = 3
    base_channels: int = 16
    norm: str = "batch"
    padding: str = "same"
    upsampling: str = "transposed"
    inplane_levels: int = 0
    normalization: dict = field(
        default_factory=lambda: {"mode": "percentile", "low": 1.0, "high": 99.8}
    )
    max_steps: int | None = 500
    max_seconds: float | None = None
    batch_size: int | None = None
    patch_shape: list[int] = field(default_factory=list)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    schedule: str = "cosine"
    dice_weight: float = 0.5
    class_weights: list[float] | str | None = None
    border_weight: float = 10.0
    border_sigma: float = 5.0
    regression_loss: str = "l1"
    balance: bool = True
    augment: dict = field(default_factory=lambda: AugmentConfig().to_dict())
    val_fraction: float = 0.1
    val_region: list[int] = field(default_factory=list)
    val_every: int | None = None
    patience: int | None = None
    pseudo_labels: float = 0.0
    pseudo_threshold: float = 0.9
    affinity: float | str = "auto"
    keep: str = "last"
    prior: str = "off"
    teacher: str = "auto"
    teacher_threshold: float = 0.9
    amp: bool = True
    start: str = "auto"
    start_lr_factor: float = 0.1
    start_anchor: float = 100.0
    tune_instances: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):  # numbers must be numbers (a "0.1" from a hand-written dict)
            value = getattr(self, f.name)
            if (isinstance(f.default, (int, float)) and not isinstance(f.default, bool)
                    and not (value is None and "None" in str(f.type))
                    and (isinstance(value, bool) or not isinstance(value, numbers.Real))):
                raise TypeError(f"TrainConfig.{f.name}: expected a number such as "
                                f"{f.default!r}, found {type(value).__name__} {value!r}")
        if self.task not in TASKS:
            raise ValueError(f"TrainConfig.task must be one of {TASKS}, got {self.task!r}")
        if self.dims not in (2, 3):
            raise ValueError(f"TrainConfig.dims must be 2 or 3, got {self.dims!r}")
        if self.max_steps is None and self.max_seconds is None:
            raise ValueError("TrainConfig needs a budget: set max_steps, max_seconds or both")
        if self.max_steps is not None and (isinstance(self.max_steps, bool)
                                           or not isinstance(self.max_steps, numbers.Integral)
                                           or self.max_steps < 1):
            raise ValueError(f"TrainConfig.max_steps: expected a whole number of steps >= 1 "
                             f"(or None), found {self.max_steps!r}")
        if self.max_seconds is not None and (
                isinstance(self.max_seconds, bool)
                or not isinstance(self.max_seconds, numbers.Real)
                or not math.isfinite(self.max_seconds) or self.max_seconds <= 0):
            raise ValueError(f"TrainConfig.max_seconds: expected a finite number of seconds "
                             f"> 0 (or None), found {self.max_seconds!r}")
        if self.patience is not None and (isinstance(self.patience, bool)
                                          or not isinstance(self.patience, numbers.Integral)
                                          or self.patience < 1):
            raise ValueError(f"TrainConfig.patience: expected a whole number of validations "
                             f">= 1 (or None), found {self.patience!r}")
        for name in ("pseudo_labels", "start_anchor"):
            value = getattr(self, name)
            if not _is_weight(value):
                raise ValueError(f"TrainConfig.{name}: expected a weight >= 0, found {value!r}")
        if self.affinity != "auto" and (isinstance(self.affinity, bool)
                                        or not _is_weight(self.affinity)):
            raise ValueError(f"TrainConfig.affinity: expected 'auto' or a weight >= 0, found "
                             f"{self.affinity!r}")
        if not (isinstance(self.pseudo_threshold, numbers.Real)
                and 0.5 <= self.pseudo_threshold <= 1.0):
            raise ValueError(f"TrainConfig.pseudo_threshold: expected a probability in "
                             f"[0.5, 1], found {self.pseudo_threshold!r}")
        if self.keep not in ("best", "last"):
            raise ValueError(f"TrainConfig.keep must be 'best' or 'last', got {self.keep!r}")
        if self.prior not in ("auto", "on", "off"):
            raise ValueError(f"TrainConfig.prior must be 'auto', 'on' or 'off', got {self.prior!r}")
        if self.teacher not in ("auto", "on", "off"):
            raise ValueError(f"TrainConfig.teacher must be 'auto', 'on' or 'off', got "
                             f"{self.teacher!r}")
        if not (isinstance(self.teacher_threshold, numbers.Real)
                and 0.5 <= self.teacher_threshold <= 1.0):
            raise ValueError(f"TrainConfig.teacher_threshold: expected a probability in "
                             f"[0.5, 1], found {self.teacher_threshold!r}")
        if self.regression_loss not in ("l1", "l2"):
            raise ValueError(
                f"TrainConfig.regression_loss must be 'l1' or 'l2', got {self.regression_loss!r}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"TrainConfig.val_fraction: expected a fraction in [0, 1), found "
                             f"{self.val_fraction!r}")
        if self.patch_shape and len(self.patch_shape) != self.dims:
            raise ValueError(
                f"TrainConfig.patch_shape {self.patch_shape} must have {self.dims} sizes "
                f"for a {self.dims}D model"
            )
        AugmentConfig.from_dict(self.augment)  # raises TypeError on unknown keys
        self.axes = self.axes.upper()
        self.patch_shape = [int(v) for v in self.patch_shape]
        self.val_region = [int(v) for v in self.val_region]

    @property
    def resolved_patch_shape(self) -> tuple[int, ...]:
        if self.patch_shape:
            return tuple(self.patch_shape)
        return (128, 128) if self.dims == 2 else (16, 96, 96)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (inverse: :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Default value of every field, by name."""
        out = {}
        for f in fields(cls):
            out[f.name] = f.default if f.default is not MISSING else f.default_factory()
        return out


@dataclass(frozen=True)
class TrainProgress(Progress):
    """One step of training.

    Attributes (besides :class:`~.progress.Progress`'s ``step``, ``total``, ``message``,
    ``loss``, ``metrics``)
    ----------
    lr : float or None
        Learning rate of this step.
    val_loss : float or None
        Latest validation loss (None until the first validation, or without validation).
    val_iou : tuple or None
        Latest per-class validation IoU (None entries for classes absent there).
    steps_per_s : float
        Recent training speed.
    elapsed : float
        Seconds since the call.
    eta : float or None
        Seconds left by the budget.
    batch_size : int
    phase : str
        ``"prepare"``, ``"labels"`` (new strokes reached the run), ``"train"``,
        ``"validate"``, ``"tune"`` (instance post-processing fitted after training) or
        ``"done"``.
    """

    lr: float | None = None
    val_loss: float | None = None
    val_iou: tuple[float | None, ...] | None = None
    steps_per_s: float = 0.0
    elapsed: float = 0.0
    eta: float | None = None
    batch_size: int = 0
    phase: str = "train"
