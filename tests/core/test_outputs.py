"""The one place that decides output paths: collisions and inputs refused before any work,
model outputs checked before training, folders replaced only when they are napari-unet's own,
results moved into place only when complete."""

from __future__ import annotations

import pytest

from napari_unet.core.model import UNet
from napari_unet.core.modelfile import save_model
from napari_unet.core.outputs import (
    check_model_out,
    check_replaceable_folder,
    fallback_model_path,
    plan_predictions,
    staged,
)


def test_plan_predictions_names_every_output(tmp_path):
    plans = plan_predictions([tmp_path / "a.tif", tmp_path / "b.ome.tif"],
                             ["probabilities", "classes"], tmp_path / "out", "zarr")
    assert plans[1]["classes"] == tmp_path / "out" / "b_classes.zarr"
    assert plans[0]["probabilities"] == tmp_path / "out" / "a_probabilities.zarr"


@pytest.mark.parametrize("names", [("a/img.tif", "b/img.tif"), ("img.tif", "img.npy"),
                                   ("img.tif", "img.ome.tif")])
def test_plan_predictions_refuses_collisions(tmp_path, names):
    with pytest.raises(ValueError, match="expected distinct output names"):
        plan_predictions([tmp_path / n for n in names], ["classes"], tmp_path / "o", "tif")


def test_plan_predictions_refuses_to_replace_an_input(tmp_path):
    (tmp_path / "a_classes.tif").write_bytes(b"x")
    with pytest.raises(ValueError, match="is also an input"):
        plan_predictions([tmp_path / "a.tif", tmp_path / "a_classes.tif"], ["classes"],
                         tmp_path, "tif")


def test_check_model_out(tmp_path):
    image = tmp_path / "image.tif"
    image.write_bytes(b"img")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="also an input"):
        check_model_out(tmp_path / "." / "image.tif", inputs=[image])
    with pytest.raises(ValueError, match="found a folder"):
        check_model_out(tmp_path)
    with pytest.raises(ValueError, match="found another file"):
        check_model_out(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="found the file"):
        check_model_out(tmp_path / "notes.txt" / "deeper" / "m.unet.safetensors")
    model = save_model(UNet(depth=1, base_channels=2), tmp_path / "m.unet.safetensors")
    assert check_model_out(model) == model  # a model file may be replaced
    assert check_model_out(tmp_path / "new" / "deeper" / "m.unet.safetensors")


def test_fallback_model_path_is_stated_and_new(tmp_path):
    path = fallback_model_path("/nowhere/em.unet.safetensors", folder=tmp_path)
    assert path.parent == tmp_path and path.name.startswith("em.rescued-")
    assert path.name.endswith(".unet.safetensors") and not path.exists()


def test_check_replaceable_folder(tmp_path, monkeypatch):
    check_replaceable_folder(tmp_path / "missing", what="out")
    (tmp_path / "empty").mkdir()
    check_replaceable_folder(tmp_path / "empty", what="out")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="folder with other files"):
        check_replaceable_folder(tmp_path / "user", what="out")
    (tmp_path / "store.zarr").mkdir()
    (tmp_path / "store.zarr" / ".zarray").write_text("{}")
    check_replaceable_folder(tmp_path / "store.zarr", what="out")
    monkeypatch.chdir(tmp_path / "store.zarr")
    with pytest.raises(ValueError, match="working folder"):
        check_replaceable_folder(tmp_path, what="out")


def test_staged_moves_into_place_only_when_complete(tmp_path):
    target = tmp_path / "r.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), staged(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]
    with staged(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def test_create_zarr_never_removes_a_users_folder(tmp_path):
    from napari_unet.core.io import create_zarr

    folder = tmp_path / "x.zarr"
    folder.mkdir()
    (folder / "thesis.txt").write_text("x")
    with pytest.raises(ValueError, match="folder with other files"):
        create_zarr(folder, shape=(4, 4), dtype="uint8")
    assert (folder / "thesis.txt").exists()


def test_bioimageio_export_replaces_only_its_own_folder(tmp_path):
    from napari_unet.core.export import export_bioimageio

    model = UNet(depth=2, base_channels=4, meta={"task": "semantic"})
    user = tmp_path / "user"
    user.mkdir()
    (user / "f.txt").write_text("keep")
    with pytest.raises(ValueError, match="folder with other files"):
        export_bioimageio(model, user, onnx=False)
    assert sorted(p.name for p in user.iterdir()) == ["f.txt"]
    pkg = export_bioimageio(model, tmp_path / "pkg", onnx=False)
    again = export_bioimageio(model, pkg, onnx=False)  # its own earlier output: replaced
    assert (again / "rdf.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "user"]
    (tmp_path / "other.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="another file"):
        export_bioimageio(model, tmp_path / "other.zip", onnx=False)
    assert (tmp_path / "other.zip").read_bytes() == b"not a zip"
