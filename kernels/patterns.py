"""The six-pattern features of one city window (``nightlight.change.patterns``), in one compiled call.

Plain arrays in and out: the city's ``inside``/``usable``/``declining`` pixels (2-D bool,
``declining ⊆ usable ⊆ inside``) → the nine numbers :class:`PatternFeatures` holds. The
features and their rules are documented in :mod:`nightlight.change.patterns`; this is
their arithmetic, written so every float operation happens in the order NumPy/scipy did
it (the plain-NumPy reference in ``tests/test_patterns.py``), because the rules compare
the features with thresholds and a last-bit difference could flip a class:

* means of float arrays use NumPy's pairwise summation (:func:`_pairwise_sum`);
* the distance to the city's edge is the exact Euclidean distance transform
  (Felzenszwalb & Huttenlocher 2012, "Distance transforms of sampled functions") —
  integer squared distances, so its square root equals scipy's ``distance_transform_edt``;
* Moran's I sums the 8 neighbours in scipy's ``correlate`` order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: order of the values :func:`city_features` returns
FEATURES = ("usable", "declining", "share", "rho_shift", "offset", "coverage", "side", "largest_cluster", "moran")


@njit(cache=True, nogil=True)
def _block_sum(a, lo, n):  # pragma: no cover - numba
    """NumPy's sum of a leaf of ≤ 128 values: 8 running sums, combined as a tree, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r = a[lo : lo + 8].copy()
    i = 8
    while i < n - (n % 8):
        for k in range(8):
            r[k] += a[lo + i + k]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for j in range(i, n):
        res += a[lo + j]
    return res


@njit(cache=True, nogil=True)
def _pairwise_sum(a, lo, n):  # pragma: no cover - numba
    """NumPy's pairwise summation of ``a[lo:lo+n]`` (``umath`` ``pairwise_sum``, leaves of 128).

    NumPy recurses (left half + right half, the halves cut at a multiple of 8); the same
    tree is walked here with explicit stacks, because numba's on-disk cache of a recursive
    function crashes its callers when they are loaded from the cache.
    """
    los = np.empty(64, np.int64)
    ns = np.empty(64, np.int64)
    stage = np.zeros(64, np.int64)
    left = np.empty(64)
    los[0], ns[0] = lo, n
    top = 0
    ret = 0.0
    while top >= 0:
        m = ns[top]
        if m <= 128:
            ret = _block_sum(a, los[top], m)
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if stage[top] == 0:  # the left half first
            stage[top] = 1
            los[top + 1], ns[top + 1], stage[top + 1] = los[top], half, 0
            top += 1
        elif stage[top] == 1:  # left done: keep it, then the right half
            left[top] = ret
            stage[top] = 2
            los[top + 1], ns[top + 1], stage[top + 1] = los[top] + half, m - half, 0
            top += 1
        else:
            ret = left[top] + ret
            top -= 1
    return ret


@njit(cache=True, nogil=True)
def _mean(a):  # pragma: no cover - numba
    return _pairwise_sum(a, 0, a.size) / a.size


@njit(cache=True, nogil=True)
def _edge_distance(inside):  # pragma: no cover - numba
    """Euclidean distance of every pixel to the nearest pixel not inside (the window's outside counts), in pixels."""
    h, w = inside.shape
    H, W = h + 2, w + 2
    g = np.empty((H, W))  # squared distance to the nearest outside pixel of the same column
    for c in range(W):
        d = float(H + W)  # farther than any pixel of the padded window
        for r in range(H):
            inner = 0 < r < H - 1 and 0 < c < W - 1 and inside[r - 1, c - 1]
            d = d + 1.0 if inner else 0.0
            g[r, c] = d
        d = float(H + W)
        for r in range(H - 1, -1, -1):
            d = 0.0 if g[r, c] == 0 else min(d + 1.0, g[r, c])
            g[r, c] = d * d
    out = np.empty((h, w))
    v = np.empty(W, np.int64)
    z = np.empty(W + 1)
    for r in range(1, H - 1):
        f = g[r]
        k = 0
        v[0] = 0
        z[0] = -np.inf
        z[1] = np.inf
        for q in range(1, W):
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * q - 2.0 * v[k])
            while s <= z[k]:
                k -= 1
                s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * q - 2.0 * v[k])
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
        k = 0
        for q in range(W):
            while z[k + 1] < q:
                k += 1
            if 0 < q < W - 1:
                dq = q - v[k]
                out[r - 1, q - 1] = math.sqrt(dq * dq + f[v[k]])
    return out


@njit(cache=True, nogil=True)
def _largest_cluster(declining, n):  # pragma: no cover - numba
    """Largest 8-connected cluster of declining pixels / declining pixels in clusters of ≥ 2 (1/n if all isolated)."""
    h, w = declining.shape
    seen = np.zeros((h, w), np.bool_)
    stack = np.empty((h * w, 2), np.int64)
    biggest = 0
    in_clusters = 0
    for r0 in range(h):
        for c0 in range(w):
            if not declining[r0, c0] or seen[r0, c0]:
                continue
            seen[r0, c0] = True
            stack[0, 0], stack[0, 1] = r0, c0
            top, size = 1, 0
            while top:
                top -= 1
                r, c = stack[top, 0], stack[top, 1]
                size += 1
                for dr in range(-1, 2):
                    for dc in range(-1, 2):
                        rr, cc = r + dr, c + dc
                        if 0 <= rr < h and 0 <= cc < w and declining[rr, cc] and not seen[rr, cc]:
                            seen[rr, cc] = True
                            stack[top, 0], stack[top, 1] = rr, cc
                            top += 1
            biggest = max(biggest, size)
            if size > 1:
                in_clusters += size
    if biggest == 1:
        return 1.0 / n
    return biggest / in_clusters


@njit(cache=True, nogil=True)
def _moran(declining, usable, u, n):  # pragma: no cover - numba
    """Moran's I of the 0/1 decline indicator on the usable pixels, binary 8-neighbour weights."""
    h, w = usable.shape
    m = n / u  # declining[usable].mean(): a count, exact
    z = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            if usable[r, c]:
                z[r, c] = (1.0 if declining[r, c] else 0.0) - m
    sq = np.empty(u)
    zl = np.empty(u)
    weight = 0.0
    k = 0
    for r in range(h):
        for c in range(w):
            if not usable[r, c]:
                continue
            lag = 0.0
            nb = 0.0
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < h and 0 <= cc < w:
                        lag += z[rr, cc] * 1.0
                        nb += 1.0 if usable[rr, cc] else 0.0
            weight += nb
            sq[k] = z[r, c] ** 2
            zl[k] = z[r, c] * lag
            k += 1
    denom = _pairwise_sum(sq, 0, u)
    if weight == 0 or denom == 0:
        return np.nan
    return u / weight * _pairwise_sum(zl, 0, u) / denom


@njit(cache=True, nogil=True)
def city_features(inside, usable, declining, outer_rho, sectors, sector_share):  # pragma: no cover - numba
    """The nine pattern features of one city window (order: :data:`FEATURES`).

    Parameters
    ----------
    inside, usable, declining : 2-D bool arrays of one window
        The city's pixels, those with a usable base value, those declining
        (``declining ⊆ usable ⊆ inside``; the caller intersects them).
    outer_rho, sectors, sector_share : float, int, float
        The outer zone (normalised radius ≥ ``outer_rho``), the number of sectors and the
        share of declining outer pixels a sector needs (``coverage``).

    Returns
    -------
    1-D float64 array of 9
        usable and declining pixel counts, then share, rho_shift, offset, coverage,
        side, largest_cluster, moran (lengths in pixels; NaN where undefined).
    """
    h, w = inside.shape
    u = 0
    n = 0
    m = 0
    for r in range(h):
        for c in range(w):
            m += inside[r, c]
            u += usable[r, c]
            n += declining[r, c]
    out = np.full(9, np.nan)
    out[0], out[1] = u, n
    if u:
        out[2] = n / u
    if u == 0 or n == 0 or n == u:
        out[7] = 1.0 if n else np.nan
        return out
    sr = 0.0
    sc = 0.0
    for r in range(h):
        for c in range(w):
            if inside[r, c]:
                sr += r  # integer sums: exact in any order
                sc += c
    cy, cx = sr / m, sc / m
    r_eq = math.sqrt(m / np.pi)
    d_edge = _edge_distance(inside)
    dy = np.empty(u)
    dx = np.empty(u)
    rho = np.empty(u)
    dec = np.empty(u, np.bool_)
    k = 0
    for r in range(h):
        for c in range(w):
            if usable[r, c]:
                dy[k], dx[k] = r - cy, c - cx
                d_c = np.hypot(dy[k], dx[k])
                rho[k] = d_c / (d_c + (d_edge[r, c] - 0.5))
                dec[k] = declining[r, c]
                k += 1
    s = n / u
    out[3] = _mean(rho[dec]) - _mean(rho[~dec])
    my, mx = _mean(dy[dec]), _mean(dx[dec])
    out[4] = np.hypot(my, mx) / r_eq
    # coverage: sector k centred on k·45°; the half-sector shift keeps boundaries off pixel centres
    tot = np.zeros(sectors)
    hit = np.zeros(sectors)
    half, width = np.pi / sectors, 2 * np.pi / sectors
    any_outer = False
    for i in range(u):
        if rho[i] >= outer_rho:
            any_outer = True
            sec = int(np.floor((np.arctan2(dy[i], dx[i]) + half) / width)) % sectors
            tot[sec] += 1.0
            hit[sec] += 1.0 if dec[i] else 0.0
    if any_outer:
        occupied = 0
        full = 0
        for j in range(sectors):
            if tot[j] > 0:
                occupied += 1
                full += hit[j] >= sector_share * tot[j]
        out[5] = full / occupied
    else:
        out[5] = 0.0
    # side: the n usable pixels farthest along the direction of the declining pixels' centroid
    norm = np.hypot(my, mx)
    if norm == 0:
        out[6] = 0.0
    else:
        t = np.empty(u)
        for i in range(u):
            t[i] = np.rint((dx[i] * mx + dy[i] * my) / norm * 1e9) / 1e9  # np.round(…, 9)
        t_cut = np.sort(t)[u - n]
        above_dec = 0
        above = 0
        tie = 0
        tie_dec = 0
        for i in range(u):
            if t[i] > t_cut:
                above += 1
                above_dec += dec[i]
            elif t[i] == t_cut:
                tie += 1
                tie_dec += dec[i]
        hits = above_dec + (n - above) * (tie_dec / tie)
        out[6] = (hits / n - s) / (1 - s)
    out[7] = _largest_cluster(declining, n)
    out[8] = _moran(declining, usable, u, n)
    return out
