"""Shared test configuration: paths and small helpers used by both core and widget tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

#: A training configuration that trains in seconds on a CPU (``TrainConfig`` keyword
#: arguments; add a budget such as ``max_steps=20``). Random starting weights, so that a
#: shipped starting model does not replace the tiny architecture.
TINY: dict[str, Any] = {
    "depth": 2,
    "base_channels": 8,
    "patch_shape": [64, 64],
    "batch_size": 4,
    "start": "none",
}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (holds pyproject.toml, napari.yaml and sample_data/)."""
    return REPO


@pytest.fixture
def tiny() -> dict[str, Any]:
    """A fresh copy of :data:`TINY` (safe to change in a test)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in TINY.items()}
