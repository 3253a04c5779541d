"""`nightlight --help` is quick: it imports no heavy stack; every listed command loads on use."""

from __future__ import annotations

import subprocess
import sys

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


def test_the_package_loads_its_public_functions_on_first_use():
    code = "import sys, nightlight\nassert 'xarray' not in sys.modules\nnightlight.open_mosaic\n"
    code += "print('xarray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
