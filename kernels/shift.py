"""Overlap-weighted average onto a grid shifted by a fraction of a pixel (numba).

No xarray, no dask, no I/O: :func:`nightlight.io.align.align_to` wraps it per block.
When two grids share CRS and pixel size and differ by a translation, every target
pixel overlaps at most 2 × 2 source pixels, so GDAL's ``Resampling.average``
(overlap-weighted mean of the valid source pixels) is this fixed stencil. GDAL itself
is its reference: ``tests/io/test_align.py`` checks it against ``rasterio.warp.reproject``.
"""

from __future__ import annotations

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
    b0, b1 = wx[:, 0].copy(), wx[:, 1].copy()  # contiguous: the column loop vectorises (~1.3 ns a pixel)
    for i in range(ny):
        a0, a1 = wy[i, 0], wy[i, 1]
        r0, r1, o = src[i], src[i + 1], out[i]
        for j in range(nx):
            p, q, u, v = r0[j], r0[j + 1], r1[j], r1[j + 1]
            # branch-free (x == x is False for NaN): a NaN pixel gets weight 0, a zero weight adds nothing
            w00 = a0 * b0[j] if p == p else 0.0
            w01 = a0 * b1[j] if q == q else 0.0
            w10 = a1 * b0[j] if u == u else 0.0
            w11 = a1 * b1[j] if v == v else 0.0
            s = (w00 * p if p == p else 0.0) + (w01 * q if q == q else 0.0)
            s += (w10 * u if u == u else 0.0) + (w11 * v if v == v else 0.0)
            t = w00 + w01 + w10 + w11
            o[j] = s / t if t > 0.0 else np.nan
    return out
