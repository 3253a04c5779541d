"""Pixel ground area against pyproj's geodesic polygon area; one area rule for cities and zonal sums."""

from __future__ import annotations

import warnings

import dask
import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine
from rasterio.crs import CRS

import nightlight
from nightlight.area import (
    NominalAreaWarning,
    crs_area_kind,
    geographic_row_areas_km2,
    pixel_areas_km2,
    resolve_area,
)
from nightlight.change.zonal import zonal_stats
from nightlight.cities import extract_natural_cities
from nightlight.errors import UnsupportedCRSError
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


# ------------------------------------------------------------------ one area rule for cities and zonal sums
#: (CRS, pixel size in CRS units, origin): a lit 6 × 6 block is a city on every one
CRS_CASES = {
    "EPSG:4326": (1 / 120, (116.0, 40.0)),
    "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m": (1000.0, (1e6, 4.5e6)),
    "EPSG:6933": (1000.0, (1e6, 4.5e6)),  # EASE-Grid 2.0, cylindrical equal-area
    "EPSG:32650": (1000.0, (4e5, 4.5e6)),  # UTM 50N: distorts area
    "EPSG:3857": (1000.0, (1.29e7, 4.9e6)),  # Web Mercator: distorts area a lot
}
DISTORTING = {"EPSG:32650", "EPSG:3857"}


def _scene(crs: str, factor: float = 1.0):
    res, (x0, y0) = CRS_CASES[crs]
    grid = Grid(CRS.from_user_input(crs), Affine(res, 0, x0, 0, -res, y0), (20, 24))
    v = np.zeros(grid.shape, np.float32)
    v[3:9, 4:10] = 10.0 * factor
    v[12:17, 14:22] = 5.0 * factor
    return grid.wrap(v, name="light").chunk({"y": 7, "x": 9})


def _call_both(crs: str, **kw):
    """(cities, zonal stats on the cities' own polygons) for one mosaic and one area rule."""
    da = _scene(crs)
    cities = extract_natural_cities(da, lit_threshold=1, min_area_km2=1e-6, **kw)
    return cities, zonal_stats(cities[["city_id", "geometry"]], da, floor=0.5, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("crs", list(CRS_CASES))
def test_cities_and_zonal_sums_accept_and_refuse_the_same_crss(crs):
    if crs in DISTORTING:
        for call in (
            lambda: extract_natural_cities(_scene(crs), lit_threshold=1),
            lambda: zonal_stats(
                gpd.GeoDataFrame(geometry=[shapely.box(*Grid.of(_scene(crs)).bounds)], crs=crs), _scene(crs)
            ),
        ):
            with pytest.raises(UnsupportedCRSError, match=r"area='pyproj'.*area='nominal'.*reproject") as err:
                call()
            assert pyproj.CRS(crs).name in str(err.value)
    else:
        cities, zs = _call_both(crs)
        assert len(cities) == 2 and (zs["area_km2"] > 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("crs", list(CRS_CASES))
def test_detect_shrinking_accepts_and_refuses_like_extract_natural_cities(crs):
    before, after = _scene(crs), _scene(crs, factor=0.5)
    polys = gpd.GeoDataFrame({"city_id": [1]}, geometry=[shapely.box(*Grid.of(before).bounds)], crs=crs)
    try:
        extract_natural_cities(before, lit_threshold=1)
        cities_ok = True
    except UnsupportedCRSError:
        cities_ok = False
    try:
        out = nightlight.detect_shrinking(polys, before, after, patterns=False)
        shrinking_ok = True
    except UnsupportedCRSError:
        shrinking_ok = False
    assert cities_ok == shrinking_ok == (crs not in DISTORTING)
    if shrinking_ok:
        assert bool(out["shrinking"][0])


@pytest.mark.slow
@pytest.mark.parametrize(
    "crs, area",
    [
        (crs, area)
        for crs in CRS_CASES
        for area in ("exact", "auto", "pyproj", "nominal")
        if not (crs in DISTORTING and area in ("exact", "auto"))  # refused: the test above
    ],
)
def test_city_areas_equal_zonal_areas_of_their_polygons(crs, area):
    # synchronous: dask's worker threads enter `catch_warnings` too, which is not thread-safe and loses records
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cities, zs = _call_both(crs, area=area)
    nominal_warnings = [w for w in seen if issubclass(w.category, NominalAreaWarning)]
    assert len(nominal_warnings) == (2 if (crs in DISTORTING and area == "nominal") else 0)  # once per call
    # pixel-aligned polygons: exact coverage weights are 1 inside, so both sum the same pixel areas
    np.testing.assert_allclose(zs["area_km2"], cities["area_km2"], rtol=1e-9)
    np.testing.assert_allclose(zs["lit_area_km2"], cities["area_km2"], rtol=1e-9)
    np.testing.assert_allclose(zs["pixels"], cities["n_pixels"], rtol=1e-9)


def test_zonal_pyproj_areas_match_the_geodesic_area_of_the_polygon():
    da = _scene("EPSG:32650")
    g = Grid.of(da)
    box = shapely.box(*g.window_bounds((3, 15, 2, 20)))
    got = zonal_stats(gpd.GeoDataFrame(geometry=[box], crs="EPSG:32650"), da, area="pyproj")["area_km2"][0]
    dense = shapely.segmentize(box, 50.0)
    lonlat = gpd.GeoSeries([dense], crs="EPSG:32650").to_crs(4326)[0]
    ref = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(lonlat)[0]) / 1e6
    assert got == pytest.approx(ref, rel=1e-6)
    assert got == pytest.approx(pixel_areas_km2(g, 3, 15, 2, 20, area="pyproj").sum(), rel=1e-12)
    assert abs(got / (12 * 18) - 1) > 1e-4  # 100 km west of the zone's meridian UTM shrinks areas ~0.06 %


def test_resolve_area_modes_and_messages():
    utm = Grid(CRS.from_epsg(32650), Affine(1000.0, 0, 4e5, 0, -1000.0, 4.5e6), (4, 4))
    geo = Grid(CRS.from_epsg(4326), Affine(0.01, 0, 116, 0, -0.01, 40), (4, 4))
    assert resolve_area(geo, "exact") == resolve_area(geo, "auto") == "exact"
    assert resolve_area(geo, "nominal") == "nominal"  # geographic: exact areas anyway, no warning
    assert resolve_area(utm, "pyproj") == "pyproj"
    with pytest.raises(UnsupportedCRSError, match="mosaic.tif: CRS 'WGS 84 / UTM zone 50N'.*1 km²"):
        resolve_area(utm, "exact", name="mosaic.tif")
    with pytest.warns(NominalAreaWarning, match="nominal pixel size"):
        assert resolve_area(utm, "nominal") == "nominal"
    np.testing.assert_array_equal(pixel_areas_km2(utm, 0, 4, 0, 4, area="nominal"), np.ones((4, 1)))
    np.testing.assert_array_equal(pixel_areas_km2(geo, 0, 4, 0, 4, area="nominal"), pixel_areas_km2(geo, 0, 4, 0, 4))
    with pytest.raises(ValueError, match="area='bogus'"):
        resolve_area(geo, "bogus")


@pytest.mark.slow
@pytest.mark.parametrize("area", ["pyproj", "nominal"])
def test_detect_shrinking_area_option_matches_extract_natural_cities(area):
    before, after = _scene("EPSG:32650"), _scene("EPSG:32650", factor=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NominalAreaWarning)
        cities = extract_natural_cities(before, lit_threshold=1, min_area_km2=1e-6, area=area)
        out = nightlight.detect_shrinking(cities[["city_id", "geometry"]], before, after, area=area, patterns=False)
    np.testing.assert_allclose(out["area_km2"], cities["area_km2"], rtol=1e-9)
