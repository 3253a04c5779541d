"""VIIRS denoising kernels (numba) on plain NumPy arrays (Elvidge et al. 2021, Remote Sens. 13:922).

No xarray, no dask, no I/O; ``nightlight.preprocess.denoise`` wraps them. A
per-pixel clean-up (:func:`clean_radiance`) and the 3×3 background test
(:func:`data_range3x3`); each writes into a caller-allocated ``out``, is compiled
``nogil=True`` (dask's threads run chunks in parallel) and has a NumPy twin in
``tests/preprocess/test_denoise.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: What :func:`clean_radiance` does with negative radiance.
NEG_ZERO, NEG_NAN, NEG_KEEP = 0, 1, 2


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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
