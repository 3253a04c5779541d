"""VIIRS denoising kernels (numba) on plain NumPy arrays (Elvidge et al. 2021, Remote Sens. 13:922).

No xarray, no dask, no I/O; ``nightlight.denoise`` and ``nightlight.composite`` wrap them.
Each has a NumPy twin in the tests.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: What :func:`clean_radiance` does with negative radiance.
NEG_ZERO, NEG_NAN, NEG_KEEP = 0, 1, 2


@njit(cache=True, error_model="numpy")
def clean_radiance(x, negatives, floor, cap, out):
    """One pass of the per-pixel VIIRS clean-up (radiance in nW/cm²/sr).

    ``x < 0`` → 0 (``negatives`` = 0), NaN (1) or kept (2); then ``0 <= x < floor`` → 0
    (noise floor, e.g. 0.6 nW/cm²/sr as in VNL v2); then ``x > cap`` → ``cap``.
    Pass ``floor = -inf`` / ``cap = inf`` to skip a step. NaN stays NaN.
    """
    ny, nx = x.shape
    for i in range(ny):
        for j in range(nx):
            v = x[i, j]
            if math.isnan(v):
                out[i, j] = np.nan
                continue
            if v < 0.0:
                if negatives == NEG_ZERO:
                    v = 0.0
                elif negatives == NEG_NAN:
                    out[i, j] = np.nan
                    continue
            if v >= 0.0 and v < floor:
                v = 0.0
            if v > cap:
                v = cap
            out[i, j] = v
    return out


@njit(cache=True, error_model="numpy")
def data_range3x3(x, out):
    """Data range (max − min) of the valid values in each pixel's 3×3 neighbourhood.

    The VNL v2 background test (Elvidge et al. 2021) flags a pixel as background when
    this range is small: lit areas have structure, background is flat noise. NaN
    centre → NaN; out-of-array and NaN neighbours are ignored (chunk-invariant with a
    1-pixel overlap).
    """
    ny, nx = x.shape
    for i in range(ny):
        for j in range(nx):
            if math.isnan(x[i, j]):
                out[i, j] = np.nan
                continue
            lo = np.inf
            hi = -np.inf
            for a in range(max(i - 1, 0), min(i + 2, ny)):
                for b in range(max(j - 1, 0), min(j + 2, nx)):
                    v = x[a, b]
                    if not math.isnan(v):
                        if v < lo:
                            lo = v
                        if v > hi:
                            hi = v
            out[i, j] = hi - lo
    return out


@njit(cache=True, error_model="numpy")
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
