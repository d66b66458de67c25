"""Shared test configuration: paths and small helpers used by both core and widget tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (holds pyproject.toml, napari.yaml and sample_data/)."""
    return REPO
