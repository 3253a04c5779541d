"""Public zonal statistics: ``zonal_stats(raster, polygons, stats=[…])``, exact coverage by default.

The fastest part of the package, in the form exactextract users expect
(``exact_extract(raster, polygons, ["sum", "mean", "count"])``): any raster the input
boundary opens (path, URL, catalog name, 2-D or ``(time, y, x)`` DataArray), any
polygons :func:`nightlight.read_polygons` reads, one row per polygon in input order with
the polygons' own columns. The numbers are those of the decline test
(:mod:`nightlight.change.zonal`): each cell weighted by the share of its area inside
the polygon, nodata (NaN) left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from nightlight.area import AreaMode
from nightlight.change.zonal import zonal_stats_many
from nightlight.errors import ParameterError
from nightlight.io.vector import read_polygons
from nightlight.preprocess.inputs import prepare_inputs

#: What ``stats=`` can name (units: the raster's, × weighted pixels for ``sum``; km² for areas).
STATS = {
    "sum": "total of the raster over the polygon: Σ value × covered fraction",
    "mean": "sum / count: the coverage-weighted mean of the valid cells",
    "count": "Σ covered fraction of the valid (non-NaN) cells, pixels",
    "max": "the largest value of a cell the polygon touches",
    "pixels": "Σ covered fraction of every cell, valid or not, pixels",
    "valid_share": "count / pixels",
    "inside_share": "share of the polygon's area inside the raster",
    "lit_pixels": "Σ covered fraction of cells > floor",
    "lit_area_km2": "ground area of the cells > floor, km²",
    "area_km2": "ground area covered, km²",
}


def zonal_stats(
    raster: Any,
    polygons: Any,
    stats: Sequence[str] = ("sum", "mean", "count"),
    *,
    method: str = "exact",
    floor: float = 0.0,
    area: AreaMode = "exact",
    id_column: str | None = None,
) -> pd.DataFrame:
    """Zonal statistics of ``polygons`` over ``raster``, one row per polygon.

    Parameters
    ----------
    raster : DataArray, path, URL or catalog name
        A 2-D mosaic, or a ``(time, y, x)`` stack (:func:`nightlight.open_series`): then
        one column per statistic and time, ``<stat>_<time>``.
    polygons : GeoDataFrame or vector file
        Any CRS (reprojected to the raster's); CSV with WKT too.
    stats : sequence of str
        Names from :data:`STATS`.
    method : {"exact", "centre"}
        Exact fractional coverage (exactextract's rule, default) or the pixel-centre rule.
    floor : float
        A cell is lit when its value is > ``floor`` (``lit_*``).
    area : {"exact", "pyproj", "nominal"}
        The ground-area rule of :mod:`nightlight.area`.
    id_column : str, optional
        Column to keep as ``city_id`` (default: an id-like column, else the row number).

    Returns
    -------
    pandas.DataFrame
        The polygons' columns (without geometry) and the statistics, in input order.
    """
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ParameterError(f"stats={list(stats)!r}: choose from {', '.join(STATS)}.")
    stacked = isinstance(raster, xr.DataArray) and raster.ndim == 3
    layers = [raster.isel({raster.dims[0]: k}) for k in range(raster.shape[0])] if stacked else [raster]
    inputs = prepare_inputs(layers)
    polys = read_polygons(polygons, target_crs=inputs.grid.crs, id_column=id_column)
    frames = zonal_stats_many(polys, inputs.mosaics, floor=floor, method=method, area=area)
    out = pd.DataFrame(polys.drop(columns=polys.geometry.name)).reset_index(drop=True)
    labels = [str(v) for v in raster[raster.dims[0]].values] if stacked else [""]
    for label, frame in zip(labels, frames):
        frame = frame.assign(count=(frame["valid_share"] * frame["pixels"]).fillna(0.0))
        for stat in stats:
            column = f"{stat}_{label}" if label else stat
            out[column] = frame[stat].to_numpy(dtype=np.float64)
    return out
