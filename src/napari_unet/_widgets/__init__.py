"""napari dock widgets: the only package of napari-unet that imports napari, Qt or magicgui.

Widgets gather inputs, start workers over the core generators and put results into layers.
"""

from .load import LoadWidget
from .model import ModelWidget
from .predict import PredictWidget
from .train import TrainWidget

__all__ = ["LoadWidget", "ModelWidget", "PredictWidget", "TrainWidget"]
