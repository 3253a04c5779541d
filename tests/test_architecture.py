"""The package's shape: data flows one way, no cycles, no private names across modules.

The layers, lowest first, are those of ``docs/architecture.md``: a module imports its
own layer or lower, never higher; the core (everything up to ``pipeline``) imports
none of ``batch``, ``synthetic``, ``testing``, ``replication``, ``bench``, ``cli``;
``kernels`` import nothing of ``nightlight`` and every numba jit in them releases the
GIL. Imports are read with :mod:`ast` and relative imports are resolved to absolute
module names, so ``from ..cli.group import console`` counts the same as
``from nightlight.cli.group import console``.

The checker is a set of plain functions over a *tree* (package name → folder), so the
tests at the bottom can run it on small fake trees that contain each kind of violation
and prove that it reports them: a checker that cannot fail proves nothing.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the real tree: import name → folder (kernels/ and catalog/ sit at the repo root)
TREE = {
    "nightlight": ROOT / "nightlight",
    "nightlight.kernels": ROOT / "kernels",
    "nightlight.catalog": ROOT / "catalog",
}

#: first matching prefix wins: (module prefix, layer)
LAYERS = [
    ("nightlight.kernels", 0),
    ("nightlight.catalog", 0),
    ("nightlight._version", 0),
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
    ("nightlight.accessor", 8),
    ("nightlight.batch", 9),
    ("nightlight.synthetic", 9),
    ("nightlight.testing", 10),
    ("nightlight.replication", 10),
    ("nightlight.bench", 10),
    ("nightlight.cli", 11),
]
#: the layer of ``nightlight.pipeline``: everything at or below it is the core
CORE_TOP = 8
#: what the core never imports (also implied by the layers; stated so a re-layering cannot drop it)
NOT_IN_CORE = ("batch", "synthetic", "testing", "replication", "bench", "cli")
#: re-export hubs: checked through the modules they re-export
HUBS = {"nightlight", "nightlight.__main__"}

#: "module._name" → why other modules may take it. Keep it short: a name two modules share is
#: public to the package — rename it, or move it to its owner. These wait for their owners.
PRIVATE_EXCEPTIONS: dict[str, str] = {}

MAX_LINES = 500
#: module → why it may be longer than MAX_LINES
SIZE_EXCEPTIONS: dict[str, str] = {}

JITS = {"njit", "jit", "vectorize", "guvectorize"}
#: rasterio's in-memory GDAL helpers: each swaps the process-wide warning filters (catch_warnings)
#: and must run under nightlight._backend.IN_MEMORY_GDAL_LOCK, or in the driver alone (named here, with why).
GDAL_IN_MEMORY = {"shapes", "rasterize", "geometry_mask", "reproject"}
UNLOCKED_EXCEPTIONS = {
    "nightlight.io.zones.centre_pixels": "runs in the driver, one polygon after another",
    "nightlight.bench.zonal._xrspatial": "the xarray-spatial peer's own zone raster, in its own measurement process",
}
KERNEL_BANNED = {"xarray", "dask", "rasterio", "rioxarray", "geopandas", "pandas", "nightlight"}


# ---------------------------------------------------------------------------- the checker


@dataclass(frozen=True)
class Import:
    """One imported name: ``module`` is the absolute module it lands in."""

    path: Path
    line: int
    module: str  # the module the name lives in (longest prefix that is a module of the tree)
    name: str | None  # the attribute imported from it (None: the module itself)

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def modules(tree: dict[str, Path]) -> dict[str, Path]:
    """Every module of the tree: dotted name → file."""
    mods: dict[str, Path] = {}
    for pkg, folder in tree.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([pkg, *parts])
            # a folder mapped under its own name (kernels/) wins over the same folder reached from a parent
            if any(name == p or name.startswith(p + ".") for p in tree if len(p) > len(pkg)):
                continue
            mods[name] = path
    return mods


@functools.cache
def _parse(path: Path) -> ast.Module:
    """A file's syntax tree, parsed once per session (every check walks every file)."""
    return ast.parse(path.read_text(), str(path))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """All nodes except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield child
                yield from _runtime_nodes(child)
            continue
        yield node
        yield from _runtime_nodes(node)


def _land(dotted: str, mods: dict[str, Path]) -> str | None:
    """The module a dotted name lands in (``nightlight.io.raster.open_mosaic`` → ``nightlight.io.raster``)."""
    while dotted and dotted not in mods:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def imports(mod: str, mods: dict[str, Path], *, runtime_only: bool = True) -> list[Import]:
    """The names ``mod`` imports from the tree, relative imports resolved."""
    path = mods[mod]
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    tree = _parse(path)
    nodes = _runtime_nodes(tree) if runtime_only else ast.walk(tree)
    out: list[Import] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _land(alias.name, mods)
                if target:
                    out.append(Import(path, node.lineno, target, None))
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).split(".")[-1] in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            # importlib.import_module("nightlight.cli") is an import too (a computed name cannot be checked)
            target = _land(node.args[0].value, mods)
            if target:
                out.append(Import(path, node.lineno, target, None))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                up = node.level - 1
                if up >= len(base_parts):
                    raise AssertionError(f"{path}:{node.lineno} relative import goes above the top package")
                base = ".".join(base_parts[: len(base_parts) - up] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in mods:  # a submodule
                    out.append(Import(path, node.lineno, full, None))
                elif (target := _land(base, mods)) is not None:
                    out.append(Import(path, node.lineno, target, alias.name))
    return out


def layer(module: str) -> int:
    for prefix, n in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return n
    raise AssertionError(f"{module} has no layer in tests/test_architecture.py LAYERS: add it where it belongs")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def upward_imports(tree: dict[str, Path]) -> list[str]:
    """Imports that point up the layers, or from the core into the tools built on it."""
    mods = modules(tree)
    bad = []
    for mod in sorted(mods):
        if mod in HUBS:
            continue
        for imp in imports(mod, mods):
            target = imp.module
            where = imp.where(tree["nightlight"].parent)
            if target == "nightlight":
                if layer(mod) < layer("nightlight.replication"):
                    bad.append(f"{where} {mod} imports the top-level package (import from the module itself)")
            elif target in HUBS:
                continue
            elif layer(target) > layer(mod):
                bad.append(f"{where} {mod} (layer {layer(mod)}) imports {target} (layer {layer(target)})")
            elif layer(mod) <= CORE_TOP and target.split(".")[1] in NOT_IN_CORE:
                bad.append(f"{where} {mod} (core) imports {target}")
    return bad


def import_cycles(tree: dict[str, Path]) -> list[str]:
    """Cycles in the module graph (a package ``__init__`` re-exporting its children is not one)."""
    mods = modules(tree)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod in mods:
        for imp in imports(mod, mods):
            t = imp.module
            # child → its own package __init__ closes the loop __init__ → child only by re-export
            if t != mod and not mod.startswith(t + "."):
                graph[mod].add(t)
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

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
    return cycles


def private_imports(tree: dict[str, Path], exceptions: dict[str, str]) -> list[str]:
    """``_private`` names one module takes from another: by import, or as ``module._name``."""
    mods = modules(tree)
    root = tree["nightlight"].parent
    bad = []
    for mod in sorted(mods):
        path = mods[mod]
        # local names bound to modules of the tree, for `module._name` attribute access
        module_aliases: dict[str, str] = {}
        for imp in imports(mod, mods, runtime_only=False):
            if imp.name is None or imp.module == mod:
                continue
            if _is_private(imp.name) and f"{imp.module}.{imp.name}" not in exceptions:
                bad.append(f"{imp.where(root)} {mod} imports {imp.module}.{imp.name}")
        src = _parse(path)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(src):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        module_aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                for a in node.names:
                    if f"{base}.{a.name}" in mods:
                        module_aliases[a.asname or a.name] = f"{base}.{a.name}"
        for node in ast.walk(src):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                target = module_aliases.get(ast.unparse(node.value))
                if target and target != mod and f"{target}.{node.attr}" not in exceptions:
                    bad.append(f"{path.relative_to(root)}:{node.lineno} {mod} uses {target}.{node.attr}")
    return sorted(set(bad))


def kernel_imports(tree: dict[str, Path]) -> list[str]:
    """kernels/: plain arrays in and out — no xarray, no dask, no I/O, nothing of nightlight but kernels."""
    mods = modules(tree)
    bad = []
    for mod in sorted(m for m in mods if m.startswith("nightlight.kernels")):
        path = mods[mod]
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                names = []
            bad += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in KERNEL_BANNED]
        for imp in imports(mod, mods, runtime_only=False):
            if not imp.module.startswith("nightlight.kernels"):
                bad.append(f"{path.name}:{imp.line} imports {imp.module}")
    return sorted(set(bad))


def _is_jit(func: ast.expr, jit_names: set[str], numba_names: set[str]) -> bool:
    """Is ``func`` numba's jit: a local name bound to it, or an attribute of the numba module?"""
    if isinstance(func, ast.Name):
        return func.id in jit_names
    return (
        isinstance(func, ast.Attribute) and func.attr in JITS and ast.unparse(func.value).split(".")[0] in numba_names
    )


def _releases(call: ast.Call) -> bool:
    """A literal ``nogil=True`` (a variable or ``**options`` cannot be checked, so it does not count)."""
    return any(k.arg == "nogil" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def gil_holding_jits(tree: dict[str, Path]) -> list[str]:
    """Numba jits in kernels/ without a literal ``nogil=True``: decorators and calls (``f = njit(_f)``)."""
    mods = modules(tree)
    held = []
    for mod in sorted(m for m in mods if m.startswith("nightlight.kernels")):
        path = mods[mod]
        src = _parse(path)
        numba_names = {"numba"}  # local names of the numba module
        jit_names: set[str] = set()  # local names of numba's jit decorators
        for node in ast.walk(src):
            if isinstance(node, ast.Import):
                numba_names |= {a.asname or a.name for a in node.names if a.name == "numba"}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
                jit_names |= {a.asname or a.name for a in node.names if a.name in JITS}

        for node in ast.walk(src):
            if isinstance(node, ast.Call) and _is_jit(node.func, jit_names, numba_names) and not _releases(node):
                held.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:60]}")
            elif isinstance(node, ast.FunctionDef):
                # a bare `@njit` is a decorator that is not a call
                held += [
                    f"{path.name}:{node.lineno} {node.name}"
                    for d in node.decorator_list
                    if _is_jit(d, jit_names, numba_names)
                ]
    return held


def oversized(tree: dict[str, Path], limit: int, exceptions: dict[str, str]) -> list[str]:
    mods = modules(tree)
    out = []
    for mod, path in sorted(mods.items()):
        n = len(path.read_text().splitlines())
        if n > limit and mod not in exceptions:
            out.append(f"{path.relative_to(tree['nightlight'].parent)} has {n} lines (> {limit}): split it by job")
    return out


def unlocked_gdal_calls(tree: dict[str, Path]) -> list[tuple[str, str]]:
    """(where, function) of every :data:`GDAL_IN_MEMORY` call not inside ``with IN_MEMORY_GDAL_LOCK:``."""
    out = []
    for mod, path in sorted(modules(tree).items()):
        src = _parse(path)
        locked: set[int] = set()  # the nodes inside a `with IN_MEMORY_GDAL_LOCK:` block
        owner: dict[int, str] = {}  # node → the top-level function it is in
        for node in ast.walk(src):
            if isinstance(node, ast.With) and "IN_MEMORY_GDAL_LOCK" in ast.unparse(node.items[0]):
                locked |= {id(n) for n in ast.walk(node)}
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.col_offset == 0:
                owner |= {id(n): f"{mod}.{node.name}" for n in ast.walk(node)}
        for node in ast.walk(src):
            if not isinstance(node, ast.Call) or id(node) in locked:
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in GDAL_IN_MEMORY:
                out.append((f"{path.name}:{node.lineno} {name}()", owner.get(id(node), mod)))
    return out


# ---------------------------------------------------------------------------- the real tree


def test_every_module_has_a_layer():
    for mod in modules(TREE):
        if mod not in HUBS:
            layer(mod)


def test_imports_point_down_the_pipeline():
    bad = upward_imports(TREE)
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    cycles = import_cycles(TREE)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_names_cross_modules():
    bad = private_imports(TREE, PRIVATE_EXCEPTIONS)
    assert not bad, f"{len(bad)} private names used across modules (make them public, or move them):\n" + "\n".join(bad)


def test_private_exceptions_are_still_needed():
    """A named exception whose import is gone is deleted, so the list cannot rot."""
    unexcused = private_imports(TREE, {})
    stale = [name for name in PRIVATE_EXCEPTIONS if not any(line.endswith(f" {name}") for line in unexcused)]
    assert not stale, "stale PRIVATE_EXCEPTIONS: " + ", ".join(stale)


def test_kernels_are_plain():
    bad = kernel_imports(TREE)
    assert not bad, bad


def test_every_kernel_releases_the_gil():
    """Kernels run in dask's threads: one that holds the GIL stalls every other thread for a whole block."""
    held = gil_holding_jits(TREE)
    assert not held, "numba jits in kernels/ without nogil=True: " + ", ".join(held)


def test_rasterio_in_memory_calls_take_the_lock():
    """Two threads inside rasterio's catch_warnings at once can leave "ignore every warning" set for the process."""
    calls = unlocked_gdal_calls(TREE)
    bad = [f"{where} in {func} outside IN_MEMORY_GDAL_LOCK" for where, func in calls if func not in UNLOCKED_EXCEPTIONS]
    assert not bad, "\n".join(bad)
    assert set(UNLOCKED_EXCEPTIONS) <= {func for _, func in calls}, "stale UNLOCKED_EXCEPTIONS"


def test_modules_are_small():
    big = oversized(TREE, MAX_LINES, SIZE_EXCEPTIONS)
    assert not big, "\n".join(big)
    assert set(SIZE_EXCEPTIONS) <= set(modules(TREE)), "SIZE_EXCEPTIONS names a module that is gone"


# ---------------------------------------------------------------------------- the checker can fail


def _fake_tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    """A tree like the real one (``nightlight/``, ``kernels/``) holding only ``files`` (path → source)."""
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in ["nightlight", "kernels", *{str(Path(rel).parent) for rel in files}]:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        init = tmp_path / folder / "__init__.py"
        if not init.exists():
            init.write_text("")
    return {"nightlight": tmp_path / "nightlight", "nightlight.kernels": tmp_path / "kernels"}


def test_checker_sees_a_relative_upward_import(tmp_path):
    tree = _fake_tree(
        tmp_path,
        {"nightlight/io/align.py": "from ..cli.group import console\n", "nightlight/cli/group.py": "console = 1\n"},
    )
    bad = upward_imports(tree)
    assert len(bad) == 1 and "nightlight.io.align (layer 3) imports nightlight.cli.group (layer 11)" in bad[0], bad


def test_checker_sees_a_relative_import_of_the_pipeline(tmp_path):
    tree = _fake_tree(
        tmp_path,
        {"nightlight/change/decline.py": "from ..pipeline import run_detect\n", "nightlight/pipeline.py": "X = 1\n"},
    )
    bad = upward_imports(tree)
    assert len(bad) == 1 and "imports nightlight.pipeline" in bad[0], bad


def test_checker_sees_an_import_module_call(tmp_path):
    tree = _fake_tree(
        tmp_path,
        {
            "nightlight/cities/label.py": "import importlib\n\ncli = importlib.import_module('nightlight.cli.group')\n",
            "nightlight/cli/group.py": "console = 1\n",
        },
    )
    assert any("imports nightlight.cli.group" in b for b in upward_imports(tree))


def test_checker_sees_the_core_importing_a_tool(tmp_path):
    tree = _fake_tree(
        tmp_path,
        {"nightlight/pipeline.py": "from .synthetic import world\n", "nightlight/synthetic/world.py": "X = 1\n"},
    )
    assert any("imports nightlight.synthetic.world" in b for b in upward_imports(tree))


def test_checker_sees_a_relative_cycle(tmp_path):
    tree = _fake_tree(
        tmp_path,
        {
            "nightlight/cities/label.py": "from .components import merge\n\ndef label(): ...\n",
            "nightlight/cities/components.py": "from . import label\n\ndef merge(): ...\n",
        },
    )
    cycles = import_cycles(tree)
    assert cycles == ["nightlight.cities.components → nightlight.cities.label → nightlight.cities.components"], cycles


def test_checker_sees_a_kernel_importing_nightlight(tmp_path):
    tree = _fake_tree(
        tmp_path, {"kernels/zonal.py": "from .. import grid\n", "nightlight/grid.py": "class Grid: ...\n"}
    )
    # kernels/ is installed as nightlight.kernels, so `..` is nightlight
    assert kernel_imports(tree) == ["zonal.py:1 imports nightlight.grid"]


def test_checker_sees_a_kernel_importing_xarray(tmp_path):
    tree = _fake_tree(tmp_path, {"kernels/label.py": "import numpy as np\nimport xarray as xr\n"})
    assert kernel_imports(tree) == ["label.py:2 imports xarray"]


@pytest.mark.parametrize(
    "source",
    [
        "import numba\n\ndef _f(x):\n    return x\n\nf = numba.njit(_f)\n",
        "from numba import njit\n\ndef _f(x):\n    return x\n\nf = njit(cache=True)(_f)\n",
        "from numba import njit as fast\n\n@fast\ndef f(x):\n    return x\n",
        "import numba as nb\n\n@nb.njit(nogil=False)\ndef f(x):\n    return x\n",
        "from numba import vectorize\n\n@vectorize(['f8(f8)'])\ndef f(x):\n    return x\n",
    ],
    ids=["call-form", "call-of-decorator-factory", "aliased-bare-decorator", "nogil-false", "vectorize"],
)
def test_checker_sees_a_jit_holding_the_gil(tmp_path, source):
    tree = _fake_tree(tmp_path, {"kernels/k.py": source})
    assert len(gil_holding_jits(tree)) == 1, gil_holding_jits(tree)


def test_checker_passes_jits_that_release_the_gil(tmp_path):
    source = (
        "import numba\nfrom numba import njit\n\n@njit(nogil=True, cache=True)\ndef f(x):\n    return x\n\n"
        "def _g(x):\n    return x\n\ng = numba.njit(nogil=True)(_g)\nh = njit(_g, nogil=True)\n"
    )
    assert gil_holding_jits(_fake_tree(tmp_path, {"kernels/k.py": source})) == []


def test_checker_sees_private_names_across_modules(tmp_path):
    tree = _fake_tree(
        tmp_path,
        {
            "nightlight/cities/components.py": "def _merge(): ...\n_TABLE = {}\n",
            "nightlight/cities/label.py": "from .components import _merge\n",
            "nightlight/synthetic/make.py": "from nightlight.cities import components\n\nx = components._TABLE\n",
            "nightlight/synthetic/model.py": "from ..cities.components import _TABLE as T\n",
        },
    )
    bad = private_imports(tree, {})
    assert [b.split(" ", 1)[1] for b in bad] == [
        "nightlight.cities.label imports nightlight.cities.components._merge",
        "nightlight.synthetic.make uses nightlight.cities.components._TABLE",
        "nightlight.synthetic.model imports nightlight.cities.components._TABLE",
    ], bad
    named = {"nightlight.cities.components._merge": "a reason"}
    assert len(private_imports(tree, named)) == 2


def test_checker_sees_an_oversized_module(tmp_path):
    tree = _fake_tree(tmp_path, {"nightlight/io/big.py": "x = 1\n" * 11})
    assert len(oversized(tree, 10, {})) == 1
    assert oversized(tree, 10, {"nightlight.io.big": "a reason"}) == []


def test_checker_sees_an_unlocked_rasterio_call(tmp_path):
    source = (
        "import rasterio.features\nfrom rasterio.warp import reproject\n"
        "from nightlight._backend import IN_MEMORY_GDAL_LOCK\n\n"
        "def f(a):\n    with IN_MEMORY_GDAL_LOCK:\n        rasterio.features.rasterize(a)\n"
        "    return list(rasterio.features.shapes(a))\n\n"
        "def g(a):\n    reproject(a)\n"
    )
    calls = unlocked_gdal_calls(_fake_tree(tmp_path, {"nightlight/cities/m.py": source}))
    want = [("m.py:8 shapes()", "nightlight.cities.m.f"), ("m.py:11 reproject()", "nightlight.cities.m.g")]
    assert sorted(calls) == sorted(want)
