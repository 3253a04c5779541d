"""Yearly trend of per-city light: Theil–Sen slope and Mann–Kendall test.

Wraps :func:`nightlight.kernels.trend.theil_sen_mann_kendall` (numba) for tables of
per-city yearly values. Methods: Theil (1950), Sen (1968), Mann (1945), Kendall
(1975), with the tie-corrected variance and continuity correction of the usual
hydrology/remote-sensing practice (e.g. Hussain & Mahmud 2019, pyMannKendall
``original_test``).

Power note: with the continuity correction the smallest attainable two-sided p is
0.089 for 4 years and 0.027 for 5 (a perfectly monotone series); p < 0.05 needs at
least 5 years. A 2013–2016 series can therefore never be "significant" at α = 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from nightlight.kernels.trend import theil_sen_mann_kendall

#: Fewer valid years than this give NaN (docs/method.md: trend test with ≥ 4 years).
MIN_YEARS = 4


def trend_test(
    values: np.ndarray | pd.DataFrame, years: Sequence[float] | None = None, *, min_years: int = MIN_YEARS
) -> pd.DataFrame:
    """Theil–Sen slope and Mann–Kendall p-value per row.

    Parameters
    ----------
    values : array ``(n_cities, n_years)`` or DataFrame (columns = years)
        Per-city yearly values (e.g. total light, nW/cm²/sr·px or DN·px); NaN = missing.
    years : sequence of numbers, optional
        Time of each column (default: DataFrame columns, else 0 … n−1).
    min_years : int
        Minimum valid years per city (default 4); rows with fewer give NaN.

    Returns
    -------
    pandas.DataFrame
        ``trend_slope`` (units of ``values`` per year), ``mk_s`` (Mann–Kendall S),
        ``mk_z``, ``mk_p`` (two-sided p-value), indexed like ``values``.
    """
    index = values.index if isinstance(values, pd.DataFrame) else None
    if years is None:
        years = list(values.columns) if isinstance(values, pd.DataFrame) else list(range(np.shape(values)[1]))
    y = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    t = np.asarray(years, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != t.size:
        raise ValueError(f"values: expected shape (n_cities, {t.size}) to match years, got {y.shape}.")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"years: must be strictly increasing, got {list(years)}. Sort the series by year.")
    slope, s, z, p = theil_sen_mann_kendall(y, t, int(min_years))
    return pd.DataFrame({"trend_slope": slope, "mk_s": s, "mk_z": z, "mk_p": p}, index=index)


def benjamini_hochberg(p: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), NaN-aware.

    ``q_(i) = min_{j ≥ i} min(1, m · p_(j) / j)`` over the p-values sorted
    ascending, m = the number of finite p-values (Benjamini & Hochberg 1995, the
    step-up rule; the same as ``scipy.stats.false_discovery_control(p, method="bh")``
    on the finite values). Rejecting ``q < α`` controls the false discovery rate at α
    for independent or positively dependent tests.

    Parameters
    ----------
    p : array-like of float
        p-values in [0, 1], any shape; NaN marks "no test" (e.g. a city with fewer
        than :data:`MIN_YEARS` valid years): it stays NaN and is not counted in m.

    Returns
    -------
    numpy.ndarray of float64
        q-values, same shape as ``p``; q ≥ p, and the q-values keep the order of the p-values.

    Raises
    ------
    ValueError
        A finite p-value outside [0, 1] (or ±inf).
    """
    arr = np.asarray(p, dtype=np.float64)
    q = np.full(arr.shape, np.nan)
    flat = arr.ravel()
    finite = ~np.isnan(flat)
    vals = flat[finite]
    if np.any(~np.isfinite(vals)) or np.any((vals < 0) | (vals > 1)):
        bad = vals[~np.isfinite(vals) | (vals < 0) | (vals > 1)]
        raise ValueError(f"benjamini_hochberg: p-values must lie in [0, 1] (NaN = no test); got e.g. {bad[:3]}.")
    m = vals.size
    if m == 0:
        return q
    order = np.argsort(vals, kind="stable")
    scaled = vals[order] * (m / np.arange(1, m + 1))  # m/rank ≥ 1, so q ≥ p holds in floating point too
    # step-up: each q is the smallest scaled p at its rank or above
    adj = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adj
    qf = q.ravel()
    qf[finite] = out
    return qf.reshape(arr.shape)
