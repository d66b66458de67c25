"""load_any_model: one rule for what is a bioimage.io package and what is a model file, shared
by the command line and the widgets."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from napari_unet.core.export import (
    example_input,
    export_bioimageio,
    is_package,
    load_any_model,
    loading,
    reference_output,
)
from napari_unet.core.model import UNet
from napari_unet.core.modelfile import save_model


def _model() -> UNet:
    torch.manual_seed(0)
    return UNet(depth=2, base_channels=4, out_channels=2,
                meta={"task": "semantic", "axes": "YX"}).eval()


@pytest.fixture
def no_importer(monkeypatch):
    """Make reaching the package importer a test failure."""
    def refuse(path):
        raise AssertionError(f"{path} was sent to the package importer")

    monkeypatch.setattr(loading, "import_bioimageio", refuse)


def test_a_zip_named_like_a_model_file_is_not_sent_to_the_package_importer(tmp_path,
                                                                           no_importer):
    path = tmp_path / "x.unet.safetensors"
    with zipfile.ZipFile(path, "w") as zf:  # even one that holds an rdf.yaml
        zf.writestr("rdf.yaml", "type: model\n")
    assert not is_package(path)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_any_model(path)


def test_a_zip_without_a_description_goes_to_load_model(tmp_path, no_importer):
    path = tmp_path / "weights.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "not a package")
    assert not is_package(path)
    with pytest.raises(ValueError, match="safetensors"):
        load_any_model(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        load_any_model(folder)
    with pytest.raises(FileNotFoundError):
        load_any_model(tmp_path / "missing.unet.safetensors")


def test_packages_are_known_by_content_and_model_files_by_load_model(tmp_path):
    model = _model()
    x = example_input(model, seed=1)
    expected = reference_output(model, x)
    file = save_model(model, tmp_path / "m.unet.safetensors")
    folder = export_bioimageio(model, tmp_path / "pkg")
    zipped = export_bioimageio(model, tmp_path / "pkg.zip")
    renamed = zipped.rename(tmp_path / "package.bin")  # a zip by content, whatever its name
    assert not is_package(file)
    assert is_package(folder) and is_package(folder / "rdf.yaml") and is_package(renamed)
    for path in (file, folder, folder / "rdf.yaml", renamed):
        loaded = load_any_model(path)
        assert isinstance(loaded, UNet) and loaded.card is not None
        np.testing.assert_array_equal(reference_output(loaded, x), expected)


def test_card_is_a_declared_attribute():
    assert _model().card is None
