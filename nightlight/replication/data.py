"""Opening the real vector files in ``../shared/data`` (provinces, places) and the Shanghai box."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import xarray as xr

from nightlight._resources import catalog_path
from nightlight.errors import InvalidVectorError
from nightlight.io.raster import open_mosaic
from nightlight.replication.params import (
    CHINA_LONLAT,
    PROVINCES,
    SHANGHAI_DISTRICTS,
    SHANGHAI_MGUP,
    SHANGHAI_PRODUCT,
    SHANGHAI_YEARS,
    WINDOWS,
    Box,
)


def resolve_window(window: Box | str | None) -> Box | None:
    """A lon/lat box from a name in :data:`WINDOWS`, a box, or ``None``."""
    return WINDOWS[window] if isinstance(window, str) else window


# --------------------------------------------------------------------------- places and provinces
def read_places() -> pd.DataFrame:
    """The Northeast resource cities (``catalog/places/northeast_resource_cities.csv``)."""
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
def open_shanghai(data_dir: str | Path) -> tuple[dict[int, xr.DataArray], xr.DataArray, gpd.GeoDataFrame]:
    """Every Shanghai year (in memory: the box is small), the MGUP built-up mask and the districts.

    The years come from the catalog; the mask and the districts (not catalog products) from ``data_dir``.
    """
    mos = {y: open_mosaic(f"{SHANGHAI_PRODUCT}:{y}", chunks=None) for y in SHANGHAI_YEARS}
    mgup = open_mosaic(str(Path(data_dir) / SHANGHAI_MGUP), chunks=None)
    districts = gpd.read_file(Path(data_dir) / SHANGHAI_DISTRICTS)
    return mos, mgup, districts
