"""Reading bioimage.io model packages: import back into napari-unet (never unpickling a
napari-unet model file; files read strictly from inside the package) and validation."""

from __future__ import annotations

import inspect
import re
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from napari_unet.core.export.bioimageio_docs import MODEL_ATTACHMENT
from napari_unet.core.model import UNet
from napari_unet.core.modelcheck import check_architecture
from napari_unet.core.modelfile import load_model

#: File names inside a bioimage.io package.
RDF = "rdf.yaml"

__all__ = ["RDF", "import_bioimageio", "package_files", "validate_bioimageio"]


def _member(name: Any, field: str, package: Path) -> str:
    """``name`` if it names a file strictly inside the package, else a ValueError naming
    ``field``: no absolute paths, drive letters, URLs or ``..``."""
    text = str(name) if isinstance(name, str) else ""
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if (not text or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text)
            or "://" in text or ".." in parts):
        raise ValueError(f"bioimage.io package {str(package)!r}: {field} {name!r}: expected "
                         f"a file name inside the package, found a path outside it; the "
                         f"package is damaged or unsafe, do not use it")
    return text


def package_files(path: Path) -> tuple[dict[str, Any], Any]:
    """The rdf (dict) and a function ``read(name, field)`` reading a file strictly inside a
    package folder or zip (``field`` names the rdf entry in messages)."""
    import yaml

    if path.is_dir():
        root = path.resolve()

        def read(name: str, field: str = "file") -> bytes:
            target = (root / _member(name, field, path)).resolve()
            if not target.is_relative_to(root):
                raise ValueError(f"bioimage.io package {str(path)!r}: {field} {name!r}: "
                                 f"expected a file inside the package, found a link to "
                                 f"{str(target)!r} outside it")
            return target.read_bytes()
    elif zipfile.is_zipfile(path):
        def read(name: str, field: str = "file") -> bytes:
            with zipfile.ZipFile(path) as zf:
                return zf.read(_member(name, field, path))
    elif path.name.endswith((".yaml", ".yml")):
        return package_files(path.parent)
    else:
        raise ValueError(f"bioimage.io package {str(path)!r}: expected a folder, a .zip or an "
                         f"rdf.yaml, found a {path.suffix or 'suffix-less'} file")
    for name in (RDF, "bioimageio.yaml"):
        try:
            rdf = yaml.safe_load(read(name))
        except (KeyError, FileNotFoundError):
            continue
        if not isinstance(rdf, dict):
            raise ValueError(f"bioimage.io package {str(path)!r}: {name}: expected a YAML "
                             f"mapping, found {type(rdf).__name__}")
        return rdf, read
    raise ValueError(f"bioimage.io package {str(path)!r}: expected an {RDF} or a "
                     f"bioimageio.yaml in it, found neither")


def import_bioimageio(path: str | Path) -> UNet:
    """Rebuild a napari-unet model from a bioimage.io package written by
    :func:`export_bioimageio` (folder, zip, or its rdf.yaml).

    The attached napari-unet model file is used when present (nothing is unpickled); otherwise
    the ``pytorch_state_dict`` weights are read with ``torch.load(weights_only=True)`` and the
    architecture keyword arguments, which must name ``napari_unet.core.model.UNet`` and fit the
    weights' shapes (checked before the network is built). Every file is read strictly from
    inside the package: a source such as ``../x.pt`` or ``/etc/passwd`` is refused.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bioimage.io package {str(path)!r} does not exist")
    rdf, read = package_files(path)
    names = [a.get("source") for a in rdf.get("attachments", []) or [] if isinstance(a, dict)]
    with tempfile.TemporaryDirectory() as tmp:
        if MODEL_ATTACHMENT in names:
            target = Path(tmp) / MODEL_ATTACHMENT
            target.write_bytes(read(MODEL_ATTACHMENT, "attachments"))
            return _with_instance_options(load_model(target), rdf, path)
        entry = (rdf.get("weights") or {}).get("pytorch_state_dict")
        if not isinstance(entry, dict) or not entry.get("source"):
            raise ValueError(f"bioimage.io package {str(path)!r} has no pytorch_state_dict "
                             f"weights and no napari-unet model file")
        arch = entry.get("architecture") or {}
        if (arch.get("import_from"), arch.get("callable")) != ("napari_unet.core.model", "UNet"):
            raise ValueError(
                f"bioimage.io package {str(path)!r}: architecture "
                f"{arch.get('import_from')}.{arch.get('callable')} is not napari-unet's UNet"
            )
        target = Path(tmp) / "weights.pt"
        target.write_bytes(read(entry["source"], "weights.pytorch_state_dict.source"))
        state = torch.load(target, map_location="cpu", weights_only=True)
    kwargs = dict(arch.get("kwargs") or {})
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ValueError(f"bioimage.io package {str(path)!r}: weights: expected a state dict "
                         f"of tensors, found {type(state).__name__}")
    defaults = {k: v.default for k, v in inspect.signature(UNet).parameters.items()
                if v.default is not inspect.Parameter.empty}
    check_architecture({**defaults, **kwargs}, {k: tuple(v.shape) for k, v in state.items()},
                       source=f"bioimage.io package {str(path)!r}")
    model = UNet(**kwargs)
    model.load_state_dict(state)
    return _with_instance_options(model.eval(), rdf, path)


_OPTION_KEYS = ("foreground_threshold", "seed_threshold", "min_seed_pixels")


def package_instance_options(rdf: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The instance post-processing settings in the rdf's ``config.napari_unet``
    (``instance_postprocessing``), checked; ``None`` when the package has none."""
    config = rdf.get("config") if isinstance(rdf.get("config"), dict) else {}
    ours = config.get("napari_unet") if isinstance(config.get("napari_unet"), dict) else {}
    entry = ours.get("instance_postprocessing")
    if entry is None:
        return None
    field = "config.napari_unet.instance_postprocessing"
    if not isinstance(entry, dict):
        raise ValueError(f"bioimage.io package {str(path)!r}: {field}: expected a mapping, "
                         f"found {type(entry).__name__}")
    out = {k: v for k, v in entry.items() if k != "method"}
    for key in _OPTION_KEYS:
        value = out.get(key)
        top = 1.0 if key != "min_seed_pixels" else float("inf")
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0.0 <= float(value) <= top or value != value):
            raise ValueError(f"bioimage.io package {str(path)!r}: {field}.{key}: expected a "
                             f"number in [0, {top:g}], found {value!r}")
    return out


def _with_instance_options(model: UNet, rdf: dict[str, Any], path: Path) -> UNet:
    """Restore the rdf's instance post-processing into ``model.meta["instance_options"]``
    (a model file that already has them must agree: a package edited by hand is refused)."""
    options = package_instance_options(rdf, path)
    if options is None:
        return model
    have = model.meta.get("instance_options")
    if have:
        if any(float(have.get(k, -1)) != float(options[k]) for k in _OPTION_KEYS):
            raise ValueError(
                f"bioimage.io package {str(path)!r}: config.napari_unet.instance_postprocessing "
                f"{ {k: options[k] for k in _OPTION_KEYS} } differs from the model's own "
                f"{ {k: have.get(k) for k in _OPTION_KEYS} }; the package was edited, export "
                f"it again")
        return model
    model.meta["instance_options"] = options
    return model


def validate_bioimageio(path: str | Path, *, io_checks: bool = True) -> tuple[bool, str]:
    """Validate a package with ``bioimageio.spec`` (offline). Returns (passed, summary text)."""
    try:
        from bioimageio.spec import load_description
    except ImportError as err:  # pragma: no cover - the export extra is missing
        raise RuntimeError("validating needs bioimageio.spec: pip install "
                           "'napari-unet[export]'") from err
    source = Path(path)
    if source.is_dir():
        source = source / RDF
    descr = load_description(str(source), perform_io_checks=io_checks)
    summary = descr.validation_summary
    ok = summary.status in ("passed", "valid-format")
    return ok, summary.format() if hasattr(summary, "format") else str(summary)
