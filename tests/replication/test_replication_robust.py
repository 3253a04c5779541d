"""The robustness analysis of the replication (issue 22): dithering, per-year totals, consecutive-pair changes.

References are plain NumPy on small arrays; no real data.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from nightlight.replication.robust import dither, pair_changes, year_record


def _mosaic(values: np.ndarray) -> xr.DataArray:
    y, x = np.arange(values.shape[0]), np.arange(values.shape[1])
    return xr.DataArray(da.from_array(values, chunks=3), dims=("y", "x"), coords={"y": y, "x": x}, attrs={"k": 1})


def test_dither_spreads_each_whole_value_over_its_own_unit():
    v = np.random.default_rng(0).integers(0, 64, (7, 9)).astype(np.uint8)
    m = _mosaic(v)
    d1 = dither(m, 1).compute()
    assert d1.dtype == np.float32 and d1.attrs == m.attrs and d1.coords.equals(m.coords)
    assert (d1.values >= v).all() and (d1.values < v.astype(np.float32) + 1).all()
    assert np.array_equal(d1.values, dither(m, 1).values)  # a seed is a rerun
    noise = dither(m, 2).values - v
    assert not np.allclose(noise, d1.values - v)  # another seed, other noise
    assert 0.3 < noise.mean() < 0.7  # U[0, 1): the mean unit is kept


def test_pair_changes_against_numpy():
    rng = np.random.default_rng(3)
    light = pd.DataFrame(rng.lognormal(3, 0.3, (200, 4)), columns=[2013, 2012, 2015, 2014])
    light.iloc[0, 0] = np.nan  # a city without a value in 2013: left out of 2012→2013 and 2013→2014
    rows = pair_changes(light)
    assert [r["pair"] for r in rows] == ["2012 → 2013", "2013 → 2014", "2014 → 2015"]
    a, b = light[2013].to_numpy(), light[2014].to_numpy()
    ch = (b / a - 1)[1:]
    r = rows[1]
    assert r["n"] == 199
    assert r["median"] == pytest.approx(np.median(ch))
    assert (r["p25"], r["p75"]) == pytest.approx(tuple(np.quantile(ch, [0.25, 0.75])))
    assert r["share_10"] == pytest.approx(np.count_nonzero(ch <= -0.10) / 199)


def test_pair_changes_by_hand():
    light = pd.DataFrame({2013: [100.0, 50.0], 2014: [80.0, 55.0]})
    (r,) = pair_changes(light)
    assert r["median"] == pytest.approx(-0.05) and r["share_10"] == 0.5


def test_year_record_totals_and_lit_pixels():
    rng = np.random.default_rng(5)
    years = {y: rng.integers(0, 9, (6, 8)).astype(np.float32) for y in (2013, 2014)}
    cities = pd.DataFrame({"city_id": [1], "light_2013": [10.0], "light_2014": [8.0]})
    rec = year_record({y: _mosaic(v) for y, v in years.items()}, cities, lit=4.0)
    assert [t["year"] for t in rec["totals"]] == ["2013", "2014"]
    for t, v in zip(rec["totals"], years.values()):
        assert t["total"] == pytest.approx(v.sum() / 1e6) and t["lit_pixels"] == np.count_nonzero(v >= 4)
    assert rec["pairs"][0]["median"] == pytest.approx(-0.2)
