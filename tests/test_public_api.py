"""The public API at ``napari_unet``: lazy, complete, documented, and it trains and predicts;
the README's "From Python" example runs as written (with a smaller budget)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import napari_unet

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy")


def test_import_loads_no_torch_napari_or_qt():
    code = (
        "import sys, napari_unet\n"
        "dir(napari_unet); napari_unet.__version__\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"`import napari_unet` loaded {out.stdout.strip()}"


@pytest.mark.parametrize("name", napari_unet.__all__)
def test_every_public_name_resolves_and_has_a_docstring(name: str):
    value = getattr(napari_unet, name)
    assert value is not None and name in dir(napari_unet)
    assert callable(value), name
    assert (inspect.getdoc(value) or "").strip(), f"napari_unet.{name} has no docstring"


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        napari_unet.no_such_name  # noqa: B018


def test_the_names_are_the_core_ones():
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.objects.frames import objects_for_model
    from napari_unet.core.prediction.predict import predict, predict_image
    from napari_unet.core.progress import run
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.core.training.train import train

    assert napari_unet.TrainConfig is TrainConfig and napari_unet.run is run
    assert napari_unet.train is train and napari_unet.save_model is save_model
    assert napari_unet.predict is predict and napari_unet.predict_image is predict_image
    assert napari_unet.objects is objects_for_model


def _synthetic() -> tuple[np.ndarray, np.ndarray]:
    """A noisy bright disc on a dark ground, with a few painted strokes of each class."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    disc = (yy - 48) ** 2 + (xx - 48) ** 2 < 22**2
    image = (rng.normal(0.2, 0.05, (96, 96)) + 0.6 * disc).astype(np.float32)
    strokes = np.zeros((96, 96), np.uint8)
    strokes[6:9, 6:70] = 1  # background
    strokes[80:83, 20:90] = 1
    strokes[46:50, 34:62] = 2  # the disc
    strokes[34:60, 47:50] = 2
    return image, strokes


def test_train_model_returns_a_model_that_predicts(tiny: dict[str, Any]):
    image, strokes = _synthetic()
    records = []
    model = napari_unet.train_model(image, strokes, max_steps=20, device="cpu",
                                    on_progress=records.append, **tiny)
    assert records[0].phase == "prepare" and records[-1].phase == "done"
    assert model.meta["training"]["steps"] == 20
    probabilities = napari_unet.predict_image(model, image, device="cpu")
    assert probabilities.shape == (2, 96, 96) and probabilities.dtype == np.float32
    objects = napari_unet.objects(probabilities, model.meta)
    assert objects.shape == (96, 96)


def test_train_model_takes_pairs_a_config_and_a_model_to_continue(tiny: dict[str, Any]):
    image, strokes = _synthetic()
    config = napari_unet.TrainConfig(max_steps=2, **tiny)
    model = napari_unet.train_model([(image, strokes)], config=config, device="cpu")
    again = napari_unet.train_model([image], [strokes], config=config.to_dict(), max_steps=1,
                                    model=model, device="cpu")
    assert again.meta["training"]["steps_total"] == 3
    with pytest.raises(ValueError, match="unknown keys"):
        napari_unet.train_model(image, strokes, no_such_option=1)
    with pytest.raises(ValueError, match="2 images"):
        napari_unet.train_model([image, image], [strokes], max_steps=1)
    with pytest.raises(TypeError, match="pairs"):
        napari_unet.train_model(image)


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "README's 'From Python' section should hold one python example"
    return blocks[0]


@pytest.mark.slow  # the EM sample with its starting model, predicted twice at 512 x 512
def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code = _readme_example()
    assert "napari_unet.train_model" in code and "max_steps=" in code
    code = re.sub(r"max_steps=\d+", "max_steps=2", code)
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, "README.md (From Python)", "exec"), namespace)
    assert (tmp_path / "em.unet.safetensors").is_file()
    assert namespace["probabilities"].shape == (2, 512, 512)
    assert set(np.unique(namespace["classes"])) <= {1, 2}
