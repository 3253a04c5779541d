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

from nightlight._resources import catalog_path
from nightlight._version import __version__
from nightlight.change import detect_shrinking
from nightlight.cities import extract_natural_cities, label_components
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
from nightlight.io.align import align_to
from nightlight.io.raster import open_mosaic
from nightlight.io.vector import read_polygons
from nightlight.params import Params
from nightlight.preprocess.inputs import prepare_inputs

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
