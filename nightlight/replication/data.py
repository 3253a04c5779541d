"""Opening the real files in ``../shared/data``: the China DMSP-like years, provinces, places, Shanghai.

Also the small grid helpers the China pairs need (offset between two grids, a
lon/lat box as a pixel window).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from rasterio.windows import Window

from nightlight._backend import map_pixels
from nightlight._resources import catalog_path
from nightlight.errors import InvalidRasterError, InvalidVectorError
from nightlight.grid import Grid
from nightlight.io.raster import open_mosaic
from nightlight.replication.params import (
    CHINA_FILES,
    CHINA_LONLAT,
    PROVINCES,
    SHANGHAI_DISTRICTS,
    SHANGHAI_MGUP,
    SHANGHAI_YEAR,
    SHANGHAI_YEARS,
    WINDOWS,
)
from nightlight.units import check_dn

Box = tuple[float, float, float, float]


# --------------------------------------------------------------------------- China DMSP-like
def check_dmsp_dn(da: xr.DataArray, *, name: str | None = None) -> xr.DataArray:
    """Lazily refuse values outside DMSP DN 0–63 (raises :class:`UnitsError` when a chunk is computed).

    Nodata is already NaN (``open_mosaic``); NaN passes. The check is
    :func:`nightlight.units.check_dn` run per chunk through
    :func:`nightlight._backend.map_pixels`, so a whole-China mosaic is never loaded at
    once; an in-memory array is checked at once.
    """
    label = name or str(da.attrs.get("source", da.name))

    def _check(block: np.ndarray) -> np.ndarray:
        check_dn(block, label)
        return block

    return cast(xr.DataArray, map_pixels(da, _check))


def open_china_year(data_dir: str | Path, year: int) -> xr.DataArray:
    """One DMSP-like year (DN 0–63, float32, NaN nodata), checked lazily as DN."""
    if year not in CHINA_FILES:
        raise InvalidRasterError(
            f"year={year}: the China DMSP-like files cover {sorted(CHINA_FILES)}; pick one of them."
        )
    path = Path(data_dir) / CHINA_FILES[year]
    if not path.exists():
        raise InvalidRasterError(
            f"{path}: missing. Pass data_dir= pointing at the shared data folder (default ../shared/data)."
        )
    return check_dmsp_dn(open_mosaic(str(path)), name=str(path))


def china_nodata(data_dir: str | Path) -> dict[str, float | None]:
    """The nodata value each China file declares (``None``: none declared); headers only."""
    return {str(y): open_china_year(data_dir, y).attrs.get("source_nodata") for y in sorted(CHINA_FILES)}


# --------------------------------------------------------------------------- grids
def nearest_shift_m(dx: float, dy: float, res_x: float, res_y: float) -> float:
    """How far nearest-neighbour re-indexing moves every pixel, in CRS units (metres here).

    A grid offset ``(dx, dy)`` from grids with pixel size ``(res_x, res_y)``: nearest
    takes, for each target pixel, the source pixel whose centre is closest, so each
    pixel lands off by the offset's remainder after whole pixels, the same for all.
    """
    rx = dx - res_x * round(dx / res_x)
    ry = dy - res_y * round(dy / res_y)
    return float(math.hypot(rx, ry))


def lonlat_window(da: xr.DataArray, box: Box) -> Window:
    """Pixel window of ``da`` covering a lon/lat box (:meth:`nightlight.grid.Grid.window`, clipped)."""
    return Grid.of(da).window(box, crs="EPSG:4326").to_rasterio()


def resolve_window(window: Box | str | None) -> Box | None:
    """A lon/lat box from a name in :data:`WINDOWS`, a box, or ``None``."""
    return WINDOWS[window] if isinstance(window, str) else window


def crop(da: xr.DataArray, window: Window | None) -> xr.DataArray:
    """``da`` cut to a pixel window (``None``: unchanged)."""
    if window is None:
        return da
    return da.rio.isel_window(window)  # Grid.of reads the window's own transform


# --------------------------------------------------------------------------- places and provinces
def read_places(path: Any = None) -> pd.DataFrame:
    """The Northeast resource cities (``catalog/places/northeast_resource_cities.csv``)."""
    if path:
        return pd.read_csv(path, encoding="utf-8")
    with catalog_path("places", "northeast_resource_cities.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def read_provinces(data_dir: str | Path) -> gpd.GeoDataFrame:
    """China province polygons (``bou2_4p``): no .prj, GBK names; lon/lat is **assumed** and checked.

    Raises :class:`InvalidVectorError` when the polygons do not fall on China's extent
    (then the lon/lat assumption is wrong).
    """
    path = Path(data_dir) / PROVINCES
    if not path.exists():
        raise InvalidVectorError(
            f"{path}: missing province shapefile; pass data_dir= pointing at the shared data folder."
        )
    gdf = gpd.read_file(path, encoding="gbk")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")  # the file has no .prj; its coordinates are degrees (checked below)
    w, s, e, n = gdf.to_crs("EPSG:4326").total_bounds
    W, S, E, N = CHINA_LONLAT
    if not (w >= W and s >= S and e <= E and n <= N):
        raise InvalidVectorError(
            f"{path}: bounds ({w:.2f}, {s:.2f}, {e:.2f}, {n:.2f}) are not inside China's lon/lat extent "
            f"{CHINA_LONLAT}; the EPSG:4326 assumption for this .prj-less file is wrong. "
            "Give it the right CRS with set_crs()."
        )
    gdf["NAME"] = gdf["NAME"].fillna("(unnamed island polygons)")
    return gdf[["NAME", "ADCODE99", "geometry"]]


# --------------------------------------------------------------------------- Shanghai
def shanghai_paths(data_dir: str | Path) -> dict[int, str]:
    """The yearly Shanghai VIIRS-like files, 2000–2020 (year → path)."""
    return {y: str(Path(data_dir) / SHANGHAI_YEAR.format(year=y)) for y in SHANGHAI_YEARS}


def open_shanghai(data_dir: str | Path) -> tuple[dict[int, xr.DataArray], xr.DataArray, gpd.GeoDataFrame]:
    """Every Shanghai year (in memory: the box is small), the MGUP built-up mask and the districts."""
    paths = shanghai_paths(data_dir)
    for p in paths.values():
        if not Path(p).exists():
            raise InvalidRasterError(
                f"{p}: missing Shanghai VIIRS-like year; pass data_dir= pointing at the shared data folder."
            )
    mos = {y: open_mosaic(p, chunks=None) for y, p in paths.items()}
    mgup = open_mosaic(str(Path(data_dir) / SHANGHAI_MGUP), chunks=None)
    districts = gpd.read_file(Path(data_dir) / SHANGHAI_DISTRICTS)
    return mos, mgup, districts
