"""Connected-component labeling of one block, with per-label statistics in the same pass.

Plain arrays in, plain arrays out. The chunked driver (``nightlight.cities``) labels
each block with :func:`label_block`, keeps only the block's edge labels and the
per-label statistics, then merges labels that touch across block borders with
:func:`edge_pairs` + :func:`union_pairs` — the dask-image scheme (label blocks,
collect border pairs, solve the small graph) without ever building a global
label image.

The labeling is the classic two-pass union-find (Rosenfeld & Pfaltz 1966; Wu,
Otoo & Suzuki 2009): the first pass gives provisional labels and records
equivalences, the second resolves them. Provisional roots are always the smallest
label of their set, so final labels are numbered in row-major order of each
component's first pixel — the property that makes global ids independent of chunking.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Stats column layout of the float64 ``fstats`` table returned by label_block.
F_AREA = 0  # ground area, km²
F_SUM_ROW = 1  # sum of (row + 0.5) over pixels, block coordinates, for the centroid
F_SUM_COL = 2  # sum of (col + 0.5)
N_FSTATS = 3
# Stats column layout of the int64 ``istats`` table.
I_COUNT = 0  # pixels
I_FIRST_ROW = 1  # row of the first pixel in row-major order (block coordinates)
I_FIRST_COL = 2
I_ROW_MIN = 3
I_ROW_MAX = 4
I_COL_MIN = 5
I_COL_MAX = 6
N_ISTATS = 7


@njit(nogil=True, cache=True, inline="always")
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(nogil=True, cache=True, inline="always")
def _union(parent, a, b):
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
        return ra
    if rb < ra:
        parent[ra] = rb
        return rb
    return ra


@njit(nogil=True, cache=True)
def label_block(mask, connectivity, area, values):
    """Label one block and gather per-label statistics.

    Parameters
    ----------
    mask : (h, w) bool or uint8
        Foreground pixels.
    connectivity : int
        4 or 8.
    area : (h, 1) or (h, w) float64
        Ground area of each pixel in km²; one column means "same for the whole row"
        (a geographic grid), which avoids a full-size array.
    values : (nb, h, w) float32/float64
        Bands (e.g. years) whose sum over each component is wanted; NaN is skipped.
        ``nb`` may be 0.

    Returns
    -------
    labels : (h, w) int32
        0 for background, 1..n in row-major order of each component's first pixel.
    n : int
        Number of components.
    istats : (n + 1, 7) int64
        count, first_row, first_col, row_min, row_max, col_min, col_max (row 0 unused).
    fstats : (n + 1, 3) float64
        area_km2, sum of row centers, sum of col centers.
    sums : (n + 1, nb) float64
        Per-band sum of non-NaN values.
    nvalid : (n + 1, nb) int64
        Per-band count of non-NaN pixels.
    """
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    parent = np.zeros(h * w // 2 + w + 2, np.int32)
    nxt = 1
    diag = connectivity == 8
    for r in range(h):
        for c in range(w):
            if not mask[r, c]:
                continue
            best = 0
            # Already-visited neighbours: W, NW, N, NE (NW/NE only for 8-connectivity).
            if c > 0 and labels[r, c - 1]:
                best = labels[r, c - 1]
            if r > 0:
                up = labels[r - 1, c]
                if up:
                    best = _union(parent, best, up) if best else up
                if diag:
                    if c > 0:
                        nw = labels[r - 1, c - 1]
                        if nw:
                            best = _union(parent, best, nw) if best else nw
                    if c + 1 < w:
                        ne = labels[r - 1, c + 1]
                        if ne:
                            best = _union(parent, best, ne) if best else ne
            if best == 0:
                if nxt >= parent.shape[0]:
                    grown = np.zeros(parent.shape[0] * 2, np.int32)
                    grown[: parent.shape[0]] = parent
                    parent = grown
                parent[nxt] = nxt
                best = nxt
                nxt += 1
            labels[r, c] = best

    # Resolve provisional labels to consecutive final labels. Roots are the smallest
    # label of their set, so numbering roots in increasing order numbers components
    # in row-major order of their first pixel.
    final = np.zeros(nxt, np.int32)
    n = 0
    for k in range(1, nxt):
        root = _find(parent, k)
        if root == k:
            n += 1
            final[k] = n
        else:
            final[k] = final[root]

    nb = values.shape[0]
    istats = np.zeros((n + 1, N_ISTATS), np.int64)
    fstats = np.zeros((n + 1, N_FSTATS), np.float64)
    sums = np.zeros((n + 1, nb), np.float64)
    nvalid = np.zeros((n + 1, nb), np.int64)
    istats[:, I_ROW_MIN] = h
    istats[:, I_COL_MIN] = w
    istats[:, I_ROW_MAX] = -1
    istats[:, I_COL_MAX] = -1
    per_pixel_area = area.shape[1] > 1
    for r in range(h):
        for c in range(w):
            p = labels[r, c]
            if p == 0:
                continue
            k = final[p]
            labels[r, c] = k
            if istats[k, I_COUNT] == 0:
                istats[k, I_FIRST_ROW] = r
                istats[k, I_FIRST_COL] = c
            istats[k, I_COUNT] += 1
            if r < istats[k, I_ROW_MIN]:
                istats[k, I_ROW_MIN] = r
            if r > istats[k, I_ROW_MAX]:
                istats[k, I_ROW_MAX] = r
            if c < istats[k, I_COL_MIN]:
                istats[k, I_COL_MIN] = c
            if c > istats[k, I_COL_MAX]:
                istats[k, I_COL_MAX] = c
            fstats[k, F_AREA] += area[r, c] if per_pixel_area else area[r, 0]
            fstats[k, F_SUM_ROW] += r + 0.5
            fstats[k, F_SUM_COL] += c + 0.5
            for b in range(nb):
                v = values[b, r, c]
                if not np.isnan(v):
                    sums[k, b] += v
                    nvalid[k, b] += 1
    return labels, n, istats, fstats, sums, nvalid


@njit(nogil=True, cache=True)
def edge_pairs(a, b, connectivity):
    """Label pairs that touch across a straight border between two blocks.

    Parameters
    ----------
    a, b : (m,) int64
        Global labels along the two facing edges, aligned position by position
        (``a`` = last row/column of one block, ``b`` = first row/column of the next).
        0 is background.
    connectivity : int
        4 (only facing pixels touch) or 8 (the two diagonal neighbours too).

    Returns
    -------
    (k, 2) int64
        Pairs (label in ``a``, label in ``b``); may contain duplicates.
    """
    m = a.shape[0]
    out = np.empty((3 * m, 2), np.int64)
    k = 0
    for i in range(m):
        la = a[i]
        if la == 0:
            continue
        lo = i - 1 if connectivity == 8 else i
        hi = i + 1 if connectivity == 8 else i
        for j in range(max(lo, 0), min(hi, m - 1) + 1):
            lb = b[j]
            if lb != 0:
                out[k, 0] = la
                out[k, 1] = lb
                k += 1
    return out[:k]


@njit(nogil=True, cache=True)
def union_pairs(n, pairs):
    """Union-find over ``n`` labels (1..n) joined by ``pairs``; returns each label's root.

    The root of a set is its smallest label, so the result is independent of the
    order of ``pairs``. ``roots[0]`` is 0 (background).
    """
    parent = np.arange(n + 1, dtype=np.int64)
    for i in range(pairs.shape[0]):
        _union(parent, pairs[i, 0], pairs[i, 1])
    for k in range(n + 1):
        parent[k] = _find(parent, k)
    return parent


@njit(nogil=True, cache=True)
def reduce_by_component(comp, ncomp, istats, fstats, sums, nvalid, first_global):
    """Reduce per-label statistics (all blocks stacked) to per-component statistics.

    Parameters
    ----------
    comp : (n,) int64
        Component index 0..ncomp-1 of each label.
    istats, fstats, sums, nvalid : per-label tables, rows aligned with ``comp``;
        ``istats`` row/col fields already in global pixel coordinates.
    first_global : (n,) int64
        Row-major linear index (row * width + col) of each label's first pixel.

    Returns
    -------
    c_istats, c_fstats, c_sums, c_nvalid
        Per-component tables; ``c_istats[:, I_FIRST_ROW/COL]`` is the component's first
        pixel (the minimum of ``first_global``) and is returned decoded by the caller.
    c_first : (ncomp,) int64
        Linear index of each component's first pixel.
    """
    n = comp.shape[0]
    nb = sums.shape[1]
    c_istats = np.zeros((ncomp, N_ISTATS), np.int64)
    c_fstats = np.zeros((ncomp, N_FSTATS), np.float64)
    c_sums = np.zeros((ncomp, nb), np.float64)
    c_nvalid = np.zeros((ncomp, nb), np.int64)
    c_first = np.full(ncomp, np.iinfo(np.int64).max, np.int64)
    c_istats[:, I_ROW_MIN] = np.iinfo(np.int64).max
    c_istats[:, I_COL_MIN] = np.iinfo(np.int64).max
    c_istats[:, I_ROW_MAX] = -1
    c_istats[:, I_COL_MAX] = -1
    for i in range(n):
        k = comp[i]
        c_istats[k, I_COUNT] += istats[i, I_COUNT]
        c_istats[k, I_ROW_MIN] = min(c_istats[k, I_ROW_MIN], istats[i, I_ROW_MIN])
        c_istats[k, I_ROW_MAX] = max(c_istats[k, I_ROW_MAX], istats[i, I_ROW_MAX])
        c_istats[k, I_COL_MIN] = min(c_istats[k, I_COL_MIN], istats[i, I_COL_MIN])
        c_istats[k, I_COL_MAX] = max(c_istats[k, I_COL_MAX], istats[i, I_COL_MAX])
        if first_global[i] < c_first[k]:
            c_first[k] = first_global[i]
        for j in range(N_FSTATS):
            c_fstats[k, j] += fstats[i, j]
        for b in range(nb):
            c_sums[k, b] += sums[i, b]
            c_nvalid[k, b] += nvalid[i, b]
    return c_istats, c_fstats, c_sums, c_nvalid, c_first


@njit(nogil=True, cache=True)
def relabel(labels, lookup):
    """Map block labels through ``lookup`` (label → output id; 0 stays 0)."""
    h, w = labels.shape
    out = np.zeros((h, w), lookup.dtype)
    for r in range(h):
        for c in range(w):
            p = labels[r, c]
            if p:
                out[r, c] = lookup[p]
    return out
