"""The noiseless city model of the synthetic world (numba): profiles on the grid, sensor response, placement.

A city is one row of a float64 parameter matrix (columns ``C_*``). Its light at a
point is ``C_AMP`` times a unit-peak radial profile of the normalized elliptical
distance rho (:func:`city_g`): a Gaussian core over a plateau with a smooth edge,
exactly 0 beyond ``C_RHO_MAX``. :func:`city_g` is the one place where pixel
positions become profile values: the renderer (``synth.render_chunk``) and the
ground truth (``synth_truth.city_truth``) both call it, so the truth's lit extent
is the renderer's, bit for bit. :func:`sensor_value` turns city light into the
noiseless VIIRS radiance or DMSP DN. :func:`place_discs` places non-overlapping
city discs, greedily and largest first, from the counter-based hash.

Plain NumPy arrays only; the NumPy twins are in ``tests/synthetic/test_synth.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .synth_noise import hash_uniform

#: Sensor codes shared with ``nightlight.synthetic``.
VIIRS = 0
DMSP = 1

#: km per degree of latitude (mean): turns km into degrees.
KM_PER_DEG_LAT = 110.574
#: km per degree of longitude at the equator (scaled by cos(latitude)).
KM_PER_DEG_LON = 111.320
#: Authalic Earth radius (km): pixel areas on the WGS84 ellipsoid to ~0.1 %.
R_AUTHALIC_KM = 6371.0072

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


@njit(cache=True, nogil=True, inline="always")
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


@njit(cache=True, nogil=True, inline="always")
def city_g(lon, lat, city):
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


@njit(cache=True, nogil=True, inline="always")
def pixel_lat(grow, res):
    """Latitude (degrees) of the centre of global row ``grow`` of a ``res``-degree grid from 90°N."""
    return 90.0 - (grow + 0.5) * res


@njit(cache=True, nogil=True, inline="always")
def pixel_lon(gcol, res):
    """Longitude (degrees) of the centre of global column ``gcol`` of a ``res``-degree grid from 180°W."""
    return -180.0 + (gcol + 0.5) * res


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def pixel_area_km2(grow: int, res: float) -> float:
    """Ground area of a pixel of a geographic grid, A = R²·Δλ·(sin φ₁ − sin φ₂) (km²)."""
    top = math.radians(90.0 - grow * res)
    bottom = math.radians(90.0 - (grow + 1) * res)
    return R_AUTHALIC_KM * R_AUTHALIC_KM * math.radians(res) * (math.sin(top) - math.sin(bottom))


@njit(cache=True, nogil=True, inline="always")  # inline: called per pixel by the renderer and the truth
def dmsp_response(x: float, gain: float, x0: float) -> float:
    """DMSP-like DN from radiance-like light: ``gain * ln(1 + x / x0)``, clipped to [0, 63]."""
    return min(gain * math.log1p(x / x0), 63.0) if x > 0.0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def sensor_value(x, sensor, background, gain, x0):
    """Noiseless sensor value of city light ``x``: VIIRS ``background + x`` (nW/cm²/sr), DMSP DN."""
    if sensor == VIIRS:
        return background + x
    return dmsp_response(x, gain, x0)


@njit(cache=True, nogil=True)
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
