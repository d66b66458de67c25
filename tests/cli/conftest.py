"""A guard for command-line tests: no file outside the declared outputs is created, changed
or removed (the test folder is hashed before and after)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest


def _snapshot(root: Path) -> dict[Path, str]:
    out: dict[Path, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[p] = "link:" + str(p.readlink())
        elif p.is_dir():
            out[p] = "dir"
        else:
            out[p] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class FolderGuard:
    """Hashes a folder when armed and, at the end of the test, checks that only the declared
    outputs (files, or everything under declared folders) differ."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.allowed: list[Path] = []
        self.before: dict[Path, str] | None = None

    def arm(self, *allowed: Path) -> FolderGuard:
        """Start watching (after the test's inputs are in place); ``allowed`` may change."""
        self.allowed = [Path(p) for p in allowed]
        self.before = _snapshot(self.root)
        return self

    def stray(self) -> list[str]:
        """Paths that changed although not declared."""
        assert self.before is not None, "arm() the guard once the inputs are in place"
        after = _snapshot(self.root)
        changed = {p for p in self.before.keys() | after.keys()
                   if self.before.get(p) != after.get(p)}
        return sorted(str(p) for p in changed
                      if not any(p == a or a in p.parents for a in self.allowed))


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[FolderGuard]:
    """A :class:`FolderGuard` on ``tmp_path``; the test fails if anything undeclared changed."""
    g = FolderGuard(tmp_path)
    yield g
    assert g.before is not None, "the test never armed its guard"
    assert g.stray() == [], "files outside the declared outputs were created, changed or removed"
