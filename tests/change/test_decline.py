"""detect_shrinking: synthetic cities with known answers, bad input, real data."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

import nightlight
from nightlight.errors import GridMismatchError, InvalidVectorError, MissingCRSError
from nightlight.testing import assert_chunk_invariant, chunkings
from tests.helpers.four_cities import CITIES, RES, H, T, W, box_px, raster, scene


@pytest.mark.slow
def test_known_changes_and_classification():
    polys, b, a = scene()
    r = nightlight.detect_shrinking(polys, b, a)
    r = r.set_index("city_id")
    for cid, (_, lb, la) in CITIES.items():
        assert r.loc[cid, "light_before"] == pytest.approx(lb * 900, rel=1e-6)
        assert r.loc[cid, "light_after"] == pytest.approx(la * 900, rel=1e-6)
        assert r.loc[cid, "change"] == pytest.approx((la - lb) / lb, rel=1e-6)
    assert r.loc["shrinks20", "shrinking"] and not r.loc["grows", "shrinking"] and not r.loc["edge9", "shrinking"]
    assert r.loc["dark", "status"] == "too_dark" and not r.loc["dark", "shrinking"]
    assert (r.loc[["shrinks20", "grows", "edge9"], "status"] == "ok").all()
    assert r.loc["shrinks20", "shrink_pattern"] == "complete"
    assert pd.isna(r.loc["grows", "shrink_pattern"])
    # lit area on a geographic grid: the WGS84 ellipsoidal area of the 0.3° box at
    # ~49.7°N, from pyproj's geodesic polygon area (parallels densified)
    x0, y0, x1, y1 = box_px(*CITIES["shrinks20"][0]).bounds
    lons = np.linspace(x0, x1, 200)
    ring_lon = np.concatenate([lons, lons[::-1]])
    ring_lat = np.concatenate([np.full(200, y0), np.full(200, y1)])
    geodesic_km2 = abs(pyproj.Geod(ellps="WGS84").polygon_area_perimeter(ring_lon, ring_lat)[0]) / 1e6
    assert r.loc["shrinks20", "lit_area_before_km2"] == pytest.approx(geodesic_km2, rel=1e-5)
    assert r.loc["shrinks20", "max_before"] == 20.0
    meta = r.attrs["nightlight"]
    assert meta["min_decline"] == 0.10 and meta["n_shrinking"] == 1 and meta["grid"]["shape"] == [H, W]
    # a threshold of 0.25 spares the −20 % city
    assert not nightlight.detect_shrinking(polys, b, a, min_decline=0.25)["shrinking"].any()


# Each example runs detect_shrinking twice on 120 × 150 px (~0.4 s): 10 examples keep it
# to a few seconds; the zonal sums underneath get 60 in test_zonal_properties.
@pytest.mark.slow
@settings(max_examples=10)
@given(st.data())
def test_detect_shrinking_does_not_depend_on_chunks(data):
    polys, b, a = scene()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    noise = rng.lognormal(0, 0.5, (2, H, W))  # non-uniform cities: block sums are real float sums
    b, a = raster(b.values + noise[0], chunks=None), raster(a.values + noise[1], chunks=None)
    ch = data.draw(chunkings((H, W), max_blocks=8), label="chunks")
    # the after mosaic chunked alike or differently (it is then rechunked onto the before one)
    other = data.draw(st.one_of(st.just(ch), chunkings((H, W), max_blocks=8)), label="after chunks")

    def detect(b, a):
        return nightlight.detect_shrinking(polys, b, a if a.chunks is None else a.chunk(dict(zip(a.dims, other))))

    assert_chunk_invariant(detect, (b, a), [ch], rtol=1e-9)


@pytest.mark.slow
def test_polygons_in_another_crs_are_reprojected_and_ids_kept():
    polys, b, a = scene()
    direct = nightlight.detect_shrinking(polys, b, a)
    merc = nightlight.detect_shrinking(polys.to_crs("EPSG:3857"), b, a)
    assert list(merc["city_id"]) == list(CITIES)
    # boxes are not exactly boxes after a round trip through Web Mercator: tiny edge effect
    np.testing.assert_allclose(merc["light_before"], direct["light_before"], rtol=1e-3)
    assert merc.crs.to_epsg() == 4326


@pytest.mark.slow
def test_vector_file_path_input(tmp_path):
    polys, b, a = scene()
    path = tmp_path / "cities.gpkg"
    polys.to_file(path)
    r = nightlight.detect_shrinking(path, b, a)
    assert list(r["city_id"]) == list(CITIES) and r["shrinking"].sum() == 1


@pytest.mark.slow
def test_outside_and_empty_polygons_flagged_not_crash():
    polys, b, a = scene()
    extra = gpd.GeoDataFrame(
        {"city_id": ["far", "empty"]}, geometry=[shapely.box(100, 0, 101, 1), shapely.Polygon()], crs="EPSG:4326"
    )
    with pytest.warns(UserWarning, match="empty"):
        r = nightlight.detect_shrinking(pd.concat([polys, extra], ignore_index=True), b, a).set_index("city_id")
    assert r.loc["far", "status"] == "outside" and np.isnan(r.loc["far", "change"]) and not r.loc["far", "shrinking"]
    assert r.loc["empty", "status"] == "empty_geometry" and np.isnan(r.loc["empty", "light_before"])
    assert r.loc["shrinks20", "shrinking"]


@pytest.mark.slow
def test_a_polygon_mostly_outside_the_raster_is_partial_data():
    """Issue 19 case 9. Old: a city 80 % outside the grid got status ok, its change measured on the sliver inside."""
    polys, b, a = scene()
    b, a = b.values, a.values
    b[50:80, 130:150], a[50:80, 130:150] = 20.0, 10.0  # the 20 % inside halves its light
    b[90:110, 120:150], a[90:110, 120:150] = 20.0, 10.0  # wholly inside, for comparison
    extra = gpd.GeoDataFrame(
        {"city_id": ["sliver", "inside", "half"]},
        geometry=[box_px(130, 50, 230, 80), box_px(120, 90, 150, 110), box_px(130, 50, 170, 80)],
        crs="EPSG:4326",
    )
    r = nightlight.detect_shrinking(pd.concat([polys, extra], ignore_index=True), raster(b), raster(a))
    r = r.set_index("city_id")
    assert r.loc["sliver", "inside_share"] == pytest.approx(0.2, rel=1e-6)
    assert r.loc["sliver", "status"] == "partial_data" and not r.loc["sliver", "shrinking"]
    assert r.loc["sliver", "change"] == pytest.approx(-0.5)  # measured and reported, but not classified
    assert r.loc["half", "status"] == "partial_data"  # inside_share 0.5 < 0.8
    assert r.loc["inside", "status"] == "ok" and r.loc["inside", "shrinking"]
    r = nightlight.detect_shrinking(extra, raster(b), raster(a), min_valid_share=0.2)
    assert r.set_index("city_id").loc["sliver", "status"] == "ok"  # the share is the caller's to lower


@pytest.mark.slow
@pytest.mark.realdata
def test_census_prefectures_mostly_outside_the_shanghai_raster_are_partial_data(shared_file):
    """Issue 19 case 9 on real data: Jiaxing (18 % inside) and Suzhou (26 %) were 'ok' with dark_floor=1e-6."""
    from nightlight.io.vector import read_polygons

    d = "shanghai-viirs-like"
    b = shared_file(d, "annual", "NTL_Shanghai_2000_2020_2013.tif")
    a = shared_file(d, "annual", "NTL_Shanghai_2000_2020_2016.tif")
    census = shared_file("china-census-2010-2020", "census_city_2010-2020_v1.csv")
    polys = read_polygons(census, crs="EPSG:4326", id_column="city_code")
    polys = polys[polys.intersects(shapely.box(120.8, 30.6, 122.2, 31.9))]
    r = nightlight.detect_shrinking(polys, b, a, dark_floor=1e-6).set_index("city")
    for name in ("嘉兴市", "苏州市"):
        assert r.loc[name, "inside_share"] < 0.3 and r.loc[name, "status"] == "partial_data", r.loc[name]
    assert r.loc["上海市", "inside_share"] > 0.95 and r.loc["上海市", "status"] == "ok"


def test_a_polygon_across_the_antimeridian_is_split_not_read_as_a_band():
    """Issue 19 (weak). Old: 179.5° → −179.5° read as a 359°-wide band, summing the raster's west half instead."""
    v = np.ones((100, 100))
    v[:, 50:] = 10.0  # 179.0–180.0°E: west half 1, east half (179.5–180) 10
    t = Affine(0.01, 0, 179.0, 0, -0.01, 1.0)
    after = v.copy()
    after[:, 50:] = 5.0
    poly = shapely.Polygon([(179.5, 0), (-179.5, 0), (-179.5, 1), (179.5, 1)])  # 1° wide, half beyond 180°
    polys = gpd.GeoDataFrame({"city_id": [7]}, geometry=[poly], crs="EPSG:4326")
    with pytest.warns(UserWarning, match=r"1 polygon\(s\) cross the antimeridian \(city_id 7\); split"):
        r = nightlight.detect_shrinking(
            polys, raster(v, transform=t), raster(after, transform=t), min_valid_share=0.4, patterns=False
        )
    row = r.iloc[0]
    assert row["light_before"] == pytest.approx(v[:, 50:].sum()) and row["change"] == pytest.approx(-0.5)
    assert row["inside_share"] == pytest.approx(0.5) and row["status"] == "ok" and row["shrinking"]
    world = gpd.GeoDataFrame({"city_id": [1]}, geometry=[shapely.box(-180, -90, 180, 90)], crs="EPSG:4326")
    from nightlight.io.vector import read_polygons

    assert read_polygons(world).geometry.iloc[0].equals(world.geometry.iloc[0])  # edges on ±180°: not a crossing


def test_invalid_geometry_repaired_with_warning_naming_id():
    polys, b, a = scene()
    x0, y0, x1, y1 = box_px(10, 10, 40, 40).bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    bad = gpd.GeoDataFrame({"city_id": ["bowtie"]}, geometry=[bowtie], crs="EPSG:4326")
    with pytest.warns(UserWarning, match="bowtie"):
        r = nightlight.detect_shrinking(bad, b, a)
    # make_valid turns the bow-tie into two triangles covering half the box
    assert r["light_before"][0] == pytest.approx(20.0 * 450, rel=1e-6)


def test_missing_crs_empty_set_and_bad_threshold():
    polys, b, a = scene()
    with pytest.raises(MissingCRSError, match="set_crs"):
        nightlight.detect_shrinking(polys.set_crs(None, allow_override=True), b, a)
    with pytest.raises(InvalidVectorError, match="no polygons"):
        nightlight.detect_shrinking(polys.iloc[:0], b, a)
    with pytest.raises(InvalidVectorError, match="every geometry is empty"):
        nightlight.detect_shrinking(gpd.GeoDataFrame(geometry=[shapely.Polygon()], crs="EPSG:4326"), b, a)
    for thr in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="min_decline"):
            nightlight.detect_shrinking(polys, b, a, min_decline=thr)
    with pytest.raises(InvalidVectorError, match="not polygons"):
        nightlight.detect_shrinking(gpd.GeoDataFrame(geometry=[shapely.Point(10.2, 49.8)], crs="EPSG:4326"), b, a)


def test_grids_differ_error_names_both_and_the_fix():
    polys, b, _ = scene()
    shifted = raster(np.zeros((H, W)), transform=Affine(RES, 0, 10.0 + 0.3 * RES, 0, -RES, 50.0))
    shifted.attrs["source"] = "after_2016.tif"
    b.attrs["source"] = "before_2013.tif"
    with pytest.raises(GridMismatchError) as err:
        nightlight.detect_shrinking(polys, b, shifted)
    msg = str(err.value)
    assert "before_2013.tif" in msg and "after_2016.tif" in msg and "align_to" in msg and "0.300" in msg


@pytest.mark.slow
def test_series_trend_and_significant_decline():
    polys, b, _ = scene()
    years = list(range(2013, 2019))
    series = {}
    for k, yr in enumerate(years):
        v = np.zeros((H, W))
        for cid, ((c0, r0, c1, r1), _lb, _la) in CITIES.items():
            # shrinks20 falls steadily, grows rises, edge9 wobbles, dark stays dark
            level = {"shrinks20": 20 - 1.0 * k, "grows": 20 + k, "edge9": 30 + (-1) ** k, "dark": 0.2}[cid]
            v[r0:r1, c0:c1] = level
        series[yr] = raster(v)
    r = nightlight.detect_shrinking(polys, series=series).set_index("city_id")
    assert [c for c in r.columns if c.startswith("light_2")] == [f"light_{y}" for y in years]
    assert r.loc["shrinks20", "change"] == pytest.approx(-0.25, rel=1e-6)
    assert r.loc["shrinks20", "trend_slope"] == pytest.approx(-900.0, rel=1e-6)
    assert r.loc["shrinks20", "mk_p"] < 0.05 and r.loc["shrinks20", "significant_decline"]
    assert not r.loc["grows", "significant_decline"] and r.loc["grows", "trend_slope"] > 0
    # the same as a dict passed positionally
    r2 = nightlight.detect_shrinking(polys, series).set_index("city_id")
    assert r2.loc["shrinks20", "significant_decline"]


def test_preprocess_hook_calls_apply_steps(monkeypatch):
    calls = []

    def apply_steps(da, steps):
        calls.append(tuple(steps))
        return da * 2, {"steps": list(steps)}

    import nightlight.preprocess.inputs as inputs_module

    monkeypatch.setattr(inputs_module, "apply_steps", apply_steps)
    polys, b, a = scene()
    r = nightlight.detect_shrinking(polys, b, a, preprocess=["denoise"])
    assert calls == [("denoise",), ("denoise",)]
    assert r["light_before"][0] == pytest.approx(2 * 20 * 900, rel=1e-6)
    assert r.attrs["nightlight"]["preprocess"] == [{"steps": ["denoise"]}, {"steps": ["denoise"]}]


# ---------------------------------------------------------------- real data
@pytest.mark.slow
@pytest.mark.realdata
def test_shanghai_districts_2013_2016(shared_file):
    """Shanghai's 16 districts on the NPP-VIIRS-like data (Chen et al. 2021, ESSD 13:889)."""
    d = "shanghai-viirs-like"
    shp = shared_file(d, "boundaries", "shanghai_districts_boundary.shp")
    b = shared_file(d, "annual", "NTL_Shanghai_2000_2020_2013.tif")
    a = shared_file(d, "annual", "NTL_Shanghai_2000_2020_2016.tif")
    r = nightlight.detect_shrinking(shp, b, a)
    assert len(r) == 16 and (r["status"] == "ok").all()
    assert r["city_id"].tolist()[:2] == [310101, 310104]  # AdCode kept as the id
    # independent check with exactextract (if installed): same fractional-coverage sums
    exactextract = pytest.importorskip("exactextract")
    polys = gpd.read_file(shp)
    ee = exactextract.exact_extract(str(b), polys, ["sum"], output="pandas")["sum"].to_numpy()
    np.testing.assert_allclose(r["light_before"].to_numpy(), ee, rtol=1e-4)
    # central districts dimmed 2013 → 2016 (Xuhui, Changning, Hongkou, Yangpu below −10 %)
    names = set(r.loc[r["shrinking"], "Name"])
    assert {"徐汇区", "长宁区"} <= names
    assert r.set_index("Name").loc["崇明区", "change"] > 0


@pytest.mark.realdata
def test_saotome_totals_match_rnightlights(shared_file):
    """Rnightlights' district table (GADM 2.8 admin-2) vs our sums on the same rasters.

    The district polygons are not in the folder, so per-district sums cannot be
    reproduced; the rasters are already masked to the country, so one polygon
    around the whole raster must give the table's national total. Rnightlights
    drops negative VIIRS radiance (NA, not 0): its pixel counts Σ(sum/mean) = 3696
    are the non-negative pixels, and its total equals our sum with negatives masked.
    """

    d = ("fixtures", "saotome")
    table = pd.read_csv(shared_file(*d, "NL_DATA_STP_ADM2_GADM-2.8-SHPZIP.csv"))
    viirs = nightlight.open_mosaic(shared_file(*d, "NL_STP_VIIRS.M_201401_VCMCFG_GADM-2.8-SHPZIP.tif"), chunks=None)
    dmsp = nightlight.open_mosaic(shared_file(*d, "NL_STP_OLS.Y_1992_STABLE_LIGHTS_GADM-2.8-SHPZIP.tif"), chunks=None)
    from nightlight.change.zonal import zonal_stats

    def whole(da):
        return gpd.GeoDataFrame(geometry=[shapely.box(*nightlight.Grid.of(da).bounds)], crs=da.rio.crs)

    s_dmsp = zonal_stats(whole(dmsp), dmsp)["sum"][0]
    assert s_dmsp == pytest.approx(table["NL_OLS.Y_STABLE_LIGHTS_1992_SUM"].sum(), abs=1e-6)  # 590 DN
    s_raw = zonal_stats(whole(viirs), viirs)
    s_nonneg = zonal_stats(whole(viirs), viirs.where(viirs >= 0))
    ref = table["NL_VIIRS.M_VCMCFG_201401_SUM"].sum()  # 1105.12 nW/cm²/sr·px
    assert s_nonneg["sum"][0] == pytest.approx(ref, rel=1e-6)
    n_ref = (table["NL_VIIRS.M_VCMCFG_201401_SUM"] / table["NL_VIIRS.M_VCMCFG_201401_MEAN"]).sum()
    assert s_nonneg["pixels"][0] * s_nonneg["valid_share"][0] == pytest.approx(n_ref, abs=1e-6)
    assert s_raw["sum"][0] == pytest.approx(ref - 30.70, abs=0.01)  # the 985 negative pixels sum to −30.70


@pytest.mark.slow
def test_most_polygons_too_dark_under_the_default_floor_says_what_to_pass():
    """Old: 297 of 369 census prefectures silently too_dark; only a README comment said dark_floor=1e-6."""
    b = np.full((H, W), 0.05)
    a = np.full((H, W), 0.04)
    boxes = [box_px(c, r, c + 10, r + 10) for c in range(0, 120, 12) for r in range(0, 90, 30)]
    polys = gpd.GeoDataFrame({"city_id": range(len(boxes))}, geometry=boxes, crs="EPSG:4326")
    with pytest.warns(UserWarning, match=r"too_dark .*dark_floor=1e-6"):
        r = nightlight.detect_shrinking(polys, raster(b), raster(a), patterns=False, allow_common_shift=True)
    assert (r["status"] == "too_dark").all() and any("too_dark" in w for w in r.attrs["nightlight"]["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a floor the caller chose is not second-guessed
        r = nightlight.detect_shrinking(
            polys, raster(b), raster(a), dark_floor=1e-6, patterns=False, allow_common_shift=True
        )
    assert (r["status"] == "ok").all()


@pytest.mark.slow
def test_declared_nodata_zero_covering_most_of_an_integer_mosaic_is_warned(tmp_path):
    from nightlight.testing.builders import write_geotiff

    v = np.zeros((H, W), np.uint8)
    v[10:40, 10:40] = 20
    paths = []
    for name, level in (("b.tif", 20), ("a.tif", 15)):
        v[10:40, 10:40] = level
        paths.append(write_geotiff(tmp_path / name, v, transform=T, nodata=0))
    polys = gpd.GeoDataFrame({"city_id": [1]}, geometry=[box_px(10, 10, 40, 40)], crs="EPSG:4326")
    with pytest.warns(UserWarning, match=r"declares 0 as nodata, and 0 covers 9\d% .*nodata=None"):
        nightlight.detect_shrinking(polys, str(paths[0]), str(paths[1]), patterns=False)
