"""nightlight: find shrinking cities in satellite night-light mosaics.

The pipeline, one subpackage a stage; data flows one way and imports only point
down this line::

    catalog/ ─► io ─────────► preprocess ─────────► cities ──────────► change ──────────► outputs
               (open, read,    (units, DMSP inter-    (threshold,        (zonal sums,        (tables, figures,
                align grids)    calibration, fits,     label + merge,     decline, trend,     summaries)
                                harmonize, denoise)    polygons)          shape)
                                      └──────── kernels/ (numba, plain arrays) ────────┘

    pipeline.py  the job io → preprocess → cities → change → outputs (the CLI calls it)
    synthetic/   the planted world;  replication/  the study on real data (use the pipeline)

Public API (a contract other tools call): :func:`open_mosaic`,
:func:`extract_natural_cities`, :func:`detect_shrinking`, :mod:`nightlight.calibrate`
(= :mod:`nightlight.preprocess`), :func:`align_to`, :class:`Grid`. Old flat module
names (``nightlight.zonal`` …) still import, with a ``DeprecationWarning``
(:mod:`nightlight._compat`).
"""

from __future__ import annotations

import importlib
from typing import Any

from nightlight import _compat
from nightlight._resources import catalog_path
from nightlight._version import __version__
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
from nightlight.io.raster import open_mosaic

_compat.install()

# Heavier stages load on first use so `import nightlight` stays quick and a CLI
# call pays only for the stages it runs. name → (module, attribute or None for the module).
_LAZY: dict[str, tuple[str, str | None]] = {
    "extract_natural_cities": ("nightlight.cities", "extract_natural_cities"),
    "label_components": ("nightlight.cities", "label_components"),
    "detect_shrinking": ("nightlight.change", "detect_shrinking"),
    "align_to": ("nightlight.io.align", "align_to"),
    "prepare_inputs": ("nightlight.preprocess.inputs", "prepare_inputs"),
    "Params": ("nightlight.params", "Params"),
    "read_polygons": ("nightlight.io.vector", "read_polygons"),
    "calibrate": ("nightlight.preprocess", None),
    "preprocess": ("nightlight.preprocess", None),
    "synth": ("nightlight.synthetic", None),
    "synthetic": ("nightlight.synthetic", None),
    "report": ("nightlight.outputs", None),
    "outputs": ("nightlight.outputs", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attr is None else getattr(module, attr)
    raise AttributeError(f"module 'nightlight' has no attribute {name!r}")


__all__ = [
    "__version__",
    "CatalogError",
    "FitError",
    "Grid",
    "GridMismatchError",
    "InvalidRasterError",
    "InvalidVectorError",
    "MissingCRSError",
    "NightlightError",
    "Params",
    "UnitsError",
    "UnsupportedCRSError",
    "align_to",
    "catalog_path",
    "detect_shrinking",
    "extract_natural_cities",
    "label_components",
    "open_mosaic",
    "prepare_inputs",
    "read_polygons",
    "require_same_grid",
]
