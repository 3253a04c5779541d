"""Connected-component labeling of one block by runs, with per-label statistics.

Plain arrays in, plain arrays out. The chunked driver (``nightlight.cities``) labels
each block with :func:`label_block`, keeps only the block's edge labels
(:func:`run_edges`) and the per-label statistics, then merges labels that touch
across block borders with :func:`edge_pairs` + :func:`union_pairs` — the dask-image
scheme (label blocks, collect border pairs, solve the small graph) without ever
building a global label image. Later passes paint a block's labels from its runs
(:func:`paint`).

The labeling is two-pass union-find over runs of foreground pixels (Rosenfeld &
Pfaltz 1966; He, Chao & Suzuki 2008): the first pass gives provisional labels and
records equivalences, the second resolves them. Provisional roots are always the
smallest label of their set, so final labels are numbered in row-major order of each
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
def _runs(mask):
    """Runs of foreground pixels in raster order: ``(k, 4)`` int32 ``(row, c0, c1, 0)``, c1 exclusive,
    and ``row_start`` (the runs of row ``r`` are ``row_start[r]:row_start[r + 1]``)."""
    h, w = mask.shape
    flat = np.ascontiguousarray(mask).reshape(h * w).view(np.uint8)
    words = flat[: h * w // 8 * 8].view(np.uint64)  # dark pixels are skipped eight at a time
    # at most one run per two pixels; np.empty commits only the pages the runs fill
    runs = np.empty((h * ((w + 1) // 2), 4), np.int32)
    row_start = np.empty(h + 1, np.int64)
    k = 0
    for r in range(h):
        row_start[r] = k
        base = r * w
        c = 0
        while c < w:
            while c < w:
                p = base + c
                if p & 7 == 0 and c + 8 <= w and words[p >> 3] == 0:
                    c += 8
                elif flat[p]:
                    break
                else:
                    c += 1
            if c == w:
                break
            c0 = c
            while c < w and flat[base + c]:
                c += 1
            runs[k, 0], runs[k, 1], runs[k, 2], runs[k, 3] = r, c0, c, 0
            k += 1
    row_start[h] = k
    return runs[:k], row_start


@njit(nogil=True, cache=True)
def label_block(mask, connectivity, area, values):
    """Label one block by runs and gather per-label statistics.

    Run-based two-pass labeling (He, Chao & Suzuki 2008, *A run-based two-scan labeling
    algorithm*): rows are cut into runs of foreground pixels, each run is joined with the runs
    of the row above it touches, then statistics are gathered per run (per pixel only for the
    value sums). A night-light mask is mostly dark with runs of ~20 px: work scales with runs.

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
    runs : (k, 4) int32
        ``(row, c0, c1, label)`` of every run in raster order (``c1`` exclusive), labels 1..n in
        row-major order of each component's first pixel; :func:`paint` makes the label image.
    n : int
        Number of components.
    istats : (n + 1, 7) int64
        count, first_row, first_col, row_min, row_max, col_min, col_max (row 0 unused).
    fstats : (n + 1, 3) float64
        area_km2, sum of row centers, sum of col centers.
    sums, nvalid : (n + 1, nb) float64, int64
        Per-band sum and count of non-NaN values.
    """
    h, w = mask.shape
    runs, row_start = _runs(mask)
    nruns = runs.shape[0]
    parent = np.empty(nruns + 1, np.int32)
    nxt = 1
    # a run of the row above, [p0, p1), touches the run [c0, c1) when p0 < c1 + d and p1 > c0 - d
    d = 1 if connectivity == 8 else 0
    for r in range(h):
        j = row_start[r - 1] if r > 0 else 0
        j_end = row_start[r] if r > 0 else 0
        for i in range(row_start[r], row_start[r + 1]):
            lo = runs[i, 1] - d
            hi = runs[i, 2] + d
            while j < j_end and runs[j, 2] <= lo:  # ends before this run: before the next ones too
                j += 1
            best = 0
            k = j
            while k < j_end and runs[k, 1] < hi:
                up = runs[k, 3]
                best = _union(parent, best, up) if best else up
                k += 1
            if best == 0:
                parent[nxt] = nxt
                best = nxt
                nxt += 1
            runs[i, 3] = best

    # Resolve provisional labels to consecutive final labels. Roots are the smallest
    # label of their set, i.e. the label of its first run, so numbering roots in
    # increasing order numbers components in row-major order of their first pixel.
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
    istats[:, I_COL_MIN] = w
    per_pixel_area = area.shape[1] > 1
    for i in range(nruns):  # raster order: a component's first run is met first
        r, c0, c1 = runs[i, 0], runs[i, 1], runs[i, 2]
        k = final[runs[i, 3]]
        runs[i, 3] = k
        length = c1 - c0
        if istats[k, I_COUNT] == 0:
            istats[k, I_FIRST_ROW] = r
            istats[k, I_FIRST_COL] = c0
            istats[k, I_ROW_MIN] = r
        istats[k, I_COUNT] += length
        istats[k, I_ROW_MAX] = r
        istats[k, I_COL_MIN] = min(istats[k, I_COL_MIN], c0)
        istats[k, I_COL_MAX] = max(istats[k, I_COL_MAX], c1 - 1)
        if per_pixel_area:
            for c in range(c0, c1):
                fstats[k, F_AREA] += area[r, c]
        else:
            fstats[k, F_AREA] += length * area[r, 0]
        fstats[k, F_SUM_ROW] += length * (r + 0.5)
        # Σ (c + 0.5) for c in [c0, c1) = (c1² − c0²) / 2: exact in float64 (half-integers)
        fstats[k, F_SUM_COL] += 0.5 * (np.int64(c1) * c1 - np.int64(c0) * c0)
        for b in range(nb):
            s = 0.0
            m = 0
            for c in range(c0, c1):
                v = values[b, r, c]
                if not np.isnan(v):
                    s += v
                    m += 1
            sums[k, b] += s
            nvalid[k, b] += m
    return runs, n, istats, fstats, sums, nvalid


@njit(nogil=True, cache=True)
def paint(runs, h, w, lookup):
    """The ``(h, w)`` image of :func:`label_block`'s runs mapped through ``lookup`` (label → id, in its dtype).

    0 = background, or a label ``lookup`` maps to 0: those runs are not painted (mapping the runs,
    not a painted label image, saves a pass over every pixel). ``np.arange(n + 1)``: the labels.
    """
    out = np.zeros((h, w), lookup.dtype)
    for i in range(runs.shape[0]):
        k = lookup[runs[i, 3]]
        if k:
            out[runs[i, 0], runs[i, 1] : runs[i, 2]] = k
    return out


@njit(nogil=True, cache=True)
def run_edges(runs, h, w):
    """Labels along the block's top row, bottom row, left and right columns (what the border merge
    needs of a block) from its runs, without painting its label image."""
    top, bottom = np.zeros(w, np.int32), np.zeros(w, np.int32)
    left, right = np.zeros(h, np.int32), np.zeros(h, np.int32)
    for i in range(runs.shape[0]):
        r, c0, c1, k = runs[i, 0], runs[i, 1], runs[i, 2], runs[i, 3]
        if r == 0:
            top[c0:c1] = k
        if r == h - 1:
            bottom[c0:c1] = k
        if c0 == 0:
            left[r] = k
        if c1 == w:
            right[r] = k
    return top, bottom, left, right


@njit(nogil=True, cache=True)
def edge_pairs(a, b, connectivity):
    """Pairs ``(a[i], b[j])`` of labels that touch across a straight border between two blocks.

    ``a``, ``b``: (m,) int64 global labels (0: background) along the facing edges, position by
    position; pixels touch when ``i == j``, or ``|i - j| == 1`` too under 8-connectivity.
    Returns (k, 2) int64 pairs, possibly repeated.
    """
    m = a.shape[0]
    d = 1 if connectivity == 8 else 0
    out = np.empty((3 * m, 2), np.int64)
    k = 0
    for i in range(m):
        for j in range(max(i - d, 0), min(i + d + 1, m)):
            if a[i] and b[j]:
                out[k, 0], out[k, 1] = a[i], b[j]
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
