"""Training: from paintings (or masks) to a trained U-Net.

Rooms:

* :mod:`~napari_unet.core.training.config`: ``TrainConfig`` (JSON keys are a file format) and
  the ``TrainProgress`` record.
* :mod:`~napari_unet.core.training.targets`: checking pairs, paintings and masks as training
  targets, border weights, held-out regions.
* :mod:`~napari_unet.core.training.dataset`: prepared (normalised, held-out) training samples.
* :mod:`~napari_unet.core.training.sampling`: patch sampling and validation tiles.
* :mod:`~napari_unet.core.training.augment`: augmentation on the device.
* :mod:`~napari_unet.core.training.losses`: masked cross-entropy, Dice, regression losses.
* :mod:`~napari_unet.core.training.schedule`: learning-rate schedule and batch size.
* :mod:`~napari_unet.core.training.validation`: loss and IoU on the held-out regions.
* :mod:`~napari_unet.core.training.prior`: the class prior of unpainted pixels.
* :mod:`~napari_unet.core.training.shallow`: a shallow pixel classifier fitted on the strokes.
* :mod:`~napari_unet.core.training.teacher`: its confident unpainted pixels as extra labels.
* :mod:`~napari_unet.core.training.start_models`: shipped starting models and their choice.
* :mod:`~napari_unet.core.training.loop`: the training loop, a class that owns its state.
* :mod:`~napari_unet.core.training.presets`: the widget's size presets (steps, a time cap,
  early stopping when the held-out strokes stop improving).
* :mod:`~napari_unet.core.training.train`: ``train(config, pairs)``, the generator.
"""

from napari_unet.core.training.config import TrainConfig, TrainProgress
from napari_unet.core.training.train import train

__all__ = ["TrainConfig", "TrainProgress", "train"]
