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

from nightlight.kernels.trend import theil_sen_mann_kendall

#: Fewer valid years than this give NaN (METHOD.md: trend test with ≥ 4 years).
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
