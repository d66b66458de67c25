"""The training loop as an object: :class:`Trainer` owns a run's data, network and counters.

A trainer prepares the data once, then trains in *segments*: each call of :meth:`Trainer.run`
trains for a budget and returns a copy of the network, and a later call continues the same
run (Stop, paint more, Continue): the step count, the optimizer's moments and the learning-rate
schedule go on instead of starting over. Labels may change while it trains
(:meth:`Trainer.update_labels`, from any thread); they reach the sampler and the held-out
regions between two steps. Written for this project: sparse-label training and the live loop
are the product's edge.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import torch

from napari_unet.core.devices import empty_cache, resolve_device
from napari_unet.core.io import to_numpy
from napari_unet.core.model import UNet
from napari_unet.core.normalize import Normalization
from napari_unet.core.prediction.network import channels_last_format
from napari_unet.core.training.affinity import affinity_weight
from napari_unet.core.training.architecture import class_names, grow_head, model_for, patch_shape
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.config import TrainConfig, TrainProgress
from napari_unet.core.training.dataset import TrainingSet, prepare_pairs
from napari_unet.core.training.labels import LabelUpdates
from napari_unet.core.training.losses import loss_function
from napari_unet.core.training.precision import choose_precision
from napari_unet.core.training.prior import apply_prior, wants_prior
from napari_unet.core.training.sampling import PatchSampler, validation_tiles
from napari_unet.core.training.schedule import auto_batch_size, lr_factor
from napari_unet.core.training.segment import Segment, run_segment
from napari_unet.core.training.teacher import Teaching, same_strokes, teach, wants_teacher
from napari_unet.core.training.validation import MAX_VAL_TILES

__all__ = ["Trainer", "validation_region"]


class Trainer:
    """One training run that can be continued and fed new labels while it runs.

    Parameters
    ----------
    config : TrainConfig
    pairs : sequence of (image, target)
        numpy or dask arrays (see :func:`~napari_unet.core.training.dataset.prepare_pairs`).
        The trainer keeps its own copy of each target, so later label updates never touch
        the caller's arrays.
    model : UNet or None
        Continue or fine-tune this model (trained in place); None: a shipped starting model
        when ``config.start`` allows and the data look alike, else random weights.
    device : str or torch.device

    Attributes
    ----------
    net : UNet
        The network being trained (on the device). Read it only between two records.
    steps : int
        Steps trained by this trainer, over all its segments.
    start : str
        Where the weights came from, in words (``"random weights"``, ``"starting model
        em_membranes ..."``, ``"given model"``).
    """

    def __init__(self, config: TrainConfig, pairs: Sequence[tuple[Any, Any]], *,
                 model: UNet | None = None, device: str | torch.device = "auto") -> None:
        self.t0 = time.perf_counter()
        self.config = config
        self.device = resolve_device(device)
        if not isinstance(pairs, Sequence) or len(pairs) == 0:
            raise ValueError("pairs: expected a non-empty sequence of (image, target) pairs, "
                             f"found {type(pairs).__name__}")
        self._images = [p[0] for p in pairs]
        self._targets = [np.array(to_numpy(p[1])) for p in pairs]
        self._assignment = [np.zeros(t.shape, np.int8) for t in self._targets]
        self._stats_for: Normalization | None = None
        self._stats: list[Any] = []
        patch = config.resolved_patch_shape
        self._region = validation_region(config)
        self._context = patch
        norm = model.normalization if model is not None else Normalization.from_dict(
            config.normalization)
        data = self._prepare(norm)  # checks the pairs before a starting model is looked for
        self.start = "given model" if model is not None else "random weights"
        self.start_steps = 0
        given = self.given = model is not None
        if model is None and config.start != "none":
            model, self.start = _starting_model(config, pairs)
            if model is not None:
                self.start_steps = int((model.meta.get("training") or {}).get("steps_total", 0))
                if model.normalization != norm:
                    norm = model.normalization
                    self._assignment = [np.zeros(t.shape, np.int8) for t in self._targets]
                    data = self._prepare(norm)
        channels = {it.image.shape[0] for it in data.items}
        if len(channels) != 1:
            raise ValueError(f"training images: expected one channel count, found "
                             f"{sorted(channels)}")
        torch.manual_seed(config.seed)
        self.net = model_for(config, model, data, channels.pop())
        self.net.normalization = norm
        self.names = class_names(config, model, data.n_classes)
        self.patch = patch_shape(config, self.net, data)
        self.net.to(self.device)
        #: Steps of the given model's own lineage (a user's model continued from its file).
        self.lineage_steps = (int((model.meta.get("training") or {}).get("steps_total", 0))
                              if given else 0)
        self.lr_scale = config.start_lr_factor if (given or self.start_steps) else 1.0
        #: A shipped starting model's weights, which ``config.start_anchor`` pulls back to
        #: (by name); a user's own model (given: ``start_steps`` stays 0) learns freely.
        self.anchor = ({n: q.detach().clone() for n, q in self.net.named_parameters()}
                       if config.start_anchor > 0 and self.start_steps else {})
        self.batch_size = config.batch_size or auto_batch_size(self.net, self.patch, self.device)
        self.augment = AugmentConfig.from_dict(config.augment)
        smooth = self.augment.scale > 0 or (self.augment.elastic > 0
                                            and self.augment.elastic_p > 0)
        margin = tuple(p // 8 if smooth else 0 for p in self.patch)
        if config.dims == 3:
            margin = (0, *margin[1:])
        self._in_shape = tuple(p + 2 * m for p, m in zip(self.patch, margin))
        self.precision = choose_precision(
            self.net, self.device, (self.batch_size, self.net.in_channels, *self.patch),
            enabled=config.amp)
        if self.precision.channels_last:
            self.net.to(memory_format=channels_last_format(self.net.dims))
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(config.seed)
        self.steps = 0
        self.segments: list[Segment] = []
        self.losses: list[float] = []
        self.times: list[float] = []
        self.val_loss: float | None = None
        self.val_iou: list | None = None
        self.updates = LabelUpdates()
        self.notes: list[str] = []
        #: What the shallow teacher added to the strokes now sampled (``config.teacher``).
        self.teaching: Teaching | None = None
        self._offered: tuple[Any, TrainingSet, float | None] | None = None
        self._use(data)

    # ------------------------------------------------------------------ data
    def _prepare(self, normalization: Normalization) -> TrainingSet:
        cfg = self.config
        pairs = list(zip(self._images, self._targets))
        if self._stats_for != normalization:  # image statistics: computed once per rule
            self._stats_for, self._stats = normalization, [None] * len(pairs)
        return prepare_pairs(
            pairs, axes=cfg.axes, dims=cfg.dims, task=cfg.task, normalization=normalization,
            n_classes=cfg.n_classes, val_fraction=cfg.val_fraction, region=self._region,
            context=self._context, border_weight=cfg.border_weight,
            border_sigma=cfg.border_sigma, seed=cfg.seed,
            assignment=self._assignment, stats=self._stats,
        )

    def _use(self, data: TrainingSet) -> None:
        """Sample from ``data`` from the next step on (sampler, tiles, loss, counters)."""
        self.data = data
        self.teaching, self._teach_due = None, True
        #: Weight of the affinity term for these strokes (``config.affinity``).
        self.affinity = affinity_weight(self.config, data, trained_start=self.given
                                        or self.start_steps > 0)
        self._sample_from(data)
        tiles = validation_tiles(data, context=tuple(max(8, p // 4) for p in self.patch))
        if len(tiles) > MAX_VAL_TILES:  # dense masks: a spread-out sample keeps it cheap
            keep = np.linspace(0, len(tiles) - 1, MAX_VAL_TILES).round().astype(int)
            tiles = [tiles[i] for i in keep]
        self.tiles = tiles
        k = data.n_classes if data.task != "regression" else 1
        old = getattr(self, "seen", np.zeros(0))
        self.seen = np.zeros(k, np.float64)
        self.seen[: min(k, old.size)] = old[:k]

    def _sample_from(self, data: TrainingSet) -> None:
        self.loss_fn = loss_function(self.config, data)
        self.sampler = PatchSampler(data, self._in_shape, balance=self.config.balance,
                                    seed=self.config.seed + len(self.segments))

    def offer_shallow(self, shallow: Any, data: TrainingSet, held_out_iou: float | None
                      ) -> None:
        """Offer a shallow classifier fitted on ``data`` (a live run's first answer) to the
        teacher: when the run's strokes are still those of ``data``, it teaches with it
        instead of fitting the same classifier again (the teacher took 0.6 s instead of
        1.1-1.4 s on the ovule volume, with the same labels)."""
        self._offered = (shallow, data, held_out_iou)

    def teach(self, stop: Any = None) -> str:
        """Add the shallow teacher's confident pixels to the strokes sampled from, once per
        set of strokes, where ``config.teacher`` wants it
        (:mod:`~napari_unet.core.training.teacher`); the words for the progress record, or
        "" when nothing was taught. ``stop`` (with ``is_set()``) abandons it between blocks
        (the next segment tries again)."""
        offered, self._offered = self._offered, None  # for the first strokes only
        if not self._teach_due:
            return ""
        self._teach_due = False
        if not wants_teacher(self.config, self.data, trained_start=self.given
                             or self.start_steps > 0):
            return ""
        fitted = (offered[0], offered[2]) if offered is not None and same_strokes(
            offered[1], self.data) else None
        taught = teach(self.data, threshold=self.config.teacher_threshold,
                       seed=self.config.seed, stop=stop.is_set if stop is not None else None,
                       fitted=fitted)
        if taught is None:
            self._teach_due = stop is not None and stop.is_set()
            return ""
        self.teaching = taught
        self._sample_from(taught.data)
        return taught.words()

    def update_labels(self, index: int, region: tuple[slice, ...] | None, values: Any) -> None:
        """Change the target of pair ``index`` while training runs (thread-safe).

        ``target[region] = values`` on the trainer's own copy; the change reaches the
        sampler, the class counts and the held-out regions before the next step (new
        labels are split into training and held-out regions by the same rule as the first
        ones; pixels already used for training are never moved to validation). ``region``
        None replaces the whole target.
        """
        if not 0 <= index < len(self._targets):
            raise ValueError(f"update_labels: expected a pair index in 0..{len(self._targets) - 1},"
                             f" found {index}")
        self.updates.post(index, region, values)

    def apply_label_updates(self) -> bool:
        """Apply the pending label updates (the training thread calls this between steps)."""
        changed = self.updates.apply(self._targets)
        if not changed:
            return False
        data = self._prepare(self.net.normalization)
        k_old = self.net.out_channels
        if data.task == "semantic" and data.n_classes > k_old:
            grow_head(self.net, data.n_classes)
            self.names = class_names(self.config, None, data.n_classes, self.names)
            self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=self.config.lr,
                                               weight_decay=self.config.weight_decay)
            self.notes.append(f"class {data.n_classes} painted at step {self.steps}: "
                              f"the network grew from {k_old} to {data.n_classes} outputs "
                              "and its optimizer restarted")
        elif data.task == "semantic" and data.n_classes < k_old:
            data.n_classes = k_old
            data.class_counts = np.pad(data.class_counts, (0, k_old - len(data.class_counts)))
        self._use(data)
        return True

    def painted_pixels(self) -> dict[str, int]:
        """Labelled pixels used now: for training and held out."""
        return {"train": self.data.n_train_labelled, "validation": self.data.n_val_labelled}

    # ------------------------------------------------------------------ training
    def prepare_record(self, extra: str = "") -> TrainProgress:
        """The record that says what the run trains on (``phase="prepare"``), ``extra``
        appended."""
        d = self.data
        return TrainProgress(
            self.steps, self.config.max_steps or 0, phase="prepare",
            elapsed=time.perf_counter() - self.t0, batch_size=self.batch_size,
            message=(f"{len(d.items)} sample(s), {d.n_train_labelled} labelled pixels for "
                     f"training, {d.n_val_labelled} held out; patches {self.patch}, batch "
                     f"{self.batch_size}; {self.precision.words}; starts from {self.start}"
                     + (f"; affinity term {self.affinity:g}" if self.affinity else "")
                     + (f"; {extra}" if extra else "")),
        )

    def run(self, *, max_steps: int | None = None, max_seconds: float | None = None,
            stop: Any = None) -> Generator[TrainProgress, None, UNet]:
        """Train one segment; yield progress; return a CPU copy of the network.

        The budget defaults to the config's for the first segment and to the same budget
        again for each later one. The learning-rate schedule is one cosine over the sum of
        the segments' budgets (a Continue extends it, without a second warm-up); a later
        segment whose held-out loss ends worse than where it started gives its weights back
        (the record and :attr:`notes` say so). ``stop`` (an object with ``is_set()``) ends
        the segment within one step. The first segment's time budget counts from the
        trainer's creation (data preparation included), a later one's from its call.
        """
        cfg = self.config
        if max_steps is None and max_seconds is None:
            max_steps, max_seconds = cfg.max_steps, cfg.max_seconds
        first = not self.segments
        start = self.t0 if first else time.perf_counter()
        seg = Segment(max_steps=max_steps, max_seconds=max_seconds, start_step=self.steps,
                      t0=start, warmup=cfg.warmup_steps if first else 0)
        self.segments.append(seg)
        try:
            return (yield from run_segment(self, seg, stop))
        finally:
            empty_cache(self.device)

    def lr_at(self, seg: Segment, used: float) -> float:
        """Learning rate at ``used`` (share of ``seg``'s budget) of segment ``seg``."""
        progress = (len(self.segments) - 1 + min(1.0, used)) / len(self.segments)
        f = lr_factor(progress, self.steps - seg.start_step, warmup_steps=seg.warmup,
                      schedule=self.config.schedule)
        return self.config.lr * f * self.lr_scale

    def exclude_time(self, seconds: float) -> None:
        """Leave ``seconds`` spent outside training (a live preview between two steps) out of
        the running segment's time budget and speed figures; before the first segment, out
        of the first budget (which counts from the trainer's creation)."""
        seconds = max(0.0, float(seconds))
        if self.segments:
            self.segments[-1].paused += seconds
        else:
            self.t0 += seconds

    def corrects_prior(self) -> bool:
        """Whether a stop now corrects the class prior (``config.prior``,
        :func:`~napari_unet.core.training.prior.wants_prior`; not after a shipped start)."""
        return (wants_prior(self.config, self.data, from_start=self.start_steps > 0)
                and self.seen.sum() > 0)

    def model_copy(self, *, prior: bool = False) -> UNet:
        """A CPU, eval-mode copy of the network (the trainer keeps training its own).

        With ``prior``, the copy's class prior is corrected as a stop now would correct it
        (``config.prior``, :func:`~napari_unet.core.training.prior.apply_prior`); the
        estimate goes to ``clone.meta["class_prior"]``.
        """
        was = self.net.training
        self.net.eval()
        clone = copy.deepcopy(self.net).eval()
        self.net.train(was)
        clone.meta.pop("class_prior", None)  # a given model's, from the run that made it
        if prior and self.corrects_prior():
            estimate = apply_prior(clone, self.data, self.seen, self.device)
            if estimate is not None:
                clone.meta["class_prior"] = estimate
        return clone.to("cpu", memory_format=torch.contiguous_format)


def validation_region(config: TrainConfig) -> list[int]:
    """The shape of a held-out region: the config's, else half a patch in-plane (the whole
    patch depth in 3D)."""
    patch = config.resolved_patch_shape
    return list(config.val_region) or (
        [max(16, p // 2) for p in patch] if config.dims == 2
        else [patch[0]] + [max(16, p // 2) for p in patch[1:]])


def _starting_model(config: TrainConfig, pairs: Sequence[tuple[Any, Any]]
                    ) -> tuple[UNet | None, str]:
    from napari_unet.core.training.start_models import choose_start

    names = None if config.start == "auto" else [config.start]
    model, why = choose_start(config.task, config.dims, config.axes, list(pairs),
                              config.n_classes, names=names)
    return model, (f"starting model {why}" if model is not None else f"random weights ({why})")
