"""Monthly → annual composite kernel (numba) on plain NumPy arrays (VNL v2 style, Elvidge et al. 2021).

No xarray, no dask, no I/O; ``nightlight.preprocess.composite`` wraps it. Compiled
``nogil=True`` (dask's threads run chunks in parallel); its NumPy twin is in
``tests/preprocess/test_composite.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def composite(rad, counts, min_count, mean_out, median_out, nobs_out):
    """Monthly → annual composite per pixel.

    Parameters
    ----------
    rad : (t, y, x) float — monthly average radiance, nW/cm²/sr (NaN = no data)
    counts : (t, y, x) — cloud-free observations behind each monthly value
    min_count : int — months with fewer cloud-free observations are ignored
    mean_out, median_out, nobs_out : (y, x) float
        Count-weighted mean ``Σ r·n / Σ n``; median of the kept monthly values
        (VNL v2: the median drops fires and aurora); ``Σ n`` of kept months.
        No kept month → NaN, NaN, 0.
    """
    nt, ny, nx = rad.shape
    buf = np.empty(nt, dtype=np.float64)
    for i in range(ny):
        for j in range(nx):
            k = 0
            s = 0.0
            w = 0.0
            for t in range(nt):
                r = rad[t, i, j]
                c = counts[t, i, j]
                if math.isnan(r) or not (c >= min_count) or c <= 0:
                    continue
                s += r * c
                w += c
                buf[k] = r
                k += 1
            nobs_out[i, j] = w
            if k == 0:
                mean_out[i, j] = np.nan
                median_out[i, j] = np.nan
                continue
            mean_out[i, j] = s / w
            b = np.sort(buf[:k])
            if k % 2 == 1:
                median_out[i, j] = b[k // 2]
            else:
                median_out[i, j] = 0.5 * (b[k // 2 - 1] + b[k // 2])
    return mean_out
