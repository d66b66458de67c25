"""The live preview of a training run, and its first answer, for the widget and scripts alike.

Until the U-Net matches it on the held-out strokes (within :data:`STROKE_TIE`), a preview
comes from a shallow pixel classifier fitted on the strokes in about a second
(:mod:`~napari_unet.core.training.shallow`); from then on from the U-Net's weights of the
moment. Previews are predicted tile by tile with Stop checked between tiles (between
forward passes, which may hold several tiles, for the U-Net), take at most
:data:`PREVIEW_SHARE` of the training time, and their time is left out of the trainer's
budget. Volumes too: with the random forest and scales up to 16 voxels they get
(:mod:`~napari_unet.core.training.shallow`), what the live loop shows on the 3D ovule rose from
0.14 / 0.41 / 0.50 IoU at 5 / 10 / 20 s (the U-Net from random weights) to 0.55
(benchmarks/RESULTS.md, run 19). Where the trainer has its shallow teacher
(:mod:`~napari_unet.core.training.teacher`) for the strokes of the moment, that classifier is
the one shown (no second fit), and the other way round: the first answer, fitted before the
trainer exists, is what the teacher labels with while the strokes are unchanged. The model
that is saved and predicted with is always the U-Net.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from napari_unet.core.io import to_numpy
from napari_unet.core.prediction.predict import predict
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.dataset import TrainingSet, prepare_pairs
from napari_unet.core.training.loop import Trainer, validation_region
from napari_unet.core.training.prior import corrected_classes
from napari_unet.core.training.shallow import ShallowClassifier, grid_blocks
from napari_unet.core.training.teacher import same_strokes
from napari_unet.core.training.validation import STROKE_TIE, mean_iou, unet_matches

__all__ = ["PREVIEW_SHARE", "PREVIEW_SIDE", "PREVIEW_SLAB", "PREVIEW_TILE", "STROKE_TIE",
           "Previewer", "first_answer_data"]

#: Most of the training time that previews may take.
PREVIEW_SHARE = 0.1
#: Preview tiles (pixels per side): Stop is checked between two of them.
PREVIEW_TILE = 256
#: Most pixels per side of the region a preview covers, by the model's dimensions: a screen in
#: 2D; in 3D with :data:`PREVIEW_SLAB` slices about 260 000 voxels, which the shallow
#: classifier predicts in 0.8 s and the shipped 3D nuclei start in 1.9 s on 2 CPU cores (one
#: forward pass, so Stop waits for it), where a whole stack under a 1024 x 1024 view would take
#: minutes (benchmarks/RESULTS.md).
PREVIEW_SIDE = {2: 1024, 3: 128}
#: Slices of a volume a 3D model's preview covers, centred on the current one.
PREVIEW_SLAB = 16


class Previewer:
    """Predicts live previews for one run: the shallow classifier first, then the U-Net.

    Parameters
    ----------
    normalization : Normalization
        The image rule of the run (replaced by the trainer's when :meth:`attach` is called).
    image : array-like
        The first training image (its statistics normalise every preview, as prediction
        does).
    axes : str
        Its axes.
    stop : threading.Event or None
        Checked between two preview tiles.
    shallow_options : dict, optional
        Keyword arguments of :class:`ShallowClassifier` (its defaults otherwise).
    seed : int
        The run's seed (``TrainConfig.seed``): the first answer is fitted with it, as the
        trainer's teacher would be, so that the teacher can use it.
    """

    def __init__(self, normalization: Any, image: Any, axes: str,
                 stop: threading.Event, shallow_options: dict[str, Any] | None = None, *,
                 seed: int = 0) -> None:
        self.norm, self.image, self.axes, self.stop = normalization, image, axes, stop
        self.seed = seed
        self.stats = normalization.stats(image, axes=axes)
        self.trainer: Trainer | None = None
        self.shallow: ShallowClassifier | None = None
        self.shallow_options = dict(shallow_options or {})
        self.shallow_iou: float | None = None
        self.fitted_on: TrainingSet | None = None
        self.spent = 0.0
        self.shown = ""
        self.unet_won = False

    def attach(self, trainer: Trainer) -> None:
        """Preview for ``trainer`` from now on (its normalisation, its data, its budget); the
        first answer, fitted with the trainer's rule, is offered to its teacher."""
        self.trainer = trainer
        if trainer.net.normalization != self.norm:  # a starting model brings its own rule
            self.norm = trainer.net.normalization
            self.stats = self.norm.stats(self.image, axes=self.axes)
        elif self.shallow is not None and self.fitted_on is not None and not self.shallow_options:
            trainer.offer_shallow(self.shallow, self.fitted_on, self.shallow_iou)

    def refit(self, data: Any) -> None:
        """(Re)fit the shallow classifier on the training strokes of ``data``; where the
        trainer's shallow teacher, or the classifier shown, was fitted on these strokes
        (:func:`~napari_unet.core.training.teacher.same_strokes`), nothing is fitted again."""
        if data.task == "regression":
            return
        taught = self.trainer.teaching if self.trainer is not None else None
        if taught is not None and taught.source is data and not self.shallow_options:
            self.shallow, self.shallow_iou = taught.shallow, taught.held_out_iou
            self.fitted_on = data
            return
        if self.fitted_on is not None and same_strokes(self.fitted_on, data):
            self.fitted_on = data  # the trainer's copy of the first answer's strokes
            return
        t = time.perf_counter()
        seed = self.trainer.config.seed if self.trainer is not None else self.seed
        self.shallow = ShallowClassifier(seed=seed, **self.shallow_options).fit(data)
        self.shallow_iou = mean_iou(self.shallow.held_out_iou(data))
        self.fitted_on = data
        if self.trainer is not None:
            self.trainer.exclude_time(time.perf_counter() - t)

    def source(self) -> str:
        """Which model a preview shows now: the U-Net once its held-out IoU reaches the
        shallow classifier's less :data:`STROKE_TIE`; it stays the U-Net from then on.
        Without held-out strokes to compare them on, the shallow classifier until the first
        segment ends (a Continue shows the U-Net)."""
        tr = self.trainer
        if self.shallow is None or self.unet_won:
            return "U-Net" if tr is not None else ""
        if tr is None:
            return "shallow"
        unet = mean_iou(tr.val_iou)
        if self.shallow_iou is None or unet is None:
            self.unet_won = len(tr.segments) > 1
        else:
            self.unet_won = unet_matches(unet, self.shallow_iou)
        return "U-Net" if self.unet_won else "shallow"

    def allowed(self) -> bool:
        """Whether a preview fits the time share (the first one always does)."""
        if not self.shown or self.trainer is None:
            return True
        seg = self.trainer.segments[-1] if self.trainer.segments else None
        trained = seg.seconds() if seg is not None else 0.0
        return self.spent <= PREVIEW_SHARE * max(trained, 1e-9)

    def predict(self, image: Any, axes: str) -> tuple[np.ndarray, str] | None:
        """The preview of ``image`` (a region with ``axes``, the stack axes already chosen):
        classes 1..K (or the regression output) and which model made them ("U-Net" or
        "shallow"); None when Stop came first or nothing can be shown yet."""
        t = time.perf_counter()
        source = self.source()
        if not source:
            return None
        try:
            data = self._shallow(image, axes) if source == "shallow" else self._unet(image, axes)
        finally:
            dt = time.perf_counter() - t
            self.spent += dt
            if self.trainer is not None:
                self.trainer.exclude_time(dt)
        if data is None:
            return None
        self.shown = source
        return data, source

    def _unet(self, image: Any, axes: str) -> np.ndarray | None:
        net = self.trainer.net
        regression = self.trainer.data.task == "regression"
        # as a stop now would return it: with the class prior corrected where the run does
        corrected = not regression and self.trainer.corrects_prior()
        device = next(net.parameters()).device
        gen = predict(net, image, axes=axes, device=device,
                      output="probabilities" if regression or corrected else "classes",
                      norm_stats=self.stats, tile_shape=PREVIEW_TILE)
        while True:
            if self.stop.is_set():
                gen.close()
                return None
            try:
                next(gen)
            except StopIteration as done:
                result = done.value
                break
        if corrected:
            return corrected_classes(np.asarray(result), self.trainer.seen)
        return np.asarray(result[0] if regression else result)

    def _shallow(self, image: Any, axes: str) -> np.ndarray | None:
        block = self.norm.apply(to_numpy(image), self.stats, axes=axes)
        block = np.asarray(block, np.float32)
        block = np.moveaxis(block, axes.index("C"), 0) if "C" in axes else block[None]
        spatial = block.shape[1:]
        out = np.zeros(spatial, np.uint8)
        for inner in grid_blocks(spatial, PREVIEW_TILE):
            if self.stop.is_set():  # checked between tiles, as for the U-Net
                return None
            out[inner] = self.shallow.block_proba(block, inner).argmax(0) + 1
        return out


def first_answer_data(config: TrainConfig, pairs: list[tuple[Any, Any]], norm: Any
                      ) -> TrainingSet:
    """The strokes as training data, prepared as the trainer will, for the first answer
    (a shallow classifier fitted before the trainer looks for a starting model)."""
    patch = config.resolved_patch_shape
    return prepare_pairs(pairs, axes=config.axes, dims=config.dims, task=config.task,
                         normalization=norm, n_classes=config.n_classes,
                         val_fraction=config.val_fraction, region=validation_region(config),
                         context=patch, seed=config.seed)
