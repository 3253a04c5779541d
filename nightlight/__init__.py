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
:func:`extract_natural_cities`, :func:`detect_shrinking`, :func:`align_to`,
:func:`read_polygons`, :class:`Grid`, the exceptions, and the stage subpackages
(:mod:`nightlight.preprocess` for calibration). See ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    ParameterError,
    UnitsError,
    UnsupportedCRSError,
)

#: The public functions and classes → the module that defines them. They are imported on
#: first use (PEP 562), so `import nightlight` and `nightlight --help` do not pay for
#: xarray, dask and geopandas until a function is called.
_PUBLIC = {
    "open_mosaic": "nightlight.io.raster",
    "prepare_inputs": "nightlight.preprocess.inputs",
    "open_series": "nightlight.preprocess.inputs",
    "zonal_stats": "nightlight.change.stats",
    "Params": "nightlight.params",
    "extract_natural_cities": "nightlight.cities",
    "label_components": "nightlight.cities",
    "detect_shrinking": "nightlight.change",
    "align_to": "nightlight.io.align",
    "read_polygons": "nightlight.io.vector",
    "Grid": "nightlight.grid",
    "require_same_grid": "nightlight.grid",
}

if TYPE_CHECKING:  # what a type checker and an IDE see
    from nightlight.change import detect_shrinking
    from nightlight.change.stats import zonal_stats
    from nightlight.cities import extract_natural_cities, label_components
    from nightlight.grid import Grid, require_same_grid
    from nightlight.io.align import align_to
    from nightlight.io.raster import open_mosaic
    from nightlight.io.vector import read_polygons
    from nightlight.params import Params
    from nightlight.preprocess.inputs import open_series, prepare_inputs


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        importlib.import_module("nightlight.accessor")  # registers da.nightlight with the first function
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nightlight' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


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
    "ParameterError",
    "Params",
    "UnitsError",
    "UnsupportedCRSError",
    "align_to",
    "catalog_path",
    "detect_shrinking",
    "extract_natural_cities",
    "label_components",
    "open_mosaic",
    "open_series",
    "prepare_inputs",
    "read_polygons",
    "require_same_grid",
    "zonal_stats",
]
