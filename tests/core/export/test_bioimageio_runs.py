"""bioimage.io packages that other tools run: bioimageio.core's own model test passes for every
weight format of an exported package, and the instance post-processing fitted at training
travels in the package (rdf config, documentation) and comes back when it is loaded."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import tifffile
import torch
import yaml

import napari_unet
from napari_unet.core.export import export_bioimageio, import_bioimageio
from napari_unet.core.model import UNet

SAMPLES = Path(__file__).resolve().parents[3] / "sample_data"
FITTED = {"foreground_threshold": 0.4, "seed_threshold": 0.7, "min_seed_pixels": 12.0,
          "fitted_on_pixels": 4096, "f1_at_0.5": 0.8, "default_f1_at_0.5": 0.6}


def _rdf(package: Path) -> dict:
    if package.suffix == ".zip":
        with zipfile.ZipFile(package) as zf:
            return yaml.safe_load(zf.read("rdf.yaml"))
    return yaml.safe_load((package / "rdf.yaml").read_text())


@pytest.fixture(scope="module")
def trained_instances_model() -> UNet:
    """An instance model trained for two steps on a crop of the nuclei sample (it fits its
    object separation at the end, as every instance training does)."""
    image = tifffile.imread(SAMPLES / "fluo_nuclei_image.tif")[:128, :128]
    truth = tifffile.imread(SAMPLES / "fluo_nuclei_truth.tif")[:128, :128]
    return napari_unet.train_model(image, truth, task="instances", depth=2, base_channels=4,
                                   patch_shape=[64, 64], batch_size=2, max_steps=2,
                                   val_every=2, prior="off", device="cpu", seed=0)


@pytest.mark.slow
def test_bioimageio_core_model_test_passes_for_every_weight_format(trained_instances_model,
                                                                   tmp_path):
    core = pytest.importorskip("bioimageio.core")
    model = trained_instances_model
    assert model.meta.get("instance_options"), "instance training fits its post-processing"
    package = export_bioimageio(model, tmp_path / "nuclei.zip", name="nuclei test",
                                authors=["A. Tester"])
    formats = list(_rdf(package)["weights"])
    assert set(formats) == {"pytorch_state_dict", "torchscript", "onnx"}
    for weight_format in formats:
        summary = core.test_model(str(package), weight_format=weight_format)
        failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details
                  if d.status != "passed"]
        assert summary.status == "passed", (weight_format, failed)


@pytest.mark.slow
def test_trained_instance_options_travel_in_the_package(trained_instances_model, tmp_path):
    model = trained_instances_model
    package = export_bioimageio(model, tmp_path / "pkg", onnx=False)
    fitted = model.meta["instance_options"]
    stored = _rdf(package)["config"]["napari_unet"]["instance_postprocessing"]
    assert stored["method"].endswith("instances_from_probabilities")
    assert {k: stored[k] for k in fitted} == fitted
    docs = (package / "documentation.md").read_text()
    assert "## Objects (instance post-processing)" in docs
    assert f"seed threshold: {fitted['seed_threshold']}" in docs
    assert napari_unet.load_model(package).meta["instance_options"] == fitted


def _tiny_instances_model(fitted: dict | None) -> UNet:
    torch.manual_seed(0)
    meta = {"task": "instances", "axes": "YX",
            "class_names": ["background", "interior", "boundary"]}
    if fitted:
        meta["instance_options"] = dict(fitted)
    return UNet(depth=1, base_channels=2, out_channels=3, meta=meta).eval()


def test_the_rdf_config_restores_the_options_and_an_edited_one_is_refused(tmp_path):
    package = export_bioimageio(_tiny_instances_model(FITTED), tmp_path / "pkg", onnx=False)
    assert import_bioimageio(package).meta["instance_options"] == FITTED
    rdf = _rdf(package)
    # a package whose model carries no options (e.g. another exporter's state dict): the rdf's
    # settings are restored from config.napari_unet
    rdf["attachments"] = []
    kwargs = rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"]
    kwargs["meta"].pop("instance_options")
    (package / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    restored = import_bioimageio(package).meta["instance_options"]
    assert {k: restored[k] for k in ("foreground_threshold", "seed_threshold",
                                     "min_seed_pixels")} == {
        "foreground_threshold": 0.4, "seed_threshold": 0.7, "min_seed_pixels": 12.0}
    # settings edited by hand so that they contradict the model's own: refused, named
    kwargs["meta"]["instance_options"] = dict(FITTED)
    rdf["config"]["napari_unet"]["instance_postprocessing"]["seed_threshold"] = 0.2
    (package / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    with pytest.raises(ValueError, match=r"instance_postprocessing.*differs"):
        import_bioimageio(package)
    rdf["config"]["napari_unet"]["instance_postprocessing"]["seed_threshold"] = "high"
    (package / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    with pytest.raises(ValueError, match=r"seed_threshold: expected a number in \[0, 1\]"):
        import_bioimageio(package)


def test_a_model_without_fitted_options_says_the_defaults_apply(tmp_path):
    package = export_bioimageio(_tiny_instances_model(None), tmp_path / "pkg", onnx=False)
    assert "instance_postprocessing" not in _rdf(package)["config"]["napari_unet"]
    assert "the defaults apply" in (package / "documentation.md").read_text()
    assert "instance_options" not in import_bioimageio(package).meta
