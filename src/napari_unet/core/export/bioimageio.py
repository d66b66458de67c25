"""bioimage.io model packages: export, import back (never unpickling), validation.

The bioimage.io package (format 0.5) holds:

- ``rdf.yaml``: the description: inputs ``(batch, channel, [z,] y, x)`` with sizes
  ``min + n * step`` that the network accepts, the model's percentile normalisation as a
  ``scale_range`` preprocessing, outputs with a ``softmax`` postprocessing (none for
  regression), the output halo that makes tiling exact, authors, citation and licence;
- ``weights.pt`` (``pytorch_state_dict``, with the architecture
  ``napari_unet.core.model.UNet`` and its keyword arguments), ``weights.torchscript`` and
  ``weights.onnx``;
- ``test_input.npy`` / ``test_output.npy``, ``cover.png`` and ``documentation.md``;
- the napari-unet model file (``model.unet.safetensors``) as an attachment, from which
  :func:`import_bioimageio` rebuilds the model without unpickling anything (a package without
  it falls back to ``torch.load(weights_only=True)`` on the state dict).

``bioimageio.spec`` (the ``export`` extra) is needed only to validate packages.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_unet.core.arguments import check_model, check_path, check_real
from napari_unet.core.export.bioimageio_docs import (
    INSTANCE_POSTPROCESSING,
    MODEL_ATTACHMENT,
    cover_image,
    documentation,
)
from napari_unet.core.export.formats import (
    ONNX_OPSET,
    eval_copy,
    example_input,
    export_onnx,
    export_torchscript,
    reference_output,
)
from napari_unet.core.export.packages import RDF, import_bioimageio, validate_bioimageio
from napari_unet.core.model import UNet
from napari_unet.core.modelfile import make_card, save_model
from napari_unet.core.outputs import check_replaceable_folder, staged

__all__ = ["FORMAT_VERSION", "RDF", "export_bioimageio", "import_bioimageio",
           "validate_bioimageio"]

#: bioimage.io format version written.
FORMAT_VERSION = "0.5.4"
_UNET_CITATION = {
    "text": "Ronneberger O., Fischer P., Brox T. (2015) U-Net: Convolutional Networks for "
            "Biomedical Image Segmentation. MICCAI 2015, LNCS 9351, 234-241.",
    "doi": "10.1007/978-3-319-24574-4_28",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ident(name: str, fallback: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_")
    return out or fallback


def _axes(model: UNet, tensor: str, channel_names: list[str], *, output: bool,
          input_min: tuple[int, ...], shrink: tuple[int, ...]) -> list[dict[str, Any]]:
    axes: list[dict[str, Any]] = [
        {"type": "batch"},
        {"type": "channel", "channel_names": channel_names},
    ]
    for i, a in enumerate("zyx" if model.dims == 3 else "yx"):
        if not output:
            axes.append({"type": "space", "id": a,
                         "size": {"min": int(input_min[i]), "step": int(model.pool_product[i])}})
        elif model.padding == "valid":
            axes.append({"type": "space", "id": a,
                         "size": {"tensor_id": "input", "axis_id": a, "offset": -int(shrink[i])}})
        else:
            axes.append({"type": "space", "id": a, "halo": int(model.halo[i]),
                         "size": {"tensor_id": "input", "axis_id": a}})
    return axes


def export_bioimageio(model: UNet, path: str | Path, *, sample: np.ndarray | None = None,
                      card: dict[str, Any] | None = None, name: str | None = None,
                      description: str | None = None, authors: list[str] | None = None,
                      license: str = "CC-BY-4.0", onnx: bool = True) -> Path:
    """Write a bioimage.io model package (a folder, or a ``.zip`` file when ``path`` ends so).

    Parameters
    ----------
    model : UNet
        The model to export.
    path : str or Path
        Output folder, or a ``.zip`` file.
    sample : numpy.ndarray, optional
        A test input ``(1, C, *spatial)`` (raw intensities) the model accepts; default a
        deterministic synthetic image (:func:`example_input`).
    card : dict, optional
        The model card (from :func:`~napari_unet.core.modelfile.read_card`) carrying the
        training configuration and metrics; default one made from the model.
    name, description, authors, license
        Package metadata (``authors`` default: ``["napari-unet user"]``).
    onnx : bool
        Also include ONNX weights.

    Returns
    -------
    pathlib.Path
        The package folder or zip file.
    """
    check_model(model), check_path(path, what="path")
    if sample is not None:
        check_real(sample, what="sample")
    path = Path(path)
    net = eval_copy(model)
    card = dict(card) if card else make_card(net)
    card["name"] = name or card.get("name") or "napari-unet model"
    if description:
        card["description"] = description
    x = sample if sample is not None else example_input(net)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != net.dims + 2 or x.shape[:2] != (1, net.in_channels):
        raise ValueError(
            f"sample: expected shape (1, {net.in_channels}, *spatial) with {net.dims} spatial "
            f"axes; found {x.shape}"
        )
    net.valid_input_shape(x.shape[2:])  # raises for bad dims
    if tuple(net.valid_input_shape(x.shape[2:])) != tuple(x.shape[2:]):
        raise ValueError(
            f"sample: spatial shape {x.shape[2:]} is not accepted by the model; nearest accepted "
            f"shape is {net.valid_input_shape(x.shape[2:])}"
        )
    y = reference_output(net, x)
    zipped = path.suffix.lower() == ".zip"
    if zipped:
        if path.is_dir() or (path.exists() and not _zip_is_package(path)):
            raise ValueError(f"bioimage.io package {str(path)!r}: expected a new .zip or an "
                             f"earlier package to replace, found another file or a folder; "
                             f"choose another name")
    else:
        check_replaceable_folder(path, what="bioimage.io package folder",
                                 is_own=_is_own_package)
    with staged(path, is_own=_is_own_package) as target:
        folder = target.with_name("package") if zipped else target
        folder.mkdir()
        _write_package(net, card, x, y, folder, authors=authors, license=license, onnx=onnx)
        if zipped:
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(folder.iterdir()):
                    zf.write(f, f.name)
    return path


def _zip_is_package(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return RDF in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _is_own_package(folder: Path) -> bool:
    """Whether ``folder`` is a package napari-unet exported (its rdf says so)."""
    import yaml

    try:
        rdf = yaml.safe_load((folder / RDF).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(rdf, dict) and "napari_unet" in ((rdf.get("config") or {})
                                                       if isinstance(rdf.get("config"), dict)
                                                       else {})


def _write_package(net: UNet, card: dict[str, Any], x: np.ndarray, y: np.ndarray,
                   folder: Path, *, authors: list[str] | None, license: str,
                   onnx: bool) -> None:
    import tifffile
    import yaml

    np.save(folder / "test_input.npy", x)
    np.save(folder / "test_output.npy", y)
    tifffile.imwrite(folder / "sample_input.tif", x, photometric="minisblack")
    tifffile.imwrite(folder / "sample_output.tif", y, photometric="minisblack")
    cover_image(x, y, folder / "cover.png")
    (folder / "documentation.md").write_text(documentation(
        card, instance_options=net.meta.get("instance_options")), encoding="utf-8")
    save_model(net, folder / MODEL_ATTACHMENT, train_config=card.get("train_config"),
               training_data=card.get("training_data"), validation=card.get("validation"),
               name=card["name"], description=card.get("description"))
    torch.save(net.state_dict(), folder / "weights.pt")
    export_torchscript(net, folder / "weights.torchscript", example=x)
    if onnx:
        export_onnx(net, folder / "weights.onnx", example=x)
    (folder / "environment.yaml").write_text(
        "name: napari-unet\nchannels: [conda-forge]\ndependencies:\n  - python>=3.10\n"
        "  - pip\n  - pip:\n      - napari-unet\n      - torch\n", encoding="utf-8")
    rdf = _rdf(net, card, x, folder, authors or ["napari-unet user"], license, onnx)
    (folder / RDF).write_text(yaml.safe_dump(rdf, sort_keys=False), encoding="utf-8")


def _rdf(net: UNet, card: dict[str, Any], x: np.ndarray, folder: Path, authors: list[str],
         license: str, onnx: bool) -> dict[str, Any]:
    def file(name: str) -> dict[str, str]:
        return {"source": name, "sha256": _sha256(folder / name)}

    task = net.meta.get("task", "semantic")
    in_names = [f"channel{i}" for i in range(net.in_channels)]
    if task == "regression":
        out_names = [f"output{i}" for i in range(net.out_channels)]
    else:
        names = card.get("class_names") or []
        out_names = [_ident(n, f"class{i + 1}") for i, n in enumerate(names)]
        if len(out_names) != net.out_channels or len(set(out_names)) != len(out_names):
            out_names = [f"class{i + 1}" for i in range(net.out_channels)]
    input_min = net.valid_input_shape(tuple(2 * h + g for h, g in
                                            zip(net.halo, net.pool_product)))
    shrink = tuple(s - o for s, o in zip(x.shape[2:], net.output_shape(x.shape[2:])))
    norm = net.normalization
    spatial_ids = list("zyx" if net.dims == 3 else "yx")
    pre: list[dict[str, Any]] = [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}]
    if norm.mode == "percentile":
        pre.append({"id": "scale_range", "kwargs": {
            "axes": spatial_ids, "min_percentile": float(norm.low),
            "max_percentile": float(norm.high), "eps": 1e-6}})
    post: list[dict[str, Any]] = []
    if task != "regression":
        post.append({"id": "softmax", "kwargs": {"axis": "channel"}})
    arch = {k: v for k, v in net.config.items() if k not in ("architecture", "config_version")}
    weights: dict[str, Any] = {
        "pytorch_state_dict": {
            **file("weights.pt"),
            "architecture": {"callable": "UNet", "import_from": "napari_unet.core.model",
                             "kwargs": arch},
            "pytorch_version": torch.__version__.split("+")[0],
            "dependencies": file("environment.yaml"),
        },
        "torchscript": {**file("weights.torchscript"), "parent": "pytorch_state_dict",
                        "pytorch_version": torch.__version__.split("+")[0]},
    }
    if onnx:
        weights["onnx"] = {**file("weights.onnx"), "parent": "pytorch_state_dict",
                           "opset_version": ONNX_OPSET}
    dims_word = f"{net.dims}D"
    return {
        "type": "model",
        "format_version": FORMAT_VERSION,
        "name": card["name"],
        "description": card.get("description") or
        f"{dims_word} U-Net for {task} segmentation, trained with napari-unet",
        "authors": [{"name": a} for a in authors],
        "cite": [_UNET_CITATION],
        "license": license,
        "tags": ["unet", "napari-unet", task, dims_word.lower(), "segmentation"],
        "version": "0.1.0",
        "timestamp": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "documentation": "documentation.md",
        "covers": ["cover.png"],
        "attachments": [file(MODEL_ATTACHMENT)],
        "inputs": [{
            "id": "input",
            "description": f"raw image, axes {card.get('axes') or 'YX'} as (batch, channel, "
                           f"{', '.join(spatial_ids)})",
            "axes": _axes(net, "input", in_names, output=False, input_min=input_min,
                          shrink=shrink),
            "test_tensor": file("test_input.npy"),
            "sample_tensor": file("sample_input.tif"),
            "data": {"type": "float32"},
            "preprocessing": pre,
        }],
        "outputs": [{
            "id": "output",
            "description": "raw outputs" if task == "regression" else "class probabilities",
            "axes": _axes(net, "output", out_names, output=True, input_min=input_min,
                          shrink=shrink),
            "test_tensor": file("test_output.npy"),
            "sample_tensor": file("sample_output.tif"),
            "data": {"type": "float32"},
            "postprocessing": post,
        }],
        "weights": weights,
        "config": {
            "bioimageio": {"reproducibility_tolerance": [_tolerance(folder)]},
            "napari_unet": _napari_unet_config(net, card),
        },
    }


def _napari_unet_config(net: UNet, card: dict[str, Any]) -> dict[str, Any]:
    """The rdf's ``config.napari_unet``: task, axes, the attached model file and, for a model
    that fitted its instance post-processing at training, those settings
    (:data:`INSTANCE_POSTPROCESSING`), which :func:`import_bioimageio` restores."""
    config: dict[str, Any] = {"task": net.meta.get("task", "semantic"),
                              "axes": card.get("axes"), "model_file": MODEL_ATTACHMENT}
    fitted = net.meta.get("instance_options")
    if isinstance(fitted, dict) and fitted:
        config["instance_postprocessing"] = {
            "method": INSTANCE_POSTPROCESSING,
            **{k: v for k, v in fitted.items() if isinstance(v, (int, float, str, bool))},
        }
    return config


def _tolerance(folder: Path) -> dict[str, Any]:
    """Reproducibility tolerance: 1e-3, or 0.5% of the largest output when that is smaller.

    bioimageio.spec 0.5 requires the absolute tolerance below 1% of the test output's maximum
    (its signed maximum: a test output with no positive value cannot validate).
    """
    peak = max(0.0, float(np.load(folder / "test_output.npy").max()))
    return {"relative_tolerance": 1e-3, "absolute_tolerance": min(1e-3, 0.005 * peak),
            "mismatched_elements_per_million": 100}
