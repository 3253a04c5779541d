"""Theil–Sen slope and Mann–Kendall trend test, one series per row.

Theil (1950), Sen (1968): slope = median of all pairwise slopes
(y_j − y_i)/(t_j − t_i), i < j. Mann (1945), Kendall (1975): S = Σ sign(y_j − y_i),
Var(S) = [n(n−1)(2n+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18 (tie groups g in y),
Z = (S − sign(S)) / √Var(S) (continuity correction), two-sided p = erfc(|Z|/√2).
NaN years are skipped per row; rows with fewer than ``min_n`` valid years give NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def theil_sen_mann_kendall(y, t, min_n):  # pragma: no cover - numba
    """Per-row Theil–Sen slope, Mann–Kendall S, Z and two-sided p-value.

    Parameters
    ----------
    y : 2-D float64 ``(n_series, n_times)``
        Values (e.g. yearly total light per city); NaN = missing.
    t : 1-D float64 ``(n_times,)``
        Times (e.g. years), strictly increasing.
    min_n : int
        Minimum number of valid values for a result.

    Returns
    -------
    slope, s, z, p : 1-D float64 arrays ``(n_series,)``
        Slope in units of ``y`` per unit of ``t``; NaN where too few values.
    """
    n_series, n_t = y.shape
    slope = np.full(n_series, np.nan)
    s_out = np.full(n_series, np.nan)
    z_out = np.full(n_series, np.nan)
    p_out = np.full(n_series, np.nan)
    yy = np.empty(n_t)
    tt = np.empty(n_t)
    pair = np.empty(n_t * (n_t - 1) // 2)
    for r in range(n_series):
        n = 0
        for k in range(n_t):
            v = y[r, k]
            if v == v:
                yy[n] = v
                tt[n] = t[k]
                n += 1
        if n < min_n:
            continue
        m = 0
        s = 0.0
        for i in range(n - 1):
            for j in range(i + 1, n):
                d = yy[j] - yy[i]
                pair[m] = d / (tt[j] - tt[i])
                m += 1
                if d > 0:
                    s += 1.0
                elif d < 0:
                    s -= 1.0
        slope[r] = np.median(pair[:m])
        # tie correction: sort the valid values and count runs of equal values
        srt = np.sort(yy[:n])
        ties = 0.0
        run = 1
        for k in range(1, n + 1):
            if k < n and srt[k] == srt[k - 1]:
                run += 1
            else:
                if run > 1:
                    ties += run * (run - 1) * (2 * run + 5)
                run = 1
        var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
        s_out[r] = s
        if var <= 0.0:
            z = 0.0
        elif s > 0:
            z = (s - 1.0) / math.sqrt(var)
        elif s < 0:
            z = (s + 1.0) / math.sqrt(var)
        else:
            z = 0.0
        z_out[r] = z
        p_out[r] = math.erfc(abs(z) / math.sqrt(2.0))
    return slope, s_out, z_out, p_out
