"""Theil–Sen / Mann–Kendall kernel against textbook and scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from nightlight.change.trend import trend_test


def mann_kendall_reference(y, t):
    """Textbook Mann–Kendall (Kendall 1975; as pyMannKendall ``original_test``), pure Python."""
    pts = [(ti, yi) for ti, yi in zip(t, y) if not math.isnan(yi)]
    n = len(pts)
    ys = [p[1] for p in pts]
    s = sum(np.sign(ys[j] - ys[i]) for i in range(n) for j in range(i + 1, n))
    counts = {}
    for v in ys:
        counts[v] = counts.get(v, 0) + 1
    ties = sum(c * (c - 1) * (2 * c + 5) for c in counts.values())
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18
    z = 0.0 if s == 0 or var == 0 else (s - np.sign(s)) / math.sqrt(var)
    p = 2 * (1 - scipy.stats.norm.cdf(abs(z)))
    return s, z, p


series = st.lists(st.one_of(st.integers(0, 6).map(float), st.floats(-50, 50, allow_nan=False)), min_size=4, max_size=15)


@pytest.mark.slow
@given(series)
def test_matches_references(ys):
    y = np.array(ys)
    t = np.arange(2000, 2000 + len(y), dtype=float)
    out = trend_test(y[None, :], t)
    s, z, p = mann_kendall_reference(y, t)
    assert out["mk_s"][0] == s
    assert out["mk_z"][0] == pytest.approx(z, abs=1e-12)
    assert out["mk_p"][0] == pytest.approx(p, abs=1e-9)
    assert out["trend_slope"][0] == pytest.approx(scipy.stats.theilslopes(y, t).slope, rel=1e-12, abs=1e-12)


def test_missing_years_and_too_short_rows():
    y = np.array([[1.0, np.nan, 3.0, 2.0, 5.0, 4.0], [1.0, np.nan, np.nan, np.nan, 2.0, 3.0]])
    t = np.array([2010, 2011, 2012, 2013, 2014, 2015.0])
    out = trend_test(y, t)
    ok = ~np.isnan(y[0])
    assert out["trend_slope"][0] == pytest.approx(scipy.stats.theilslopes(y[0][ok], t[ok]).slope)
    assert out["mk_p"][0] == pytest.approx(mann_kendall_reference(y[0], t)[2])
    assert np.isnan(out["trend_slope"][1]) and np.isnan(out["mk_p"][1])  # 3 valid years < 4


def test_clear_decline_is_significant_and_flat_is_not():
    t = np.arange(2000, 2021, dtype=float)
    y = np.vstack([100 - 3 * (t - 2000) + np.sin(t), np.full_like(t, 7.0)])
    out = trend_test(y, t)
    assert out["trend_slope"][0] < 0 and out["mk_p"][0] < 1e-6
    assert out["trend_slope"][1] == 0 and out["mk_p"][1] == 1.0


def test_dataframe_columns_are_years_and_bad_years_rejected():
    import pandas as pd

    df = pd.DataFrame({2013: [1.0, 4.0], 2014: [2.0, 3.0], 2015: [3.0, 2.0], 2016: [4.0, 1.0]}, index=["a", "b"])
    out = trend_test(df)
    assert list(out.index) == ["a", "b"]
    assert out.loc["a", "trend_slope"] == 1.0 and out.loc["b", "trend_slope"] == -1.0
    with pytest.raises(ValueError, match="increasing"):
        trend_test(df.to_numpy(), [2016, 2015, 2014, 2013])


def test_smallest_attainable_p_values_documented():
    for n, p_min in ((4, 0.0894), (5, 0.0275), (6, 0.0085)):
        t = np.arange(n, dtype=float)
        assert trend_test(-t[None, :], t)["mk_p"][0] == pytest.approx(p_min, abs=5e-4)
