"""Per-polygon accumulation kernels for zonal statistics.

Two entry points feed the same per-id accumulator arrays: whole pixels from a
label image (pixel-centre rasterization, :func:`accumulate_labels`) and cells
weighted by exact fractional coverage (:func:`accumulate_coverage`). Blocks of a
mosaic are reduced by plain addition (``max`` by maximum).

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
def _draw_edge(buf, wbuf, x0, y0, x1, y1):  # pragma: no cover - numba
    """Add one polygon edge's signed-area contribution to the accumulation buffer.

    The exact-area scanline accumulation of font-rs (R. Levien, 2016): after a
    running sum along each row, ``buf`` holds the signed covered area of every
    cell. Coordinates are in pixel units inside ``[0, w] × [0, h]``.
    """
    if y0 == y1:
        return
    if y0 < y1:
        d_sign = 1.0
        ax, ay, bx, by = x0, y0, x1, y1
    else:
        d_sign = -1.0
        ax, ay, bx, by = x1, y1, x0, y0
    h = buf.shape[0] // wbuf
    dxdy = (bx - ax) / (by - ay)
    x = ax
    ystart = int(np.floor(ay))
    yend = min(h, int(np.ceil(by)))
    for y in range(max(ystart, 0), yend):
        line = y * wbuf
        dy = min(y + 1.0, by) - max(float(y), ay)
        xnext = x + dxdy * dy
        d = dy * d_sign
        if x < xnext:
            xa, xb = x, xnext
        else:
            xa, xb = xnext, x
        xa_floor = np.floor(xa)
        xai = int(xa_floor)
        xb_ceil = np.ceil(xb)
        xbi = int(xb_ceil)
        if xbi <= xai + 1:
            xmf = 0.5 * (x + xnext) - xa_floor
            buf[line + xai] += d - d * xmf
            buf[line + xai + 1] += d * xmf
        else:
            s = 1.0 / (xb - xa)
            xaf = xa - xa_floor
            a0 = 0.5 * s * (1.0 - xaf) * (1.0 - xaf)
            xbf = xb - xb_ceil + 1.0
            am = 0.5 * s * xbf * xbf
            buf[line + xai] += d * a0
            if xbi == xai + 2:
                buf[line + xai + 1] += d * (1.0 - a0 - am)
            else:
                a1 = s * (1.5 - xaf)
                buf[line + xai + 1] += d * (a1 - a0)
                for xi in range(xai + 2, xbi - 1):
                    buf[line + xi] += d * s
                a2 = a1 + (xbi - xai - 3) * s
                buf[line + xbi - 1] += d * (1.0 - a2 - am)
            buf[line + xbi] += d * am
        x = xnext


@njit(cache=True, nogil=True)
def _draw_clipped(buf, wbuf, w, h, x0, y0, x1, y1):  # pragma: no cover - numba
    """:func:`_draw_edge` of an edge's part in the rows ``[0, h]``, cut where it crosses ``x = 0`` and
    ``x = w``: pieces beside the window run along its side instead, which keeps the winding number of
    every point inside — exact, so polygons need no clipping by GEOS before they reach the kernel."""
    dx, dy = x1 - x0, y1 - y0
    if dy == 0.0:
        return
    t0, t1 = max(0.0, min(-y0 / dy, (h - y0) / dy)), min(1.0, max(-y0 / dy, (h - y0) / dy))
    u = v = t1  # the crossings of x = 0 and x = w inside (t0, t1), in order
    if dx != 0.0:
        for t in (min(-x0 / dx, (w - x0) / dx), max(-x0 / dx, (w - x0) / dx)):
            if t0 < t < t1:
                u, v = (t, t1) if u == t1 else (u, t)
    a = t0
    for b in (u, v, t1):
        if b > a:  # the edge's own end points where a piece ends there: no rounding
            xa, ya = (x0, y0) if a == 0.0 else (x0 + a * dx, y0 + a * dy)
            xb, yb = (x1, y1) if b == 1.0 else (x0 + b * dx, y0 + b * dy)
            _draw_edge(
                buf, wbuf, min(max(xa, 0.0), w), min(max(ya, 0.0), h), min(max(xb, 0.0), w), min(max(yb, 0.0), h)
            )
            a = b


@njit(cache=True, nogil=True)
def accumulate_coverage(
    values, ex0, ey0, ex1, ey1, edge_start, poly_ids, win, row_area_km2, floor, acc, vmax
):  # pragma: no cover
    """Exact fractional coverage of polygons on one block, accumulated per polygon.

    Every polygon is measured on its own (so overlapping polygons each get their
    full sum) by exact signed-area scan conversion of its edges: the weight of a
    cell is the share of its area inside the polygon, as in exactextract.

    Parameters
    ----------
    values : 2-D float array, one block (NaN = nodata).
    ex0, ey0, ex1, ey1 : 1-D float64
        Edges of the polygons' rings, in block pixel coordinates (x = column,
        y = row; edges beyond the block are clipped here); exterior rings and
        holes oriented oppositely.
    edge_start : 1-D int64 ``(n_polys + 1,)``
        Edges of polygon ``p`` are ``edge_start[p]:edge_start[p+1]``.
    poly_ids : 1-D int64
        Accumulator row of each polygon.
    win : 2-D int64 ``(n_polys, 4)``
        Block-local window ``(r0, r1, c0, c1)`` bounding each polygon.
    """
    n_polys = poly_ids.shape[0]
    max_cells = 0
    for p in range(n_polys):
        cells = (win[p, 1] - win[p, 0]) * (win[p, 3] - win[p, 2] + 2)
        if cells > max_cells:
            max_cells = cells
    buf = np.zeros(max_cells)
    for p in range(n_polys):
        r0, r1, c0, c1 = win[p, 0], win[p, 1], win[p, 2], win[p, 3]
        hh, ww = r1 - r0, c1 - c0
        if hh <= 0 or ww <= 0:
            continue
        wbuf = ww + 2
        sub = buf[: hh * wbuf]
        sub[:] = 0.0
        for e in range(edge_start[p], edge_start[p + 1]):
            _draw_clipped(sub, wbuf, float(ww), float(hh), ex0[e] - c0, ey0[e] - r0, ex1[e] - c0, ey1[e] - r0)
        # per-polygon totals in locals (registers): stores into ``acc`` on every cell cannot be
        # kept out of memory by the compiler, since ``acc`` may alias ``values`` or ``buf``
        t_sum = t_valid = t_total = t_lit = t_area = t_lit_km2 = 0.0
        vm = vmax[poly_ids[p]]
        for i in range(hh):
            s = 0.0
            row_total = row_lit = 0.0
            line = i * wbuf
            for j in range(ww):
                s += sub[line + j]
                wgt = abs(s)
                if wgt < 1e-12:
                    continue
                if wgt > 1.0:
                    wgt = 1.0
                row_total += wgt
                v = values[r0 + i, c0 + j]
                if v != v:
                    continue
                t_sum += wgt * v
                t_valid += wgt
                if v > floor:
                    row_lit += wgt
                if v > vm:
                    vm = v
            a = row_area_km2[r0 + i]  # one ground area per row: km² weighted once per row
            t_total += row_total
            t_area += a * row_total
            t_lit += row_lit
            t_lit_km2 += a * row_lit
        k = poly_ids[p]
        acc[k] += np.array((t_sum, t_valid, t_total, t_lit, t_lit_km2, t_area))  # SUM … AREA_KM2
        vmax[k] = vm
