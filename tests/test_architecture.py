"""The package's shape: data flows one way, no import cycles, small modules.

Layers, lowest first (ARCHITECTURE.md). A module may import modules of its own layer
or lower, never higher: the pipeline never imports ``synthetic``, ``replication`` or
the CLI, and ``kernels`` import nothing of ``nightlight`` at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {
    "nightlight": ROOT / "nightlight",
    "nightlight.kernels": ROOT / "kernels",
    "nightlight.catalog": ROOT / "catalog",
}

#: first matching prefix wins: (module prefix, layer)
LAYERS = [
    ("nightlight.kernels", 0),
    ("nightlight.catalog", 0),
    ("nightlight._version", 0),
    ("nightlight._compat", 0),
    ("nightlight._resources", 0),
    ("nightlight.errors", 0),
    ("nightlight.hashing", 0),
    ("nightlight.grid", 1),
    ("nightlight.area", 2),
    ("nightlight.units", 2),
    ("nightlight._backend", 2),
    ("nightlight.progress", 2),
    ("nightlight.checkpoint", 2),
    ("nightlight.io", 3),
    ("nightlight.preprocess", 4),
    ("nightlight.params", 4),
    ("nightlight.cities", 5),
    ("nightlight.change", 6),
    ("nightlight.outputs", 7),
    ("nightlight.pipeline", 8),
    ("nightlight.batch", 9),
    ("nightlight.synthetic", 9),
    ("nightlight.testing", 10),
    ("nightlight.replication", 10),
    ("nightlight.bench", 10),
    ("nightlight.cli", 11),
]
#: re-export hubs, checked through the modules they re-export
EXEMPT = {"nightlight", "nightlight.__main__"}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([pkg, *parts])
            if pkg == "nightlight" and parts and parts[0] in ("kernels", "catalog"):
                continue
            mods[name] = path
    return mods


MODULES = _modules()


def _layer(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"{module} has no layer in tests/test_architecture.py LAYERS: add it where it belongs")


def _resolve(name: str) -> str | None:
    """The module an imported dotted name lands in (``nightlight.io.raster.open_mosaic`` → ``nightlight.io.raster``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _runtime_nodes(tree: ast.AST):
    """All nodes except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "nightlight"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nightlight":
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for _, name in _imports(path):
            target = _resolve(name)
            if target and target != mod:
                graph[mod].add(target)
    return graph


def test_every_module_has_a_layer():
    for mod in MODULES:
        if mod not in EXEMPT:
            _layer(mod)


def test_imports_point_down_the_pipeline():
    upward = []
    for mod, path in MODULES.items():
        if mod in EXEMPT:
            continue
        for line, name in _imports(path):
            target = _resolve(name)
            if target is None:
                continue
            if target == "nightlight" and _layer(mod) < _layer("nightlight.replication"):
                upward.append(
                    f"{path.relative_to(ROOT)}:{line} imports the top-level package (import from the module itself)"
                )
            elif target not in EXEMPT and _layer(target) > _layer(mod):
                upward.append(
                    f"{path.relative_to(ROOT)}:{line} {mod} (layer "
                    f"{_layer(mod)}) imports {target} (layer {_layer(target)})"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = _edges()
    # a package's __init__ re-exporting its children is not a cycle of code
    for mod in list(graph):
        graph[mod] = {t for t in graph[mod] if not (mod.startswith(t + ".") and MODULES[t].name == "__init__.py")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" → ".join([*stack[stack.index(t) :], t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_kernels_are_plain():
    """kernels/: plain arrays in and out — no xarray, no dask, no I/O, nothing of nightlight."""
    banned = {"xarray", "dask", "rasterio", "geopandas", "rioxarray", "nightlight"}
    bad = []
    for path in (ROOT / "kernels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in banned]
    assert not bad, bad


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_module_is_small(mod):
    n = len(MODULES[mod].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[mod].relative_to(ROOT)} has {n} lines (> {MAX_LINES}): split it by job"


def test_old_module_names_still_import():
    import importlib
    import warnings

    from nightlight._compat import MOVED

    for old, new in MOVED.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mod = importlib.import_module(old)
        assert mod is importlib.import_module(new), old
        assert mod.__spec__.name == new
        assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught), old


def test_every_kernel_releases_the_gil():
    """Kernels run in dask's threads: one that holds the GIL stalls every other thread for a whole block."""
    held = []
    for path in sorted((ROOT / "kernels").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                call = dec if isinstance(dec, ast.Call) else None
                name = ast.unparse(call.func if call else dec)
                if name.split(".")[-1] not in ("njit", "jit", "vectorize", "guvectorize"):
                    continue
                nogil = call is not None and any(
                    k.arg == "nogil" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in call.keywords
                )
                if not nogil:
                    held.append(f"{path.name}:{node.lineno} {node.name}")
    assert not held, "kernels without nogil=True: " + ", ".join(held)
