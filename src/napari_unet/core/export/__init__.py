"""Export: TorchScript, ONNX and bioimage.io packages (export, import, validation).

Rooms:

* :mod:`~napari_unet.core.export.formats`: TorchScript and ONNX, and the helpers packages
  share with them (example input, reference output).
* :mod:`~napari_unet.core.export.bioimageio`: bioimage.io model packages (export).
* :mod:`~napari_unet.core.export.packages`: reading them back (import, validation), strictly
  from inside the package.
* :mod:`~napari_unet.core.export.bioimageio_docs`: their cover picture and documentation.
* :mod:`~napari_unet.core.export.loading`: open a model file or a package, one rule for all.
"""

from napari_unet.core.export.bioimageio import export_bioimageio
from napari_unet.core.export.formats import (
    example_input,
    export_onnx,
    export_torchscript,
    reference_output,
)
from napari_unet.core.export.loading import is_package, load_any_model
from napari_unet.core.export.packages import import_bioimageio, validate_bioimageio

__all__ = [
    "example_input",
    "export_bioimageio",
    "export_onnx",
    "export_torchscript",
    "import_bioimageio",
    "is_package",
    "load_any_model",
    "reference_output",
    "validate_bioimageio",
]
