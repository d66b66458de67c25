"""napari-unet: interactive U-Net segmentation for napari.

The computing engine lives in :mod:`napari_unet.core` (no napari, no Qt); the dock widgets in
:mod:`napari_unet._widgets` only gather inputs, start workers and put results into layers.
"""

__version__ = "0.1.0"
