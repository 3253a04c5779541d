"""A noisy 100 m mosaic on an equal-area grid and polygons that overlap, nest, have holes and cross chunks.

Used by ``tests/change/test_zonal.py`` and ``tests/test_xarray_way_in.py``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from nightlight.testing import georeferenced

RES = 100.0  # m
CRS_M = CRS.from_epsg(6933)  # equal-area (EASE-Grid 2.0): 100 m pixels are exactly 0.01 km² (nightlight.area)
T = Affine(RES, 0, 500_000.0, 0, -RES, 5_000_000.0)


def mosaic(h=300, w=340, seed=0, nan_share=0.02, chunks=None) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    v = rng.lognormal(1.0, 1.0, (h, w)).astype(np.float32)
    v[rng.random((h, w)) < nan_share] = np.nan
    return georeferenced(v, crs=CRS_M, transform=T, chunks=chunks or None, name="m")


def px(col, row):
    return T @ (col, row)


def disk(col, row, r_px, n=64):
    x, y = px(col, row)
    return shapely.Point(x, y).buffer(r_px * RES, quad_segs=n)


def big_polys():
    a = disk(60, 60, 40)
    b = disk(90, 80, 35)  # overlaps a
    c = disk(60, 60, 20)  # nested inside a
    m = shapely.MultiPolygon([disk(200, 60, 25), disk(260, 150, 22)])  # multi-part
    cross = shapely.box(*px(100, 250), *px(300, 170))  # crosses chunk borders
    ring = disk(180, 220, 45).difference(disk(180, 220, 20))  # hole
    return gpd.GeoDataFrame({"city_id": list("abcmxr")}, geometry=[a, b, c, m, cross, ring], crs=CRS_M)
