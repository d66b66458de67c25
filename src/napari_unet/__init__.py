"""napari-unet: interactive U-Net segmentation for napari, and the same engine from Python.

The public API is imported lazily: ``import napari_unet`` loads neither torch nor napari nor
Qt; each name below is imported on first use.

* :func:`train_model` trains a U-Net on (image, painting) pairs and returns it (blocking);
  :func:`train` is the same as a generator of progress records.
* :func:`predict_image` predicts an image tile by tile (blocking); :func:`predict` is the
  generator.
* :func:`objects` turns a model's probabilities into objects (labels 1..N).
* :func:`load_model` reads a model file or a bioimage.io package; :func:`save_model` writes a
  model file; :func:`export_bioimageio` writes a bioimage.io package.
* :class:`TrainConfig` describes a training run; :func:`run` drives any generator above to
  its end.
* :class:`Trainer` is a run that goes on after it stops and takes new labels while it trains
  (``trainer.update_labels``), as the Train widget uses it; :func:`train_segment` trains it.

>>> import napari_unet                                                  # doctest: +SKIP
>>> model = napari_unet.train_model(image, strokes, max_steps=200)      # doctest: +SKIP
>>> probabilities = napari_unet.predict_image(model, image)             # doctest: +SKIP

The computing engine lives in :mod:`napari_unet.core` (no napari, no Qt); the dock widgets in
:mod:`napari_unet._widgets` only gather inputs, start workers and put results into layers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from napari_unet.core.export.bioimageio import export_bioimageio
    from napari_unet.core.export.loading import load_any_model as load_model
    from napari_unet.core.model import UNet
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.objects.frames import objects_for_model as objects
    from napari_unet.core.prediction.predict import predict, predict_image
    from napari_unet.core.progress import run
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.core.training.loop import Trainer
    from napari_unet.core.training.train import train, train_segment

__all__ = [
    "TrainConfig",
    "Trainer",
    "export_bioimageio",
    "load_model",
    "objects",
    "predict",
    "predict_image",
    "run",
    "save_model",
    "train",
    "train_model",
    "train_segment",
]

#: Public name -> (module, attribute), imported on first use.
_LAZY: dict[str, tuple[str, str]] = {
    "TrainConfig": ("napari_unet.core.training.config", "TrainConfig"),
    "export_bioimageio": ("napari_unet.core.export.bioimageio", "export_bioimageio"),
    "load_model": ("napari_unet.core.export.loading", "load_any_model"),
    "objects": ("napari_unet.core.objects.frames", "objects_for_model"),
    "predict": ("napari_unet.core.prediction.predict", "predict"),
    "predict_image": ("napari_unet.core.prediction.predict", "predict_image"),
    "run": ("napari_unet.core.progress", "run"),
    "save_model": ("napari_unet.core.modelfile", "save_model"),
    "train": ("napari_unet.core.training.train", "train"),
    "Trainer": ("napari_unet.core.training.loop", "Trainer"),
    "train_segment": ("napari_unet.core.training.train", "train_segment"),
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it in the module."""
    if name not in _LAZY:
        raise AttributeError(f"module 'napari_unet' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


def _pairs(images: Any, labels: Any) -> list[tuple[Any, Any]]:
    """``(image, labels)`` pairs from the ways :func:`train_model` accepts them."""
    if labels is None:
        if not isinstance(images, Sequence) or not all(
            isinstance(p, Sequence) and len(p) == 2 for p in images
        ):
            raise TypeError(
                "train_model: without labels=, images must be a list of (image, labels) pairs; "
                f"found {type(images).__name__}"
            )
        pairs = [tuple(p) for p in images]
    elif isinstance(images, (list, tuple)):
        if not isinstance(labels, (list, tuple)) or len(labels) != len(images):
            n = len(labels) if isinstance(labels, (list, tuple)) else "one array"
            raise ValueError(
                f"train_model: {len(images)} images need as many labels; found {n}"
            )
        pairs = list(zip(images, labels))
    else:
        pairs = [(images, labels)]
    from napari_unet.core.arguments import check_pairs

    return check_pairs(pairs, what="train_model: pairs")


def train_model(
    images: Any,
    labels: Any = None,
    *,
    config: TrainConfig | dict[str, Any] | None = None,
    model: UNet | None = None,
    device: str = "auto",
    on_progress: Callable[[Any], object] | None = None,
    stop: Any = None,
    **overrides: Any,
) -> UNet:
    """Train a U-Net on paintings (or masks) and return it; blocking.

    Parameters
    ----------
    images : array-like, or list of array-like, or list of (image, labels) pairs
        One image with ``labels``, images with as many ``labels``, or the pairs themselves
        (numpy or dask arrays, axes as ``config.axes``).
    labels : array-like or list of array-like, optional
        Paintings (0 = not painted, 1..K = classes, 1 = background), dense masks, or instance
        masks with ``task="instances"``.
    config : TrainConfig or dict, optional
        The run; default :class:`TrainConfig` defaults.
    model : UNet, optional
        Continue training this model (or fine-tune it for other classes); its architecture
        and normalisation are kept.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    on_progress : callable, optional
        Called with every :class:`~napari_unet.core.training.config.TrainProgress` record.
    stop : object with ``is_set()``, optional
        E.g. a ``threading.Event``: training ends within one step once it is set.
    **overrides
        :class:`TrainConfig` fields replacing those of ``config`` (``max_steps=200``,
        ``axes="ZYX"``, ``task="instances"``, ...).

    Returns
    -------
    UNet
        The trained model, on the CPU, in eval mode, with ``meta`` filled (task, classes, axes,
        training configuration, validation).

    Raises
    ------
    ValueError
        Unknown configuration keys, images and labels that do not pair up, or bad data.
    """
    from napari_unet.core.arguments import check_callback, check_model, check_stop
    from napari_unet.core.devices import resolve_device
    from napari_unet.core.progress import run
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.core.training.train import train

    pairs = _pairs(images, labels)
    check_model(model, optional=True), check_stop(stop)
    check_callback(on_progress, what="on_progress"), resolve_device(device)
    if config is None:
        config = TrainConfig.from_dict(overrides)
    else:
        if isinstance(config, TrainConfig):
            config = config.to_dict()
        elif not isinstance(config, dict):
            raise TypeError(
                f"train_model: config must be a TrainConfig or a dict; found "
                f"{type(config).__name__}"
            )
        config = TrainConfig.from_dict({**config, **overrides})
    generator = train(config, pairs, model=model, device=device, stop=stop)
    return run(generator, on_progress)
