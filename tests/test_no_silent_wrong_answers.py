"""Issue 10: inputs that used to give a wrong answer with status ok now give a clear error or status.

Each test states the old (wrong) behaviour it guards against.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.ops
from affine import Affine

import nightlight
from nightlight.errors import BlankMosaicError, ParameterError, ProductChangeError
from nightlight.testing import georeferenced

RES = 0.01
T = Affine(RES, 0, 10.0, 0, -RES, 50.0)


def raster(v, chunks=(40, 48)):
    return georeferenced(v.astype(np.float32), transform=T, chunks=chunks)


def box_px(c0, r0, c1, r1):
    x0, y0 = T @ (c0, r0)
    x1, y1 = T @ (c1, r1)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def one_city(after_level=19.2, before_level=20.0):
    """A 30 × 30 px city at 20 → 19.2 (−4 %) on a dark background, plus a second bright city."""
    b = np.zeros((100, 120))
    a = np.zeros((100, 120))
    b[10:40, 10:40], a[10:40, 10:40] = before_level, after_level
    b[50:80, 60:90], a[50:80, 60:90] = 30.0, 30.0
    polys = gpd.GeoDataFrame(
        {"city_id": [1, 2]}, geometry=[box_px(10, 10, 40, 40), box_px(60, 50, 90, 80)], crs="EPSG:4326"
    )
    return polys, b, a


def test_nan_patch_in_one_year_is_not_darkness():
    """Old: a NaN patch over 10 % of the city in the after year turned −4 % into −13.6 %, status ok, shrinking."""
    polys, b, a = one_city()
    a[10:13, 10:40] = np.nan  # 3 of 30 rows missing in the after year only
    r = nightlight.detect_shrinking(polys, raster(b), raster(a))
    row = r.set_index("city_id").loc[1]
    assert row["change"] == pytest.approx(-0.04, abs=1e-6)  # measured on the pixels valid in both years
    assert row["status"] == "ok" and not row["shrinking"]
    assert row["valid_share"] == pytest.approx(0.9, abs=1e-6)
    assert row["valid_share_after"] == pytest.approx(0.9, abs=1e-6) and row["valid_share_before"] == 1.0
    # the light is summed over the same 810 pixels in both years
    assert row["light_before"] == pytest.approx(20.0 * 27 * 30, rel=1e-6)


@pytest.mark.slow
def test_city_mostly_missing_in_one_year_gets_its_own_status():
    polys, b, a = one_city()
    a[10:25, 10:40] = np.nan  # half the city missing
    r = nightlight.detect_shrinking(polys, raster(b), raster(a))
    row = r.set_index("city_id").loc[1]
    assert row["status"] == "partial_data" and not row["shrinking"]
    assert r.attrs["nightlight"]["status_counts"]["partial_data"] == 1
    # a lower documented minimum classifies it again
    r2 = nightlight.detect_shrinking(polys, raster(b), raster(a), min_valid_share=0.4)
    assert r2.set_index("city_id").loc[1, "status"] == "ok"


@pytest.mark.slow
def test_all_zero_after_year_is_a_blank_mosaic():
    """Old: every city 'shrank' 100 % with status ok and no warning."""
    polys, b, _ = one_city()
    with pytest.raises(BlankMosaicError, match="every valid pixel is 0"):
        nightlight.detect_shrinking(polys, raster(b), raster(np.zeros_like(b)))
    r = nightlight.detect_shrinking(polys, raster(b), raster(np.zeros_like(b)), allow_blank=True)
    assert r.attrs["nightlight"]["warnings"] and "blank" in r.attrs["nightlight"]["warnings"][0]


def test_all_nodata_after_year_is_a_blank_mosaic():
    polys, b, _ = one_city()
    with pytest.raises(BlankMosaicError, match="every pixel is nodata"):
        nightlight.detect_shrinking(polys, raster(b), raster(np.full_like(b, np.nan)))


@pytest.mark.slow
def test_nearly_all_cities_moving_together_is_a_product_change():
    """Old: a 30 % gain drop of the whole product read as 12 of 12 shrinking cities."""
    b = np.zeros((100, 130))
    boxes = []
    for k in range(12):
        r0, c0 = 5 + 30 * (k // 4), 5 + 30 * (k % 4)
        b[r0 : r0 + 20, c0 : c0 + 20] = 10.0 + k
        boxes.append(box_px(c0, r0, c0 + 20, r0 + 20))
    polys = gpd.GeoDataFrame({"city_id": range(12)}, geometry=boxes, crs="EPSG:4326")
    with pytest.raises(ProductChangeError, match="12 classified cities lost at least 10%"):
        nightlight.detect_shrinking(polys, raster(b), raster(0.7 * b))
    r = nightlight.detect_shrinking(polys, raster(b), raster(0.7 * b), allow_common_shift=True)
    meta = r.attrs["nightlight"]
    assert r["shrinking"].all() and "product" in meta["warnings"][0]
    assert meta["mosaic_change"] == pytest.approx(-0.3, abs=1e-6)


def test_whole_mosaic_totals_are_in_the_metadata():
    polys, b, a = one_city()
    meta = nightlight.detect_shrinking(polys, raster(b), raster(a)).attrs["nightlight"]
    totals = {row["mosaic"]: row for row in meta["mosaic_totals"]}
    assert len(totals) == 2
    before = next(iter(totals.values()))
    assert before["total"] == pytest.approx(20 * 900 + 30 * 900) and before["valid_pixels"] == b.size
    assert meta["mosaic_change"] == pytest.approx((19.2 * 900 - 20 * 900) / (50 * 900), rel=1e-6)


def test_whole_mosaic_change_compares_the_same_pixels():
    """Issue 19 (weak). Old: −50 % 'whole-mosaic change' when the after year misses half the mosaic, unchanged."""
    polys, b, a = one_city(after_level=20.0)
    a[:, 60:] = np.nan  # a swath gap over the second city; every valid pixel is unchanged
    r = nightlight.detect_shrinking(polys, raster(b), raster(a))
    meta = r.attrs["nightlight"]
    assert meta["mosaic_change"] == pytest.approx(0.0, abs=1e-9)
    assert meta["mosaic_common_totals"] == pytest.approx([20 * 900, 20 * 900])
    totals = [row["total"] for row in meta["mosaic_totals"]]  # each year's own totals stay recorded
    assert totals == pytest.approx([50 * 900, 20 * 900])


def test_one_year_series_is_refused_up_front():
    """Old: compared the year with itself and returned 'ok' rows."""
    polys, b, _ = one_city()
    with pytest.raises(ParameterError, match="at least two years"):
        nightlight.detect_shrinking(polys, series={2013: raster(b)})


def test_same_mosaic_twice_is_refused():
    polys, b, _ = one_city()
    da = raster(b)
    with pytest.raises(ParameterError, match="same mosaic"):
        nightlight.detect_shrinking(polys, da, da)


def test_duplicated_years_fail_before_any_zonal_work(monkeypatch):
    """Old: an unrelated shape error after all the zonal sums."""
    import nightlight.change.decline as decline

    def boom(*a, **k):
        raise AssertionError("zonal work started")

    monkeypatch.setattr(decline, "zonal_stats_many", boom)
    polys, b, a = one_city()
    with pytest.raises(ParameterError, match=r"year\(s\) \[2013\] appear more than once"):
        nightlight.detect_shrinking(polys, series=[raster(b), raster(a), raster(a)], years=[2013, 2013, 2016])


@pytest.mark.parametrize("bad", ["0.1", None, 1.5, 0, float("nan")])
def test_threshold_of_the_wrong_type_or_range_is_a_parameter_error(bad):
    """Old: '0.1' or None gave a TypeError after the zonal sums."""
    polys, b, a = one_city()
    with pytest.raises(ParameterError, match="min_decline="):
        nightlight.detect_shrinking(polys, raster(b), raster(a), min_decline=bad)


def _with_negatives():
    polys, b, a = one_city()
    b[10:20, 10:40] = -1.0  # a third of city 1 is negative noise in the base year
    return polys, b, a


@pytest.mark.slow
@pytest.mark.parametrize(
    "policy, before_sum",
    [("keep", 20.0 * 600 - 1.0 * 300), ("zero", 20.0 * 600), ("nan", 20.0 * 600)],
)
def test_negative_radiance_has_a_policy_and_is_counted(policy, before_sum):
    """Old: negative radiance was summed silently, with no count anywhere."""
    polys, b, a = _with_negatives()
    r = nightlight.detect_shrinking(polys, raster(b), raster(a), negative_radiance=policy, min_valid_share=0.5)
    row = r.set_index("city_id").loc[1]
    assert row["negative_pixels_before"] == pytest.approx(300) and row["negative_pixels_after"] == 0
    assert row["light_before"] == pytest.approx(before_sum, rel=1e-6)
    meta = r.attrs["nightlight"]
    assert meta["negative_radiance"] == policy
    assert next(iter(meta["mosaic_totals"]))["negative_pixels"] == 300
    if policy == "nan":  # dropped from both years through the common mask
        assert row["valid_share"] == pytest.approx(2 / 3, abs=1e-6)
        assert row["light_after"] == pytest.approx(19.2 * 600, rel=1e-6)


def test_unknown_negative_policy_is_a_parameter_error():
    polys, b, a = one_city()
    with pytest.raises(ParameterError, match="negative_radiance"):
        nightlight.detect_shrinking(polys, raster(b), raster(a), negative_radiance="drop")


def test_polygons_all_outside_the_mosaic_are_an_error_with_both_bounds():
    """Old: only 'outside' rows (often a wrong CRS label), exit 0."""
    from nightlight.errors import InvalidVectorError

    polys, b, a = one_city()
    # lon/lat swapped: the boxes land at 'longitude' ~49, 'latitude' ~10
    swapped = polys.set_geometry(polys.geometry.map(lambda g: shapely.ops.transform(lambda x, y: (y, x), g)))
    with pytest.raises(InvalidVectorError, match=r"none of the 2 polygons overlaps the mosaic.*CRS label"):
        nightlight.detect_shrinking(swapped, raster(b), raster(a))


def _with_units(da, units):
    da.attrs["units"] = units
    return da


def test_dn_against_radiance_is_refused_with_both_names():
    """Old: DMSP DN (0–63) against VIIRS radiance read as a 53 % decline, exit code 0."""
    from nightlight.errors import UnitsError

    polys, b, a = one_city()
    dn = _with_units(raster(np.clip(b, 0, 63)), "DN")
    dn.attrs["source"] = "dmsp_2013.tif"
    rad = _with_units(raster(a * 0.47), "nW/cm2/sr")
    rad.attrs["source"] = "viirs_2016.tif"
    with pytest.raises(UnitsError, match=r"dmsp_2013.tif: DN; viirs_2016.tif: nW/cm2/sr.*harmonize"):
        nightlight.detect_shrinking(polys, dn, rad)


@pytest.mark.slow
@pytest.mark.parametrize("units, floor", [("DN", 7.0), ("nW/cm2/sr", 0.5)])
def test_dark_floor_default_follows_the_units(units, floor):
    polys, b, a = one_city()
    b[10:40, 10:40], a[10:40, 10:40] = 3.0, 3.0  # dim: too dark as DN (< 7), classified as radiance (> 0.5)
    r = nightlight.detect_shrinking(polys, _with_units(raster(b), units), _with_units(raster(a), units))
    assert r.attrs["nightlight"]["dark_floor"] == floor and r.attrs["nightlight"]["units"] == units
    assert r.set_index("city_id").loc[1, "status"] == ("too_dark" if units == "DN" else "ok")


def test_saturated_dmsp_cities_are_flagged():
    """Old: saturated DMSP pixels (DN 63) were not reported."""
    polys, b, a = one_city()
    b[10:40, 10:40], a[10:40, 10:40] = 63.0, 63.0
    b[10:14, 10:40] = 40.0  # a dimmer fringe
    r = nightlight.detect_shrinking(polys, _with_units(raster(b), "DN"), _with_units(raster(a), "DN"))
    row = r.set_index("city_id").loc[1]
    assert row["saturated_pixels_before"] == pytest.approx(26 * 30)
    assert row["saturated_share_before"] == pytest.approx(26 / 30, abs=1e-6) and row["saturation_dominated"]
    assert not r.set_index("city_id").loc[2, "saturation_dominated"]
    assert r.attrs["nightlight"]["n_saturation_dominated"] == 1


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "bright"])
def test_lit_threshold_must_be_positive(bad):
    """Old: ≤ 0 made the whole mosaic one city; NaN gave 0 cities or a misleading 'contains no polygons'."""
    _, b, _ = one_city()
    with pytest.raises(ParameterError, match="lit_threshold="):
        nightlight.extract_natural_cities(raster(b), lit_threshold=bad)
