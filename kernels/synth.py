"""Numba kernels of the synthetic night-light world (``nightlight.synthetic``).

Three jobs, all on plain NumPy arrays:

* counter-based randomness: a pixel's noise is a pure function of
  (seed, year, global row, global column) through the splitmix64 finalizer
  (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators",
  OOPSLA), turned into a standard normal by inverse CDF. No generator state is
  carried between pixels, so a chunk's values do not depend on how the mosaic is
  chunked, and any chunk of a global mosaic is generated on its own;
* the radial city profile, evaluated identically by the renderer and by the
  ground-truth code (one ``_city_g`` function), so the truth table is exact for
  the noiseless model (``city_truth``);
* greedy placement of non-overlapping city discs (``place_discs``).

The slow, obviously-correct NumPy twins live in ``tests/test_synth.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Sensor codes shared with ``nightlight.synthetic``.
VIIRS = 0
DMSP = 1

#: Mean Earth radius used to turn km into degrees (km per degree of latitude).
KM_PER_DEG_LAT = 110.574
#: km per degree of longitude at the equator (scaled by cos(latitude)).
KM_PER_DEG_LON = 111.320

#: Columns of the per-city parameter matrix passed to the kernels (float64).
(
    C_LON,
    C_LAT,
    C_COS,
    C_SIN,
    C_INV_A,
    C_INV_B,
    C_CORE,
    C_INV_S,
    C_EDGE_W,
    C_RHO_MAX,
    C_AMP,
    C_SUPPORT_KM,
    C_KMX,
) = range(13)
N_CITY_COLS = 13
#: Entries of the normal quantile table (a power of two: indexed by the top bits).
TABLE_BITS = 12
_TAIL_BINS = 16

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_INV_2_32 = 1.0 / 4294967296.0


@njit(cache=True, inline="always")
def _mix64(z):
    """splitmix64 finalizer: a bijective avalanche of a 64-bit counter."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_key(seed: int, year: int, stream: int) -> np.uint64:
    """A 64-bit key for one (seed, year, stream); rows and columns are counters under it."""
    k = _mix64(np.uint64(seed) * _GOLDEN + np.uint64(0x632BE59BD9B4E019))
    k = _mix64(k ^ (np.uint64(year) * _GOLDEN))
    return _mix64(k ^ (np.uint64(stream) * _M1))


@njit(cache=True, inline="always")
def _row_key(key, grow):
    # np.uint64(): a key arriving as a Python int is typed int64, and int64 + uint64
    # would silently promote to float64 in numba
    return _mix64(np.uint64(key) + np.uint64(grow) * _M2)


@njit(cache=True)
def normal_ppf(p: float) -> float:
    """Standard normal quantile (Acklam's rational approximation, |rel. error| < 1.2e-9)."""
    a1, a2, a3, a4, a5, a6 = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b1, b2, b3, b4, b5 = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c1, c2, c3, c4, c5, c6 = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d1, d2, d3, d4 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / (
            (((d1 * q + d2) * q + d3) * q + d4) * q + 1.0
        )
    if p > 1.0 - 0.02425:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        return -(((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / (
            (((d1 * q + d2) * q + d3) * q + d4) * q + 1.0
        )
    q = p - 0.5
    r = q * q
    return (
        (((((a1 * r + a2) * r + a3) * r + a4) * r + a5) * r + a6)
        * q
        / (((((b1 * r + b2) * r + b3) * r + b4) * r + b5) * r + 1.0)
    )


@njit(cache=True)
def normal_table() -> np.ndarray:
    """Normal quantiles at k / 2**TABLE_BITS, k = 0..2**TABLE_BITS (ends unused)."""
    n = 1 << TABLE_BITS
    t = np.zeros(n + 1)
    for k in range(1, n):
        t[k] = normal_ppf(k / n)
    return t


@njit(cache=True, inline="always")
def _normal_from(z, table):
    """A standard normal from the top 32 bits of a 64-bit hash, by inverse CDF.

    Linear interpolation in a 4097-entry quantile table (error < 2e-4 σ), exact
    (Acklam) in the 16 outermost bins of each tail where the quantile curves fast.
    ~4x faster than Box–Muller's log + sqrt + cos on every pixel.
    """
    # int64 from here: uint64 -> float conversion is a slow multi-instruction
    # sequence on x86-64, int64 -> float is one instruction
    u = np.int64(z >> _S32)
    idx = u >> (32 - TABLE_BITS)
    if idx < _TAIL_BINS or idx >= (1 << TABLE_BITS) - _TAIL_BINS:
        return normal_ppf((float(u) + 0.5) * _INV_2_32)
    frac = (float(u & ((1 << (32 - TABLE_BITS)) - 1)) + 0.5) * (1.0 / (1 << (32 - TABLE_BITS)))
    lo = table[idx]
    return lo + frac * (table[idx + 1] - lo)


@njit(cache=True)
def hash_normal(key: np.uint64, grow0: int, gcol0: int, h: int, w: int, table: np.ndarray) -> np.ndarray:
    """Standard normals for the window of global rows ``grow0:grow0+h``, cols ``gcol0:gcol0+w``."""
    out = np.empty((h, w), np.float64)
    for i in range(h):
        rk = _row_key(key, grow0 + i)
        for j in range(w):
            out[i, j] = _normal_from(_mix64(rk + np.uint64(gcol0 + j) * _GOLDEN), table)
    return out


@njit(cache=True)
def hash_uniform(key: np.uint64, a: int, b: int) -> float:
    """A uniform in [0, 1) for the counter pair (a, b) under ``key``."""
    return float(_mix64(_row_key(key, a) + np.uint64(b) * _GOLDEN) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _profile(rho, core, inv_s, edge_w):
    """Unit-peak radial profile at normalized elliptical distance ``rho``.

    A Gaussian core (weight ``core``, scale 1/inv_s) over a plateau whose edge
    falls smoothly (smoothstep) from rho = 1 - w to 1 + w, where it is exactly 0.
    Both terms decrease with rho, so the lit region at any threshold is an ellipse.
    """
    t = (rho - (1.0 - edge_w)) / (2.0 * edge_w)
    if t <= 0.0:
        edge = 1.0
    elif t >= 1.0:
        edge = 0.0
    else:
        edge = 1.0 - t * t * (3.0 - 2.0 * t)
    q = rho * inv_s
    return core * math.exp(-q * q) + (1.0 - core) * edge


@njit(cache=True, inline="always")
def _city_g(lon, lat, city):
    """Unit-peak profile of a city at a point (degrees); 0 outside its support.

    The one place where pixel positions become profile values: the renderer and
    the truth both call it, so the truth's lit extent is the renderer's, bit for bit.
    """
    dx = (lon - city[C_LON]) * city[C_KMX]
    dy = (lat - city[C_LAT]) * KM_PER_DEG_LAT
    u = (dx * city[C_COS] + dy * city[C_SIN]) * city[C_INV_A]
    v = (dy * city[C_COS] - dx * city[C_SIN]) * city[C_INV_B]
    r2 = u * u + v * v
    rho_max = city[C_RHO_MAX]
    if r2 >= rho_max * rho_max:
        return 0.0
    return _profile(math.sqrt(r2), city[C_CORE], city[C_INV_S], city[C_EDGE_W])


@njit(cache=True, inline="always")
def _pixel_lat(grow, res):
    return 90.0 - (grow + 0.5) * res


@njit(cache=True, inline="always")
def _pixel_lon(gcol, res):
    return -180.0 + (gcol + 0.5) * res


@njit(cache=True)
def city_window(city: np.ndarray, res: float, r_km: float = -1.0) -> tuple:
    """Global pixel window (row0, row1, col0, col1) covering a disc of ``r_km`` (default: the support)."""
    if r_km < 0.0:
        r_km = city[C_SUPPORT_KM]
    dlat = r_km / KM_PER_DEG_LAT
    dlon = r_km / city[C_KMX]
    row0 = int(math.floor((90.0 - (city[C_LAT] + dlat)) / res)) - 1
    row1 = int(math.ceil((90.0 - (city[C_LAT] - dlat)) / res)) + 1
    col0 = int(math.floor((city[C_LON] - dlon + 180.0) / res)) - 1
    col1 = int(math.ceil((city[C_LON] + dlon + 180.0) / res)) + 1
    return row0, row1, col0, col1


@njit(cache=True)
def dmsp_response(x: float, gain: float, x0: float) -> float:
    """DMSP-like DN from radiance-like light: ``gain * ln(1 + x / x0)``, clipped to [0, 63]."""
    # the same expression as render_chunk's DMSP branch (kept inline there for speed)
    return min(gain * math.log1p(x / x0), 63.0) if x > 0.0 else 0.0


@njit(cache=True, nogil=True)  # nogil: dask's threads generate chunks in parallel
def render_chunk(
    grow0: int,
    gcol0: int,
    h: int,
    w: int,
    res: float,
    cities: np.ndarray,
    sensor: int,
    key: np.uint64,
    noise: bool,
    background: float,
    sigma0: float,
    sigma_rel: float,
    gain: float,
    x0: float,
    table: np.ndarray,
) -> np.ndarray:
    """One chunk of a synthetic mosaic (float32), global rows ``grow0:grow0+h``, cols ``gcol0:gcol0+w``.

    VIIRS: ``background + L + (sigma0 + sigma_rel * L) * z`` in nW/cm²/sr, where L
    is the cities' light and z a counter-based standard normal.
    DMSP: ``clip(round(dmsp_response(L) + sigma0 * z), 0, 63)`` in DN.
    With ``noise=False`` the noiseless model is returned (DMSP: unrounded DN), the
    quantity the ground-truth table is computed from.

    Works one row at a time with a float64 row buffer (stays in cache; no
    chunk-sized temporary), visiting only the cities whose window holds the row.
    """
    n = cities.shape[0]
    win = np.empty((n, 5), np.int64)  # city index, row0, row1, col0, col1 (clipped)
    m = 0
    for k in range(n):
        r0, r1, c0, c1 = city_window(cities[k], res)
        r0, r1 = max(r0, grow0), min(r1, grow0 + h)
        c0, c1 = max(c0, gcol0), min(c1, gcol0 + w)
        if r0 < r1 and c0 < c1:
            win[m, 0], win[m, 1], win[m, 2], win[m, 3], win[m, 4] = k, r0, r1, c0, c1
            m += 1
    out = np.empty((h, w), np.float32)
    light = np.zeros(w, np.float64)
    for i in range(h):
        gr = grow0 + i
        lat = _pixel_lat(gr, res)
        for q in range(m):
            if win[q, 1] <= gr < win[q, 2]:
                city = cities[win[q, 0]]
                amp = city[C_AMP]
                for gc in range(win[q, 3], win[q, 4]):
                    light[gc - gcol0] += amp * _city_g(_pixel_lon(gc, res), lat, city)
        rk = _row_key(key, gr)
        if sensor == VIIRS:
            for j in range(w):
                L = light[j]
                v = background + L
                if noise:
                    v += (sigma0 + sigma_rel * L) * _normal_from(_mix64(rk + np.uint64(gcol0 + j) * _GOLDEN), table)
                out[i, j] = v
                light[j] = 0.0
        else:
            for j in range(w):
                L = light[j]
                v = min(gain * math.log1p(L / x0), 63.0) if L > 0.0 else 0.0
                if noise:
                    # np.floor keeps float64 (math.floor would round-trip through int64)
                    v = np.floor(v + sigma0 * _normal_from(_mix64(rk + np.uint64(gcol0 + j) * _GOLDEN), table) + 0.5)
                    v = min(max(v, 0.0), 63.0)
                out[i, j] = v
                light[j] = 0.0
    return out


@njit(cache=True)
def city_profile_window(city: np.ndarray, res: float, r_km: float = -1.0) -> tuple:
    """Unit-peak profile of one city on the global pixel window of a disc of ``r_km``.

    Returns ``(row0, col0, G)``, G float64 of the window's shape, 0 outside the support.
    """
    r0, r1, c0, c1 = city_window(city, res, r_km)
    g = np.zeros((r1 - r0, c1 - c0), np.float64)
    for gr in range(r0, r1):
        lat = _pixel_lat(gr, res)
        for gc in range(c0, c1):
            g[gr - r0, gc - c0] = _city_g(_pixel_lon(gc, res), lat, city)
    return r0, c0, g


@njit(cache=True)
def lit_rho(need: float, core: float, inv_s: float, edge_w: float, rho_max: float) -> float:
    """Normalized radius where the unit-peak profile falls to ``need`` (0 if never reached)."""
    if _profile(0.0, core, inv_s, edge_w) < need:
        return 0.0
    lo, hi = 0.0, rho_max
    for _ in range(48):  # rho_max / 2**48: far below a pixel
        mid = 0.5 * (lo + hi)
        if _profile(mid, core, inv_s, edge_w) >= need:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True)
def lit_rhos(
    need: np.ndarray, core: np.ndarray, inv_s: np.ndarray, edge_w: np.ndarray, rho_max: np.ndarray
) -> np.ndarray:
    """Vector form of :func:`lit_rho`."""
    out = np.empty(need.size)
    for k in range(need.size):
        out[k] = lit_rho(need[k], core[k], inv_s[k], edge_w[k], rho_max[k])
    return out


@njit(cache=True)
def place_discs(
    radius_km: np.ndarray,
    lon0: float,
    lat0: float,
    lon1: float,
    lat1: float,
    key: np.uint64,
    attempts: int,
) -> tuple:
    """Place discs (largest first, in the given order) so that none overlap.

    Each disc ``k`` tries up to ``attempts`` positions, uniform in area inside the
    box shrunk by its radius, drawn from the counter-based hash of (k, attempt):
    the placement is a pure function of the seed. Distances use the local
    equirectangular approximation at the pair's mean latitude (discs are
    < 100 km, the error is far below the 1 km gap callers add to the radii).

    Returns ``(lon, lat, placed)`` arrays; ``placed[k]`` is False when no free spot
    was found.
    """
    n = radius_km.size
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    placed = np.zeros(n, np.bool_)
    rmax = 0.0
    for k in range(n):
        rmax = max(rmax, radius_km[k])
    # uniform grid of cells >= 2 * rmax km wide: neighbours of a disc sit in the 3x3 block
    coslat_min = max(math.cos(math.radians(max(abs(lat0), abs(lat1)))), 0.05)
    cell_lat = max(2.0 * rmax / KM_PER_DEG_LAT, 1e-3)
    cell_lon = max(2.0 * rmax / (KM_PER_DEG_LON * coslat_min), 1e-3)
    ny = int((lat1 - lat0) / cell_lat) + 1
    nx = int((lon1 - lon0) / cell_lon) + 1
    head = np.full(ny * nx, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    s0, s1 = math.sin(math.radians(lat0)), math.sin(math.radians(lat1))
    for k in range(n):
        r = radius_km[k]
        for t in range(attempts):
            ua = hash_uniform(key, k, 2 * t)
            ub = hash_uniform(key, k, 2 * t + 1)
            la = math.degrees(math.asin(s0 + ua * (s1 - s0)))
            dlat = r / KM_PER_DEG_LAT
            if la - dlat < lat0 or la + dlat > lat1:
                continue
            dlon = r / (KM_PER_DEG_LON * max(math.cos(math.radians(la)), 1e-6))
            if lon0 + dlon >= lon1 - dlon:
                continue
            lo = lon0 + dlon + ub * (lon1 - lon0 - 2.0 * dlon)
            cy = min(int((la - lat0) / cell_lat), ny - 1)
            cx = min(int((lo - lon0) / cell_lon), nx - 1)
            ok = True
            for yy in range(max(cy - 1, 0), min(cy + 2, ny)):
                for xx in range(max(cx - 1, 0), min(cx + 2, nx)):
                    m = head[yy * nx + xx]
                    while m >= 0 and ok:
                        mlat = 0.5 * (la + lat[m])
                        dx = (lo - lon[m]) * KM_PER_DEG_LON * math.cos(math.radians(mlat))
                        dy = (la - lat[m]) * KM_PER_DEG_LAT
                        if dx * dx + dy * dy < (r + radius_km[m]) ** 2:
                            ok = False
                        m = nxt[m]
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                lon[k], lat[k], placed[k] = lo, la, True
                c = cy * nx + cx
                nxt[k] = head[c]
                head[c] = k
                break
    return lon, lat, placed


#: Authalic Earth radius (km): pixel areas on the WGS84 ellipsoid to ~0.1 %.
R_AUTHALIC_KM = 6371.0072


@njit(cache=True)
def pixel_area_km2(grow: int, res: float) -> float:
    """Ground area of a pixel of a geographic grid, A = R²·Δλ·(sin φ₁ − sin φ₂) (km²)."""
    top = math.radians(90.0 - grow * res)
    bottom = math.radians(90.0 - (grow + 1) * res)
    return R_AUTHALIC_KM * R_AUTHALIC_KM * math.radians(res) * (math.sin(top) - math.sin(bottom))


@njit(cache=True, inline="always")
def _sensor_value(x, sensor, background, gain, x0):
    if sensor == VIIRS:
        return background + x
    return dmsp_response(x, gain, x0)


@njit(cache=True)
def _lit_sum(g_lit, amp, sensor, background, gain, x0):
    s = 0.0
    for i in range(g_lit.size):
        s += _sensor_value(amp * g_lit[i], sensor, background, gain, x0)
    return s


@njit(cache=True)
def _solve_factor(g_lit, peak, goal, s1, c, f_max, sensor, background, gain, x0):
    """f with S(f) = goal, S monotone: Illinois regula falsi (superlinear), bisection-safe."""
    if c < 0.0:
        a, fa, b, fb = 0.0, _lit_sum(g_lit, 0.0, sensor, background, gain, x0) - goal, 1.0, s1 - goal
    else:
        a, fa, b = 1.0, s1 - goal, f_max
        fb = _lit_sum(g_lit, peak * f_max, sensor, background, gain, x0) - goal
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    side = 0
    x = 0.5 * (a + b)
    for _ in range(200):
        x = (a * fb - b * fa) / (fb - fa)
        if not (a < x < b):
            x = 0.5 * (a + b)
        fx = _lit_sum(g_lit, peak * x, sensor, background, gain, x0) - goal
        if abs(fx) <= 1e-13 * goal or b - a < 1e-15:
            break
        if (fx < 0.0) == (fa < 0.0):
            a, fa = x, fx
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = x, fx
            if side == 1:
                fa *= 0.5
            side = 1
    return x


@njit(cache=True, nogil=True)
def city_truth(
    cities: np.ndarray,
    res: float,
    sensor: int,
    threshold: float,
    background: float,
    gain: float,
    x0: float,
    target: np.ndarray,
    progress: np.ndarray,
    f_max: float,
) -> tuple:
    """Exact ground truth of every city on the pixel grid, and its brightness factors.

    For city k (``cities[k, C_AMP]`` = base-year peak): the base-year lit extent is
    the set of its pixels whose noiseless value (VIIRS ``background + L``, DMSP
    ``dmsp_response(L)``) is ``>= threshold``; S(f) is the sum of noiseless values
    over that extent when the city's light is scaled by f. The last-year factor
    solves ``S(f) / S(1) - 1 = target[k]`` (closed form for VIIRS, Illinois
    regula falsi for the saturating DMSP response); where DMSP saturation makes the target
    unreachable below ``f_max`` the factor is ``1 + target`` and the change is what
    the sensor shows. Year t uses ``1 + (f - 1) * progress[k, t]``. A city without
    lit pixels gets ``f = 1 + target`` and changes ``f_t - 1`` (change of its total light).

    Returns
    -------
    factors : (n, n_years) brightness factors (1 in the first year when progress is 0)
    changes : (n, n_years) relative change of S vs the first year
    lit_px : (n,) base-year lit pixel count
    lit_area : (n,) base-year lit area, km²
    base_sum : (n,) S(1): noiseless base-year total light inside the lit extent
    """
    n = cities.shape[0]
    ny = progress.shape[1]
    factors = np.ones((n, ny))
    changes = np.zeros((n, ny))
    lit_px = np.zeros(n, np.int64)
    lit_area = np.zeros(n)
    base_sum = np.zeros(n)
    for k in range(n):
        city = cities[k]
        peak = city[C_AMP]
        # lit pixels lie inside rho <= rho_T: evaluate only that ellipse's bounding
        # disc (+ margin); the lit test below is the renderer's exact one
        if sensor == VIIRS:
            need = (threshold - background) / peak
        else:
            need = x0 * math.expm1(threshold / gain) / peak
        rho_t = lit_rho(need, city[C_CORE], city[C_INV_S], city[C_EDGE_W], city[C_RHO_MAX])
        r_km = min(rho_t * 1.001 / min(city[C_INV_A], city[C_INV_B]), city[C_SUPPORT_KM])
        r0, c0, g = city_profile_window(city, res, r_km)
        h, w = g.shape
        g_lit = np.empty(h * w)
        m = 0
        area = 0.0
        for i in range(h):
            pa = pixel_area_km2(r0 + i, res)
            for j in range(w):
                if g[i, j] > 0.0 and _sensor_value(peak * g[i, j], sensor, background, gain, x0) >= threshold:
                    g_lit[m] = g[i, j]
                    m += 1
                    area += pa
        g_lit = g_lit[:m]
        lit_px[k] = m
        lit_area[k] = area
        c = target[k]
        if m == 0:
            f = 1.0 + c
            for t in range(ny):
                factors[k, t] = 1.0 + (f - 1.0) * progress[k, t]
                changes[k, t] = factors[k, t] - 1.0
            continue
        s1 = _lit_sum(g_lit, peak, sensor, background, gain, x0)
        base_sum[k] = s1
        if sensor == VIIRS:
            p = s1 - background * m
            f = 1.0 + c * s1 / p
        else:
            goal = s1 * (1.0 + c)
            if _lit_sum(g_lit, peak * f_max, sensor, background, gain, x0) < goal:
                f = 1.0 + c
            else:
                f = _solve_factor(g_lit, peak, goal, s1, c, f_max, sensor, background, gain, x0)
        for t in range(ny):
            ft = 1.0 + (f - 1.0) * progress[k, t]
            factors[k, t] = ft
            changes[k, t] = _lit_sum(g_lit, peak * ft, sensor, background, gain, x0) / s1 - 1.0
    return factors, changes, lit_px, lit_area, base_sum
