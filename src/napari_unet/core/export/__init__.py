"""Export: TorchScript, ONNX and bioimage.io packages (export, import, validation).

Rooms:

* :mod:`~napari_unet.core.export.formats`: TorchScript and ONNX, and the helpers packages
  share with them (example input, reference output).
* :mod:`~napari_unet.core.export.bioimageio`: bioimage.io model packages.
* :mod:`~napari_unet.core.export.bioimageio_docs`: their cover picture and documentation.
"""

from napari_unet.core.export.bioimageio import (
    export_bioimageio,
    import_bioimageio,
    validate_bioimageio,
)
from napari_unet.core.export.formats import (
    example_input,
    export_onnx,
    export_torchscript,
    reference_output,
)

__all__ = [
    "example_input",
    "export_bioimageio",
    "export_onnx",
    "export_torchscript",
    "import_bioimageio",
    "reference_output",
    "validate_bioimageio",
]
