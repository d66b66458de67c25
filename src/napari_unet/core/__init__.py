"""The Qt-free computing core of napari-unet.

Everything here depends only on numpy, torch, scipy, scikit-image, scikit-learn, dask and
zarr, so a script, the command line and the napari widgets all call the same code. No module
here may depend on napari, Qt or magicgui.

Rooms, in layer order (a module imports only from its own layer or those before it;
tests/test_layers.py enforces it):

* foundation (this folder): ``axes``, ``devices``, ``io``, ``imagefile`` (with
  ``imageformats``, ``imagecheck``, ``imagemeta``, ``imagezarr``, ``imagelayers``), ``ngff``
  (with ``ngffstore``, ``ngffmeta``, ``ngffaxes``, ``ngffpyramid``), ``outputs``, ``model``,
  ``modelfile``, ``modelcheck``, ``normalize``, ``metrics``, ``pairing``, ``progress``;
* :mod:`~napari_unet.core.prediction`, :mod:`~napari_unet.core.objects`,
  :mod:`~napari_unet.core.export`;
* :mod:`~napari_unet.core.training`.
"""
