"""Overlap-weighted average onto a grid shifted by a fraction of a pixel (numba).

No xarray, no dask, no I/O: :func:`nightlight.io.align.align_to` wraps it per block.
When two grids share CRS and pixel size and differ by a translation, every target
pixel overlaps at most 2 × 2 source pixels, so GDAL's ``Resampling.average``
(overlap-weighted mean of the valid source pixels) is this fixed stencil. GDAL itself
is its reference: ``tests/io/test_align.py`` checks it against ``rasterio.warp.reproject``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def shift_average(src, wy, wx, out):
    """``out[i, j]`` = Σ w·v / Σ w over the valid ``v = src[i + a, j + b]``, ``w = wy[i, a]·wx[j, b]``, a, b ∈ {0, 1}.

    ``src`` has one more row and column than ``out`` (NaN where the source has no
    pixel); ``wy[i]`` / ``wx[j]`` are the overlaps (in source pixels) of target row
    ``i`` / column ``j`` with its two source rows / columns. NaN or zero-weight source
    pixels are skipped; a target pixel with no valid overlap is NaN. Weights and sums
    in float64, written in ``out``'s dtype.
    """
    ny, nx = out.shape
    for i in range(ny):
        for j in range(nx):
            s = 0.0
            t = 0.0
            for a in range(2):
                for b in range(2):
                    w = wy[i, a] * wx[j, b]
                    v = src[i + a, j + b]
                    if w > 0.0 and not math.isnan(v):
                        s += w * v
                        t += w
            out[i, j] = s / t if t > 0.0 else np.nan
    return out
