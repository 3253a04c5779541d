"""The test suite's shape (issue 18): its folders mirror the subpackages, and test modules share only helpers.

``tests/<sub>/`` holds the tests of ``nightlight.<sub>``; ``tests/`` itself keeps the
cross-cutting ones (architecture, README, notebooks, one path, top-level modules) and
``tests/helpers/`` the scenes several modules use. Every folder is a package, so
``tests/io/test_io.py`` is ``tests.io.test_io`` and cannot shadow another module. As in
``test_architecture.py``, the checkers are plain functions over folders, and the tests at
the bottom run them on small fake trees to prove they can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: folders of tests/ that mirror no subpackage: why
NOT_A_SUBPACKAGE = {"helpers": "scenes and data paths shared by test modules", "__pycache__": "bytecode"}


def mirror_gaps(package: Path, tests: Path) -> list[str]:
    """Subpackages without a tests folder, tests folders without a subpackage or ``__init__.py``."""
    subs = {p.parent.name for p in package.glob("*/__init__.py")}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith(".")}
    gaps = [
        f"nightlight.{s} has no tests/{s}/ with a test_*.py"
        for s in sorted(subs)
        if not any((tests / s).glob("test_*.py"))
    ]
    gaps += [f"tests/{f}/ mirrors no subpackage of nightlight" for f in sorted(folders - subs - set(NOT_A_SUBPACKAGE))]
    gaps += [
        f"tests/{f}/ has no __init__.py"
        for f in sorted(folders - {"__pycache__"})
        if not (tests / f / "__init__.py").exists()
    ]
    return gaps


def imports_of_test_modules(tests: Path) -> list[str]:
    """``module: imported name`` for every import of a test module or conftest by another file of tests/."""
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [
                f"{path.relative_to(tests)}: {n}"
                for n in names
                if n.split(".")[-1].startswith("test_") or n.split(".")[-1] == "conftest"
            ]
    return found


def test_tests_mirror_the_subpackages():
    assert mirror_gaps(ROOT / "nightlight", ROOT / "tests") == []


def test_no_test_module_imports_another():
    assert imports_of_test_modules(ROOT / "tests") == []


# ---------------------------------------------------------------- the checkers can fail
def _tree(tmp_path: Path, files: list[str]) -> tuple[Path, Path]:
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    return tmp_path / "pkg", tmp_path / "tests"


def test_checker_sees_a_subpackage_without_tests_and_a_stray_folder(tmp_path):
    pkg, tests = _tree(
        tmp_path, ["pkg/io/__init__.py", "pkg/cli/__init__.py", "tests/io/__init__.py", "tests/io/test_io.py"]
    )
    (tests / "misc").mkdir()
    assert mirror_gaps(pkg, tests) == [
        "nightlight.cli has no tests/cli/ with a test_*.py",
        "tests/misc/ mirrors no subpackage of nightlight",
        "tests/misc/ has no __init__.py",
    ]


def test_checker_sees_a_test_module_importing_another(tmp_path):
    _, tests = _tree(tmp_path, ["tests/io/__init__.py"])
    (tests / "io" / "test_a.py").write_text(
        "from test_b import scene\nimport tests.io.test_c\nfrom conftest import real_file\n"
    )
    (tests / "io" / "test_d.py").write_text(
        "from tests.helpers.realdata import real_file\nfrom tests.io import test_e\n"
    )
    assert imports_of_test_modules(tests) == [
        "io/test_a.py: test_b",
        "io/test_a.py: tests.io.test_c",
        "io/test_a.py: conftest",
        "io/test_d.py: tests.io.test_e",
    ]
