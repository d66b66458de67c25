"""Model files: round trip, metadata, and refusal of damaged, tampered or unknown files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from napari_unet.core.model import UNet
from napari_unet.core.modelfile import (
    SCHEMA_VERSION,
    describe_card,
    load_model,
    read_card,
    save_model,
)


def _model(**kw) -> UNet:
    torch.manual_seed(0)
    kw = {"depth": 2, "base_channels": 4, "out_channels": 3,
          "meta": {"task": "instances", "class_names": ["bg", "inside", "edge"], "axes": "YX"},
          "normalization": {"mode": "percentile", "low": 2.0, "high": 99.0}, **kw}
    model = UNet(**kw)
    # make batch-norm statistics non-trivial so that they are checked too
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 1, 16, 16))
    return model.eval()


def test_round_trip_gives_identical_outputs_and_card(tmp_path):
    model = _model()
    path = save_model(model, tmp_path / "sub" / "m.unet.safetensors",
                      train_config={"steps": 7, "patch": (32, 32)},
                      training_data={"n_pairs": 1}, validation={"iou": np.float32(0.5)})
    loaded = load_model(path)
    x = torch.randn(1, 1, 24, 40)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    assert not loaded.training
    assert loaded.config == model.config
    card = read_card(path)
    assert card["schema_version"] == SCHEMA_VERSION
    assert card["task"] == "instances"
    assert card["classes"] == [1, 2, 3]
    assert card["class_names"] == ["bg", "inside", "edge"]
    assert card["axes"] == "YX"
    assert card["normalization"] == {"mode": "percentile", "low": 2.0, "high": 99.0}
    assert card["sizes"]["halo"] == list(model.halo)
    assert card["train_config"] == {"steps": 7, "patch": [32, 32]}
    assert card["validation"] == {"iou": 0.5}
    assert card["provenance"]["torch"] == torch.__version__
    assert "task: instances" in describe_card(card)
    # no temporary files left behind
    assert [p.name for p in path.parent.iterdir()] == ["m.unet.safetensors"]


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "m.unet.safetensors"
    save_model(_model(), path)
    other = _model(out_channels=2, meta={"task": "semantic"})
    save_model(other, path)
    assert load_model(path).out_channels == 2


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope.unet.safetensors")


def test_truncated_file(tmp_path):
    path = save_model(_model(), tmp_path / "m.unet.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"m\.unet\.safetensors"):
        load_model(path)


def test_tampered_weights_are_detected(tmp_path):
    path = save_model(_model(), tmp_path / "m.unet.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits in the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_model(path)


def _rewrite_card(path, change) -> None:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    card = json.loads(header["__metadata__"]["napari_unet"])
    change(card)
    header["__metadata__"]["napari_unet"] = json.dumps(card)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_unknown_schema_version(tmp_path):
    path = save_model(_model(), tmp_path / "m.unet.safetensors")
    _rewrite_card(path, lambda c: c.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(ValueError, match="schema_version"):
        load_model(path)
    with pytest.raises(ValueError, match="schema_version"):
        read_card(path)


def test_not_a_model_file(tmp_path):
    pickle_file = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(2)}, pickle_file)
    with pytest.raises(ValueError, match="safetensors"):
        load_model(pickle_file)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="model card"):
        load_model(plain)


def test_bytes_round_trip_and_card_defaults_from_training_meta():
    from napari_unet.core.modelfile import dumps_model, loads_model

    model = _model()
    model.meta["training"] = {"config": {"max_steps": 3}, "steps": 3, "samples": 1}
    model.meta["validation"] = {"loss": 0.25}
    back = loads_model(dumps_model(model))
    assert back.card["train_config"] == {"max_steps": 3}
    assert back.card["training_data"] == {"steps": 3, "samples": 1}
    assert back.card["validation"] == {"loss": 0.25}
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), back(x).numpy())
    with pytest.raises(ValueError, match="safetensors"):
        loads_model(b"\x00" * 4)
