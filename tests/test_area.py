"""Pixel ground area against pyproj's geodesic polygon area (an independent reference)."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from affine import Affine
from rasterio.crs import CRS

from nightlight.area import crs_area_kind, geographic_row_areas_km2, pixel_areas_km2
from nightlight.grid import Grid


@pytest.mark.parametrize("lat_top", [75.0, 45.0, 0.25, -30.0, -64.9])
@pytest.mark.parametrize("res", [1 / 240, 1 / 120])
def test_geographic_row_area_equals_geodesic_polygon(lat_top, res):
    grid = Grid(CRS.from_epsg(4326), Affine(res, 0, 20.0, 0, -res, lat_top), (3, 5))
    ours = geographic_row_areas_km2(grid)
    geod = pyproj.Geod(ellps="WGS84")
    for r in range(3):
        top, bottom = lat_top - r * res, lat_top - (r + 1) * res
        # Densify the parallels so the geodesic polygon follows them (edges are not geodesics).
        lons = np.linspace(20.0, 20.0 + res, 50)
        ring_lon = np.concatenate([lons, lons[::-1]])
        ring_lat = np.concatenate([np.full(50, bottom), np.full(50, top)])
        ref, _ = geod.polygon_area_perimeter(ring_lon, ring_lat)
        assert ours[r] == pytest.approx(abs(ref) / 1e6, rel=1e-6)


def test_15_arcsec_pixel_at_equator_is_about_0_21_km2():
    grid = Grid(CRS.from_epsg(4326), Affine(1 / 240, 0, 0, 0, -1 / 240, 1 / 480), (1, 1))
    assert geographic_row_areas_km2(grid)[0] == pytest.approx(0.2138, rel=1e-3)


def test_kinds():
    assert crs_area_kind("EPSG:4326") == "geographic"
    assert crs_area_kind("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84") == "equal_area"
    assert crs_area_kind("ESRI:54009") == "equal_area"  # Mollweide
    assert crs_area_kind("EPSG:6933") == "equal_area"  # EASE-Grid 2.0 (cylindrical equal-area)
    assert crs_area_kind("EPSG:3857") == "other"


def test_pyproj_mode_on_web_mercator_matches_geodesic_area():
    t = Affine(1000, 0, 1e6, 0, -1000, 5e6)
    grid = Grid(CRS.from_epsg(3857), t, (4, 4))
    areas = pixel_areas_km2(grid, 0, 4, 0, 4, area="pyproj")
    tr = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
    x0, y0 = t @ (1, 2)
    x1, y1 = t @ (2, 3)
    xs = np.concatenate([np.linspace(x0, x1, 20), np.full(20, x1), np.linspace(x1, x0, 20), np.full(20, x0)])
    ys = np.concatenate([np.full(20, y0), np.linspace(y0, y1, 20), np.full(20, y1), np.linspace(y1, y0, 20)])
    lon, lat = tr.transform(xs, ys)
    ref, _ = pyproj.Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)
    assert areas[2, 1] == pytest.approx(abs(ref) / 1e6, rel=1e-3)
