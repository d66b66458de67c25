"""Prediction: seam-free tiled inference over images and stacks of any size.

Rooms:

* :mod:`~napari_unet.core.prediction.tiling`: the tile grid, halos and mirroring at the
  image border (tiled output equals untiled output).
* :mod:`~napari_unet.core.prediction.network`: the inference copy of a network (device,
  channels-last, memory per voxel).
* :mod:`~napari_unet.core.prediction.outputs`: the one rule for output shapes, types and
  allocation (numpy or zarr), for predict, the CLI, the widget and Dask alike.
* :mod:`~napari_unet.core.prediction.predict`: the ``predict`` generator and its blocking
  form ``predict_image``.
* :mod:`~napari_unet.core.prediction.uncertainty`: where the model is unsure.
* :mod:`~napari_unet.core.prediction.distributed`: the same on a Dask cluster (imported on
  demand: it needs ``distributed``); its client and scheduler checks are in
  :mod:`~napari_unet.core.prediction.cluster`.
"""

from napari_unet.core.prediction.predict import PredictProgress, predict, predict_image
from napari_unet.core.prediction.tiling import TileGrid, plan_grid
from napari_unet.core.prediction.uncertainty import uncertainty

__all__ = ["PredictProgress", "TileGrid", "plan_grid", "predict", "predict_image", "uncertainty"]
