"""`nightlight --help` is quick: it imports no heavy stack; every listed command loads on use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nightlight.cli import main
from nightlight.cli.group import COMMANDS


def test_top_level_help_imports_no_heavy_module():
    """Old: 2.6–4 s, because every command module (and xarray, dask, geopandas) was imported."""
    code = (
        "import sys\n"
        "from nightlight.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('xarray', 'dask', 'geopandas', 'rasterio', 'numba') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
    for name in COMMANDS:
        assert name in out


def test_every_listed_command_is_defined_by_its_module():
    for name in COMMANDS:
        command = main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name, name


@pytest.mark.slow
def test_the_package_loads_its_public_functions_on_first_use():
    code = "import sys, nightlight\nassert 'xarray' not in sys.modules\nnightlight.open_mosaic\n"
    code += "print('xarray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def _undeclared_pair(tmp_path):
    import numpy as np

    from nightlight.testing.builders import write_geotiff

    v = np.zeros((60, 60), np.uint8)
    v[10:30, 10:30] = 40
    a = write_geotiff(tmp_path / "a.tif", v)
    b = write_geotiff(tmp_path / "b.tif", (v * 0.8).astype(np.uint8))
    return str(a), str(b)


@pytest.mark.slow
def test_warnings_are_one_clean_line_and_quiet_silences_them(tmp_path):
    """Old: `…/pipeline.py:90: UserWarning: …` plus the source line."""
    a, b = _undeclared_pair(tmp_path)
    args = ["detect", a, b, "--lit-threshold", "10", "--min-area-km2", "1"]
    res = subprocess.run(
        [sys.executable, "-m", "nightlight", *args, "--out", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    warned = [ln for ln in res.stderr.splitlines() if "units not declared" in ln]
    assert warned and all(ln.startswith("Warning: ") for ln in warned), res.stderr
    assert ".py:" not in res.stderr and "UserWarning" not in res.stderr
    quiet = subprocess.run(
        [sys.executable, "-m", "nightlight", "-q", *args, "--out", str(tmp_path / "q")], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and "Warning" not in quiet.stderr, quiet.stderr
    verbose = subprocess.run(
        [sys.executable, "-m", "nightlight", "-v", *args, "--out", str(tmp_path / "v")], capture_output=True, text=True
    )
    assert "natural cities done in" in verbose.stderr and "decline done in" in verbose.stderr, verbose.stderr
