"""Objects: from probabilities to classes, objects and tables of objects.

Rooms:

* :mod:`~napari_unet.core.objects.watershed`: objects from an instance model's (background,
  interior, boundary) probabilities by a seeded watershed, in memory.
* :mod:`~napari_unet.core.objects.tiled`: the same block by block, for volumes on disk.
* :mod:`~napari_unet.core.objects.semantic`: objects of a semantic model's structure classes,
  split where their shape narrows.
* :mod:`~napari_unet.core.objects.tuning`: fitting the watershed's options to training masks.
* :mod:`~napari_unet.core.objects.frames`: classes from probabilities, the one dispatcher that
  builds objects for a model (frame by frame), and the object table of one volume.
* :mod:`~napari_unet.core.objects.table`: tables of objects over named axes (per time point,
  physical sizes, mean intensity and probability) and their CSV files.
"""

from napari_unet.core.objects.frames import (
    FRAME_AXES,
    INSTANCE_BLOCK,
    instances,
    object_table,
    objects_for_model,
    objects_per_frame,
    probabilities_to_classes,
    volume_spacing,
)
from napari_unet.core.objects.semantic import class_objects, structure_objects
from napari_unet.core.objects.table import measure_objects, write_csv
from napari_unet.core.objects.tiled import instances_tiled
from napari_unet.core.objects.watershed import InstanceOptions, instances_from_probabilities

__all__ = [
    "FRAME_AXES",
    "INSTANCE_BLOCK",
    "InstanceOptions",
    "class_objects",
    "instances",
    "instances_from_probabilities",
    "instances_tiled",
    "measure_objects",
    "object_table",
    "objects_for_model",
    "objects_per_frame",
    "probabilities_to_classes",
    "structure_objects",
    "volume_spacing",
    "write_csv",
]
