"""One axes alphabet end to end: a model trained on a stack of independent images (axes "SYX")
stores axes that prediction accepts, through the API and through the command line, which
takes the model's stored axes when --axes is not given."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

TINY = {"depth": 2, "base_channels": 4, "patch_shape": [32, 32], "batch_size": 2,
        "max_steps": 2, "val_every": 2, "prior": "off", "start": "none", "seed": 0,
        "augment": {"elastic": 0.0, "scale": 0.0}}


def _stack() -> tuple[np.ndarray, np.ndarray]:
    """Three independent 48 x 48 images of bright disks, and strokes on them."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:48, :48]
    images, paints = [], []
    for i in range(3):
        r, c = 14 + 8 * i, 30 - 6 * i
        disk = (rows - r) ** 2 + (cols - c) ** 2 < 64
        images.append((100 * disk + rng.normal(20, 5, (48, 48))).astype(np.float32))
        paint = np.zeros((48, 48), np.uint8)
        paint[2:5, 2:40] = 1
        paint[disk & (np.abs(rows - r) < 2)] = 2
        paints.append(paint)
    return np.stack(images), np.stack(paints)


@pytest.fixture(scope="module")
def syx_model(tmp_path_factory):
    """A tiny model trained with the core on an SYX stack, saved; and the stack's tif."""
    from napari_unet.core.modelfile import save_model
    from napari_unet.core.progress import run
    from napari_unet.core.training import TrainConfig, train

    folder = tmp_path_factory.mktemp("syx")
    image, paint = _stack()
    config = TrainConfig.from_dict({**TINY, "axes": "SYX"})
    model = run(train(config, [(image, paint)], device="cpu"))
    assert model.meta["axes"] == "SYX"
    path = save_model(model, folder / "syx.unet.safetensors", train_config=config)
    tif = folder / "stack.tif"
    tifffile.imwrite(tif, image, photometric="minisblack")
    return model, path, tif, image


def test_syx_model_predicts_with_its_stored_axes_in_the_api_and_the_cli(syx_model, tmp_path,
                                                                       capsys):
    from napari_unet.core.modelfile import load_model
    from napari_unet.core.prediction.predict import predict_image

    _, path, tif, image = syx_model
    loaded = load_model(path)
    assert loaded.meta["axes"] == "SYX" and loaded.card["axes"] == "SYX"
    in_api = predict_image(loaded, image, axes=loaded.meta["axes"], output="probabilities",
                           device="cpu")
    assert in_api.shape == (2, 3, 48, 48)
    # S is looped over: a sample alone, normalised like the whole stack, gives the same
    stats = loaded.normalization.stats(image, axes="SYX")
    one = predict_image(loaded, image[1], axes="YX", output="probabilities", device="cpu",
                        norm_stats=stats)
    np.testing.assert_allclose(in_api[:, 1], one, atol=1e-5)

    out = tmp_path / "res"
    assert main(["predict", str(path), str(tif), "--out", str(out), "--output", "probabilities",
                 "--device", "cpu", "-q"]) == 0  # no --axes: the model's "SYX"
    from_cli = tifffile.imread(out / "stack_probabilities.tif")
    np.testing.assert_allclose(from_cli, in_api, atol=1e-5)
    assert main(["info", str(path), "--json"]) == 0
    assert '"axes": "SYX"' in capsys.readouterr().out


def test_bad_axes_are_reported_in_one_vocabulary(syx_model, tmp_path, capsys):
    _, path, tif, _ = syx_model
    assert main(["predict", str(path), str(tif), "--out", str(tmp_path), "--axes", "SYQ"]) == 2
    err = capsys.readouterr().err
    assert "--axes for input" in err and "stack.tif" in err
    assert "expected axes of letters from 'TSCZYX'" in err and "found unknown letters 'Q'" in err
    assert main(["predict", str(path), str(tif), "--out", str(tmp_path), "--axes", "YX"]) == 2
    err = capsys.readouterr().err
    assert "expected axes with one letter per dimension, found 'YX'" in err
