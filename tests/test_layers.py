"""Who may import whom: the layer rules of DESIGN.md, checked on the sources (pure AST).

* The core imports no napari, Qt or magicgui, directly or through a dependency.
* Layer order: foundation (the modules directly in ``core/``) -> {prediction, objects,
  export} -> training -> cli / _widgets. Nothing imports upward; nothing in ``core`` imports
  ``cli`` or ``_widgets``.
* No module imports another module's private (``_name``) names; a private module is private
  to its package.
* Absolute imports only, everywhere in ``src/napari_unet``.
* No import cycles between core modules (module-level and function-level imports alike;
  imports under ``if TYPE_CHECKING:`` run never and close no cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import napari_unet

FORBIDDEN = ("napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6",
             "vispy")
PACKAGE_DIR = Path(napari_unet.__file__).parent
CORE = "napari_unet.core"

#: Rank of each room of the core; a module may import modules of its own room or of a lower
#: rank, except that the three middle rooms may not import each other.
MIDDLE = ("prediction", "objects", "export")
RANK = {"foundation": 0, "prediction": 1, "objects": 1, "export": 1, "training": 2}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


SOURCES = _sources()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> Iterator[tuple[int, ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of a file at any depth (functions included), with a flag that
    is True for the type-only ones (under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            type_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node.lineno, node, id(node) in type_only


def _targets(importer: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """(module, name) pairs an import statement reaches, relative ones made absolute; name is
    None for ``import m``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, None
        return
    module = node.module or ""
    if node.level:
        base = importer.split(".")
        if SOURCES[importer].name != "__init__.py":  # a module: its package is the base
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, module] if module else base)
    for alias in node.names:
        yield module, alias.name


def _resolve(module: str, name: str | None) -> str:
    """The napari_unet module an import lands on (``from pkg import submodule`` included)."""
    if name is not None and f"{module}.{name}" in SOURCES:
        return f"{module}.{name}"
    return module


def _internal_edges() -> Iterator[tuple[str, int, str, str | None, bool]]:
    """(importer, line, imported module, imported name, type-only) for imports within
    napari_unet, relative ones included."""
    for importer, path in SOURCES.items():
        for line, node, type_only in _imports(path):
            for module, name in _targets(importer, node):
                if module == "napari_unet" or module.startswith("napari_unet."):
                    yield importer, line, module, name, type_only


def _where(module: str, line: int) -> str:
    return f"{SOURCES[module].relative_to(PACKAGE_DIR.parents[1])}:{line}"


def _room(module: str) -> str:
    """``foundation``, a subpackage name of the core, or ``outside`` the core."""
    if module == CORE:
        return "foundation"
    if not module.startswith(CORE + "."):
        return "outside"
    first = module.split(".")[2]
    if (PACKAGE_DIR / "core" / first).is_dir():
        return first
    return "foundation"


# --- (a) no GUI in the core ----------------------------------------------------------------


def test_core_sources_import_no_gui_package():
    offenders = []
    for module, path in SOURCES.items():
        if _room(module) == "outside":
            continue
        for line, node, _ in _imports(path):
            for name, _ in _targets(module, node):
                if name.split(".")[0] in FORBIDDEN or name.startswith(
                    ("napari_unet._widgets", "napari_unet.cli")
                ):
                    offenders.append(f"{_where(module, line)}: import {name}")
    assert not offenders, "core imports GUI code:\n" + "\n".join(offenders)


@pytest.mark.slow  # a subprocess imports the whole core; the AST test above is the quick check
def test_importing_every_core_module_loads_no_gui_package():
    code = (
        "import importlib, pkgutil, sys\n"
        "import napari_unet.core as core\n"
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, core.__name__ + '.')]\n"
        "for m in names: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(len(names), ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, _, bad = out.stdout.strip().partition(" ")
    in_core = [m for m in SOURCES if m.startswith(CORE + ".")]
    assert int(count) == len(in_core), "pkgutil.walk_packages missed core modules"
    assert bad == "", f"importing the core pulled in: {bad}"


# --- (b) layer order -------------------------------------------------------------------------


def _layer_offence(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target``, or None when it may."""
    if target == "napari_unet":  # the lazy public API root: only __version__ (checked below)
        return None
    src, dst = _room(importer), _room(target)
    if src == "outside":
        return None
    if dst == "outside":
        return "the core imports cli/_widgets/the public API"
    if src not in RANK or dst not in RANK:
        return f"core room {(src if src not in RANK else dst)!r} has no place in the layer order"
    if src == dst:
        return None
    if src in MIDDLE and dst in MIDDLE:
        return f"{src} and {dst} are rooms of the same layer; neither imports the other"
    if RANK[dst] > RANK[src]:
        return f"{src} imports upward ({dst})"
    return None


def test_layer_order():
    offenders = []
    for importer, line, module, name, _ in _internal_edges():
        target = _resolve(module, name)
        why = _layer_offence(importer, target)
        if why is None and target == "napari_unet" and _room(importer) != "outside":
            if name != "__version__":
                why = "the core imports the public API (napari_unet) beyond __version__"
        if why:
            offenders.append(f"{_where(importer, line)}: {importer} -> {target}: {why}")
    assert not offenders, "layer order broken:\n" + "\n".join(offenders)


def test_layer_rule_itself():
    assert _layer_offence(f"{CORE}.io", f"{CORE}.training.train")
    assert _layer_offence(f"{CORE}.objects.frames", f"{CORE}.prediction.predict")
    assert _layer_offence(f"{CORE}.prediction.predict", f"{CORE}.training.config")
    assert _layer_offence(f"{CORE}.model", "napari_unet.cli._common")
    assert _layer_offence(f"{CORE}.training.train", f"{CORE}.objects.tuning") is None
    assert _layer_offence(f"{CORE}.export.bioimageio", f"{CORE}.modelfile") is None
    assert _layer_offence("napari_unet.cli._train", f"{CORE}.training.train") is None


# --- (c) private names ------------------------------------------------------------------------


def _private_owner(dotted: str) -> str | None:
    """The module or package a private dotted path is private to; None if it is public."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return ".".join(parts[:i])
    return None


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for importer, line, module, name, _ in _internal_edges():
        dotted = module if name is None else f"{module}.{name}"
        owner = _private_owner(dotted)
        # a private module is private to its package, a private name to its module
        if owner is not None and not (importer == owner or importer.startswith(owner + ".")):
            offenders.append(f"{_where(importer, line)}: {importer} imports {dotted}")
    assert not offenders, "private names used outside their owner:\n" + "\n".join(offenders)


def test_private_rule_itself():
    assert _private_owner("napari_unet.cli._common.load_any_model") == "napari_unet.cli"
    assert _private_owner("napari_unet.core.io._suffix") == "napari_unet.core.io"
    assert _private_owner("napari_unet.__version__") is None
    assert _private_owner("napari_unet.core.io.read_image") is None


# --- (d) absolute imports only ---------------------------------------------------------------


def test_absolute_imports_only():
    offenders = [
        f"{_where(module, line)}: from {'.' * node.level}{node.module or ''} import ..."
        for module, path in SOURCES.items()
        for line, node, _ in _imports(path)
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not offenders, "relative imports (use absolute ones):\n" + "\n".join(offenders)


# --- (e) no cycles ---------------------------------------------------------------------------


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_core():
    graph: dict[str, set[str]] = {m: set() for m in SOURCES if m.startswith(CORE)}
    lines: dict[tuple[str, str], int] = {}
    for importer, line, module, name, type_only in _internal_edges():
        target = _resolve(module, name)
        if type_only:  # `if TYPE_CHECKING:` imports nothing at run time
            continue
        if importer in graph and target in graph and target != importer:
            graph[importer].add(target)
            lines.setdefault((importer, target), line)
    report = []
    for component in _cycles(graph):
        members = set(component)
        edges = [
            f"  {_where(a, lines[a, b])}: {a} -> {b}"
            for a in component for b in sorted(graph[a] & members)
        ]
        report.append(" <-> ".join(component) + "\n" + "\n".join(edges))
    assert not report, "import cycles in the core:\n" + "\n".join(report)
