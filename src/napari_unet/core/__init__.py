"""The Qt-free computing core of napari-unet.

Everything here depends only on numpy, torch, scipy, scikit-image, dask and zarr, so a script,
the command line and the napari widgets all call the same code. No module here may depend on
napari, Qt or magicgui (tests/test_import_rule.py enforces it).
"""
