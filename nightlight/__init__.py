"""nightlight: find shrinking cities in satellite night-light mosaics.

The pipeline, one module a stage::

    catalog/ ─► nightlight.io ─► nightlight.calibrate ─► nightlight.cities ─► nightlight.decline ─► nightlight.report
                      (open, align)      (inter-calibrate,     (natural cities:       (per-city change,
                                          harmonize, denoise)   label + area)          trend test)

Public API (a contract other tools call): :func:`open_mosaic`,
:func:`extract_natural_cities`, :func:`detect_shrinking`, :mod:`nightlight.calibrate`.
"""

from __future__ import annotations

import importlib
from typing import Any

from nightlight.errors import (
    CatalogError,
    FitError,
    GridMismatchError,
    InvalidRasterError,
    InvalidVectorError,
    MissingCRSError,
    NightlightError,
    UnitsError,
    UnsupportedCRSError,
)
from nightlight.grid import Grid, require_same_grid
from nightlight.io import open_mosaic

__version__ = "0.1.0"

# Heavier stages load on first use so `import nightlight` stays quick and a CLI
# call pays only for the stages it runs.
_LAZY = {
    "extract_natural_cities": "nightlight.cities",
    "label_components": "nightlight.cities",
    "detect_shrinking": "nightlight.decline",
    "align_to": "nightlight.align",
    "calibrate": "nightlight.calibrate",
    "synth": "nightlight.synth",
    "report": "nightlight.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if _LAZY[name].endswith("." + name) else getattr(module, name)
    raise AttributeError(f"module 'nightlight' has no attribute {name!r}")


def catalog_path(*parts: str):
    """Path (``importlib.resources`` Traversable) of a file in the shipped catalog."""
    from importlib.resources import files

    return files("nightlight.catalog").joinpath(*parts)


__all__ = [
    "CatalogError",
    "FitError",
    "Grid",
    "GridMismatchError",
    "InvalidRasterError",
    "InvalidVectorError",
    "MissingCRSError",
    "NightlightError",
    "UnitsError",
    "UnsupportedCRSError",
    "align_to",
    "catalog_path",
    "detect_shrinking",
    "extract_natural_cities",
    "label_components",
    "open_mosaic",
    "require_same_grid",
]
