"""Model files and bioimage.io packages are data that is checked before it is trusted:
architecture sizes against the weights' shapes before anything is built, the card against its
sha256, package sources strictly inside the package, zips named like model files never handed
to the package importer."""

from __future__ import annotations

import json
import struct
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from napari_unet.core.export import loading
from napari_unet.core.export.packages import import_bioimageio
from napari_unet.core.model import UNet
from napari_unet.core.modelcheck import CARD_SHA256, card_sha256
from napari_unet.core.modelfile import load_model, read_card, save_model


def _model() -> UNet:
    return UNet(depth=2, base_channels=4, meta={"task": "semantic", "axes": "YX"})


def _rewrite_card(path: Path, change, *, rehash: bool) -> None:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    card = json.loads(header["__metadata__"]["napari_unet"])
    change(card)
    if rehash:
        card[CARD_SHA256] = card_sha256(card)
    header["__metadata__"]["napari_unet"] = json.dumps(card)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


@pytest.mark.parametrize("key, value", [("base_channels", 1000), ("depth", 50),
                                        ("in_channels", 7), ("out_channels", 9), ("dims", 3)])
def test_architecture_is_checked_against_the_weights_before_building(tmp_path, key, value):
    path = save_model(_model(), tmp_path / "m.unet.safetensors")
    _rewrite_card(path, lambda c: c["architecture"].update({key: value}), rehash=True)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"does not fit the weights|expected tensor"):
        load_model(path)
    assert time.perf_counter() - t0 < 0.5  # nothing of 1000 channels or depth 50 was built


def test_a_card_edited_after_saving_is_refused(tmp_path):
    path = save_model(_model(), tmp_path / "m.unet.safetensors")
    _rewrite_card(path, lambda c: c["architecture"]["normalization"].update(low=30.0),
                  rehash=False)
    with pytest.raises(ValueError, match="edited or damaged"):
        load_model(path)
    with pytest.raises(ValueError, match="edited or damaged"):
        read_card(path)


def test_a_card_saved_before_checksums_still_loads(tmp_path):
    path = save_model(_model(), tmp_path / "m.unet.safetensors")
    _rewrite_card(path, lambda c: c.pop(CARD_SHA256), rehash=False)
    assert load_model(path).base_channels == 4


def _package(folder: Path, source: str, *, kwargs: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rdf = {"type": "model", "weights": {"pytorch_state_dict": {
        "source": source, "architecture": {"import_from": "napari_unet.core.model",
                                           "callable": "UNet",
                                           "kwargs": kwargs or {"depth": 2,
                                                                "base_channels": 4}}}}}
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    return folder


@pytest.mark.parametrize("source", ["../outside.pt", "/etc/passwd", "sub/../../outside.pt",
                                    "C:/weights.pt", "https://example.org/w.pt"])
def test_package_sources_outside_the_package_are_refused(tmp_path, source):
    torch.save(_model().state_dict(), tmp_path / "outside.pt")
    pkg = _package(tmp_path / "pkg", source)
    with pytest.raises(ValueError, match=r"weights\.pytorch_state_dict\.source"):
        import_bioimageio(pkg)
    with zipfile.ZipFile(tmp_path / "pkg.zip", "w") as zf:
        zf.write(pkg / "rdf.yaml", "rdf.yaml")
    with pytest.raises(ValueError, match="outside"):
        import_bioimageio(tmp_path / "pkg.zip")


def test_a_link_out_of_the_package_is_refused(tmp_path):
    torch.save(_model().state_dict(), tmp_path / "outside.pt")
    pkg = _package(tmp_path / "pkg", "weights.pt")
    (pkg / "weights.pt").symlink_to(tmp_path / "outside.pt")
    with pytest.raises(ValueError, match="outside it"):
        import_bioimageio(pkg)


def test_package_weights_inside_still_import(tmp_path):
    pkg = _package(tmp_path / "pkg", "weights.pt")
    torch.save(_model().state_dict(), pkg / "weights.pt")
    assert import_bioimageio(pkg).base_channels == 4


def test_package_architecture_is_checked_before_building(tmp_path):
    pkg = _package(tmp_path / "pkg", "weights.pt", kwargs={"depth": 2, "base_channels": 1000})
    torch.save(_model().state_dict(), pkg / "weights.pt")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="does not fit the weights"):
        import_bioimageio(pkg)
    assert time.perf_counter() - t0 < 0.5


def test_a_zip_named_like_a_model_file_never_reaches_the_package_importer(tmp_path,
                                                                           monkeypatch):
    def refuse(path):
        raise AssertionError(f"{path} reached the package importer")

    monkeypatch.setattr(loading, "import_bioimageio", refuse)
    fake = tmp_path / "m.unet.safetensors"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("rdf.yaml", "type: model\n")
        zf.writestr("weights.pt", b"anything")
    with pytest.raises(ValueError, match="safetensors"):
        loading.load_any_model(fake)
    assert not loading.is_package(fake)
