"""Every script in benchmarks/ and scripts/ imports (so a moved core name cannot rot there),
and none runs its main work on import."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*REPO.glob("benchmarks/*.py"), *REPO.glob("scripts/*.py")])


class RanOnImport(Exception):
    """Raised by a patched ``sys.exit`` / ``argparse`` when a script starts on import."""


def _top_level_calls_of_own_functions(path: Path) -> list[str]:
    """Statements at module level (outside ``if __name__ == "__main__":``) that call one of
    the script's own functions, e.g. an unguarded ``main()``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    calls = []

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.If):
                if "__main__" not in ast.unparse(stmt.test):
                    visit(stmt.body)
                    visit(stmt.orelse)
            elif isinstance(stmt, (ast.Try, ast.With)):
                visit(stmt.body)
            elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                  and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id in own):
                calls.append(f"{path.name}:{stmt.lineno}: {stmt.value.func.id}()")

    visit(tree.body)
    return calls


def test_there_are_scripts_to_check():
    names = {p.name for p in SCRIPTS}
    assert {"bench_train.py", "launch.py"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports_without_running(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _top_level_calls_of_own_functions(path)
    assert not calls, f"{path.name} runs its own functions on import: {calls}"

    def refuse(*args: object, **kwargs: object) -> None:
        raise RanOnImport(f"{path.name} started its main work on import")

    monkeypatch.setattr(sys, "exit", refuse)
    monkeypatch.setattr("argparse.ArgumentParser.parse_args", refuse)
    # the scripts import their neighbours by bare name (bench_train, launch, ...)
    monkeypatch.syspath_prepend(str(path.parent))
    neighbours = {p.stem for p in path.parent.glob("*.py")}
    before = {name: sys.modules[name] for name in neighbours if name in sys.modules}
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # before exec_module: dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        for name in neighbours:  # leave sys.modules as it was
            if name in before:
                sys.modules[name] = before[name]
            else:
                sys.modules.pop(name, None)
    assert callable(getattr(module, "main", None)), (
        f"{path.name}: expected a main() behind `if __name__ == '__main__':`"
    )
