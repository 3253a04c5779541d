"""Resampling kernels (numba) for DMSP ↔ VIIRS harmonisation: 2×2 means, 1-2-1 smoothing.

No xarray, no dask, no I/O: ``nightlight.preprocess.harmonize`` wraps these per
chunk (Li et al. 2020, Sci. Data 7:168, aggregate 15″ VIIRS onto the 30″ DMSP grid).
Each writes into a caller-allocated ``out``, is compiled ``nogil=True`` (dask's threads
run chunks in parallel) and has a NumPy twin in ``tests/preprocess/test_harmonize.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def coarsen_mean2(src, out):
    """NaN-aware 2×2 block mean: ``out[i, j]`` = mean of valid ``src[2i:2i+2, 2j:2j+2]``.

    The 15″ → 30″ aggregation when VIIRS pixel edges coincide with the 30″ edges.
    ``out`` has shape ``(src.shape[0] // 2, src.shape[1] // 2)``; all-NaN blocks → NaN.
    """
    ny, nx = out.shape
    for i in range(ny):
        for j in range(nx):
            s = 0.0
            n = 0
            for a in range(2):
                for b in range(2):
                    v = src[2 * i + a, 2 * j + b]
                    if not math.isnan(v):
                        s += v
                        n += 1
            out[i, j] = s / n if n > 0 else np.nan
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def smooth121(src, out):
    """NaN-aware 3×3 weighted mean with weights [1, 2, 1] ⊗ [1, 2, 1].

    Sampled at every second pixel this is the exact area-weighted 15″ → 30″ average
    when 30″ pixel *centres* sit on 15″ pixel centres (the global VIIRS/DMSP grids:
    a 30″ pixel covers one 15″ pixel fully, four by half and four by a quarter).
    Neighbours outside the array or NaN get weight 0 (so a chunk with its 1-pixel
    overlap gives the same answer as the whole array).
    """
    ny, nx = src.shape
    for i in range(ny):
        for j in range(nx):
            s = 0.0
            w = 0.0
            for a in range(-1, 2):
                ii = i + a
                if ii < 0 or ii >= ny:
                    continue
                wa = 2.0 if a == 0 else 1.0
                for b in range(-1, 2):
                    jj = j + b
                    if jj < 0 or jj >= nx:
                        continue
                    v = src[ii, jj]
                    if math.isnan(v):
                        continue
                    wb = wa * (2.0 if b == 0 else 1.0)
                    s += wb * v
                    w += wb
            out[i, j] = s / w if w > 0.0 else np.nan
    return out
