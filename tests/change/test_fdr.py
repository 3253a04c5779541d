"""Benjamini–Hochberg q-values: against scipy, a hand-computed case, and in detect_shrinking."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.stats
import shapely
import xarray as xr
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st

import nightlight
from nightlight.change.trend import benjamini_hochberg, trend_test

p_values = st.lists(
    st.one_of(st.floats(0, 1), st.just(float("nan")), st.sampled_from([0.0, 0.01, 0.05, 1.0])), max_size=60
)


@given(p_values)
def test_matches_scipy_on_the_finite_values(ps):
    p = np.array(ps, dtype=float)
    q = benjamini_hochberg(p)
    finite = ~np.isnan(p)
    assert np.array_equal(np.isnan(q), ~finite)  # NaN in, NaN out, nothing else NaN
    if finite.any():
        ref = scipy.stats.false_discovery_control(p[finite], method="bh")
        np.testing.assert_allclose(q[finite], ref, rtol=1e-12, atol=0)
        assert np.all(q[finite] >= p[finite]) and np.all(q[finite] <= 1)


def test_hand_computed_step_up_case():
    # finite p sorted: 0.02, 0.03, 0.035, 0.5 (m = 4, the NaNs are not tests)
    # m·p/rank: 0.08, 0.06, 0.04667, 0.5 → running minimum from the top: 0.04667, 0.04667, 0.04667, 0.5
    p = np.array([0.02, np.nan, 0.03, 0.035, np.nan, 0.5])
    q = benjamini_hochberg(p)
    np.testing.assert_allclose(q, [0.14 / 3, np.nan, 0.14 / 3, 0.14 / 3, np.nan, 0.5], rtol=1e-14)
    # counting the NaNs in m (m = 6) would give 0.07 for all three small ones: they are not counted
    assert np.all(q[[0, 2, 3]] < 0.05)


def test_nan_is_not_counted_in_m_and_shapes_are_kept():
    assert benjamini_hochberg([0.01, np.nan])[0] == pytest.approx(0.01)
    assert np.isnan(benjamini_hochberg([np.nan, np.nan])).all()
    assert benjamini_hochberg([]).shape == (0,)
    grid = np.array([[0.01, 0.04], [np.nan, 0.03]])
    q = benjamini_hochberg(grid)
    assert q.shape == (2, 2)
    np.testing.assert_allclose(q[~np.isnan(grid)], scipy.stats.false_discovery_control([0.01, 0.04, 0.03]))
    assert benjamini_hochberg([1.0, 1.0]).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("bad", [[0.2, -0.1], [1.5], [np.inf]])
def test_out_of_range_p_is_an_error(bad):
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        benjamini_hochberg(bad)


# ---------------------------------------------------------------------------- in detect_shrinking
RES = 0.01
T = Affine(RES, 0, 10.0, 0, -RES, 50.0)
YEARS = list(range(2013, 2019))
SERIES = {  # city: its level in each of 6 years (uniform over the city)
    "steady_fall": [20, 19, 18, 17, 16, 15],  # S = 15: p = 0.0085
    "fall_with_blip": [20, 19, 19.5, 18, 17, 15],  # S = 13: p = 0.024
    "flat_a": [20, 21, 20, 21, 20, 21],
    "flat_b": [21, 20, 21, 20, 21, 20],
    "flat_c": [20, 20.5, 20, 20.5, 20, 20.5],
}


def _scene():
    h, w = 20, 12 * len(SERIES)
    x = T.c + (np.arange(w) + 0.5) * RES
    y = T.f - (np.arange(h) + 0.5) * RES
    mosaics = {}
    for k, yr in enumerate(YEARS):
        v = np.zeros((h, w), np.float32)
        for i, levels in enumerate(SERIES.values()):
            v[5:15, 12 * i + 1 : 12 * i + 11] = levels[k]
        da = xr.DataArray(v, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:4326")
        mosaics[yr] = da.rio.write_transform(T).chunk({"y": 16, "x": 40})
    boxes = []
    for i in range(len(SERIES)):
        x0, y0 = T @ (12 * i + 1, 5)
        x1, y1 = T @ (12 * i + 11, 15)
        boxes.append(shapely.box(x0, y1, x1, y0))
    polys = gpd.GeoDataFrame({"city_id": list(SERIES)}, geometry=boxes, crs="EPSG:4326")
    return polys, mosaics


@pytest.mark.slow
def test_detect_shrinking_adds_q_and_fdr_decision():
    polys, mosaics = _scene()
    r = nightlight.detect_shrinking(polys, series=mosaics, allow_common_shift=True).set_index("city_id")
    ref_p = trend_test(np.array(list(SERIES.values()), dtype=float), YEARS)["mk_p"].to_numpy()
    np.testing.assert_allclose(r["mk_p"].to_numpy(), ref_p, rtol=1e-9)
    np.testing.assert_allclose(r["mk_q"].to_numpy(), scipy.stats.false_discovery_control(ref_p), rtol=1e-9)
    # both falling cities pass the per-city test; with 5 tests only the steady one survives FDR:
    # q(blip) = 5 · 0.024 / 2 = 0.061 ≥ 0.05, q(steady) = 5 · 0.0085 = 0.043 < 0.05
    assert r.loc["steady_fall", "significant_decline"] and r.loc["steady_fall", "significant_decline_fdr"]
    assert r.loc["fall_with_blip", "significant_decline"]
    assert not r.loc["fall_with_blip", "significant_decline_fdr"]
    assert 0.05 <= r.loc["fall_with_blip", "mk_q"] < 0.07
    assert not r.filter(like="flat", axis=0)["significant_decline_fdr"].any()
    # FDR never adds a city the per-city test rejected
    assert not (r["significant_decline_fdr"] & ~r["significant_decline"]).any()


def test_two_year_run_has_no_trend_columns():
    polys, mosaics = _scene()
    r = nightlight.detect_shrinking(polys, mosaics[2013], mosaics[2018], allow_common_shift=True)
    assert "mk_q" not in r.columns and "significant_decline_fdr" not in r.columns
