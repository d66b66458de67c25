"""napari dock widgets: the only package of napari-unet that imports napari, Qt or magicgui.

Widgets gather inputs, start workers over the core generators and put results into layers.
"""

from napari_unet._widgets.load import LoadWidget
from napari_unet._widgets.model import ModelWidget
from napari_unet._widgets.predict import PredictWidget
from napari_unet._widgets.train import TrainWidget

__all__ = ["LoadWidget", "ModelWidget", "PredictWidget", "TrainWidget"]
