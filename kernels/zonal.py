"""Per-polygon accumulation kernels for zonal statistics.

Two entry points feed the same per-id accumulator arrays, so a polygon can be
measured partly by whole pixels (label image from rasterization) and partly by
weighted cells (exact fractional coverage of small polygons), and blocks of a
mosaic can be reduced by plain addition (``max`` by maximum).

Accumulator layout, ``acc`` of shape ``(n_ids, N_STATS)`` float64:

====  ============  ==============================================================
col   name          meaning
====  ============  ==============================================================
0     sum           Σ w·v over valid (non-NaN) pixels, mosaic units (nW/cm²/sr or DN)
1     valid_w       Σ w over valid pixels (pixels, fractional)
2     total_w       Σ w over all pixels of the polygon inside the grid, NaN included
3     lit_w         Σ w over valid pixels with v > floor
4     lit_km2       Σ w·(pixel area, km²) over valid pixels with v > floor
5     area_km2      Σ w·(pixel area, km²) over all pixels inside the grid
====  ============  ==============================================================

``vmax`` (shape ``(n_ids,)``, initialised to ``-inf``) holds the brightest valid
pixel touched with positive weight.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_STATS = 6
SUM, VALID_W, TOTAL_W, LIT_W, LIT_KM2, AREA_KM2 = range(N_STATS)


def new_accumulator(n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed ``(acc, vmax)`` for ``n_ids`` polygons."""
    return np.zeros((n_ids, N_STATS), dtype=np.float64), np.full(n_ids, -np.inf, dtype=np.float64)


@njit(cache=True, nogil=True)
def accumulate_labels(values, labels, row_area_km2, floor, acc, vmax):  # pragma: no cover - numba
    """Add every labelled pixel of a block to its polygon's accumulators (weight 1).

    Parameters
    ----------
    values : 2-D float array
        Pixel values of one block (NaN = nodata).
    labels : 2-D int array, same shape
        ``id + 1`` of the polygon whose pixel-centre rule covers the pixel, 0 = none.
    row_area_km2 : 1-D float64, one entry per block row
        Ground area of a pixel in that row, km².
    floor : float
        A pixel is *lit* when its value is strictly above ``floor``.
    acc, vmax : accumulators (updated in place), see module docstring.
    """
    h, w = values.shape
    for i in range(h):
        a = row_area_km2[i]
        for j in range(w):
            lab = labels[i, j]
            if lab <= 0:
                continue
            k = lab - 1
            acc[k, 2] += 1.0
            acc[k, 5] += a
            v = values[i, j]
            if v != v:  # NaN: nodata
                continue
            acc[k, 0] += v
            acc[k, 1] += 1.0
            if v > floor:
                acc[k, 3] += 1.0
                acc[k, 4] += a
            if v > vmax[k]:
                vmax[k] = v


@njit(cache=True, nogil=True)
def accumulate_weighted(values, rows, cols, ids, weights, row_area_km2, floor, acc, vmax):  # pragma: no cover
    """Add weighted cells (fractional coverage) to the accumulators.

    ``rows``/``cols`` index ``values`` (block-local), ``ids`` are 0-based polygon
    ids, ``weights`` the covered fraction of each cell in (0, 1].
    """
    for n in range(rows.shape[0]):
        wgt = weights[n]
        if wgt <= 0.0:
            continue
        i = rows[n]
        k = ids[n]
        a = row_area_km2[i] * wgt
        acc[k, 2] += wgt
        acc[k, 5] += a
        v = values[i, cols[n]]
        if v != v:
            continue
        acc[k, 0] += wgt * v
        acc[k, 1] += wgt
        if v > floor:
            acc[k, 3] += wgt
            acc[k, 4] += a
        if v > vmax[k]:
            vmax[k] = v
