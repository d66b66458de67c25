"""The Qt-free computing core of napari-unet.

Everything here depends only on numpy, torch, scipy, scikit-image, dask and zarr, so a script,
the command line and the napari widgets all call the same code. Nothing in this package may
import napari, Qt or magicgui (a test enforces it).
"""
