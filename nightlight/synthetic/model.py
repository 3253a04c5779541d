"""The synthetic world's model: sensors, grids, the city catalogue and its planted changes.

Constants of the two synthetic sensors (grid resolution, lit threshold, units,
noise and blooming) and of the city population; the grid of a box on a sensor's
global grid (:func:`grid_for`); the sensor-independent catalogue draw, redrawn
where noise could move a city's lit area across the 5 km² natural-city rule
(:func:`draw_catalogue`, with the analytic lit area it needs); the planted changes
and their yearly progress; the per-city parameter matrix of the kernels
(:func:`city_matrix`). :func:`make_world` (``make.py``) runs these in order; the
kernels are ``nightlight.kernels.synth_*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import rasterio.crs
from affine import Affine

from nightlight.errors import GridMismatchError
from nightlight.grid import Grid
from nightlight.kernels import synth_city as kcity
from nightlight.kernels import synth_noise as knoise

Sensor = Literal["viirs", "dmsp"]

#: Pixel size (degrees) of each sensor's global grid: 15″ VIIRS, 30″ DMSP.
RESOLUTION = {"viirs": 1.0 / 240.0, "dmsp": 1.0 / 120.0}
#: Default lit threshold of each sensor (nW/cm²/sr for VIIRS, DN for DMSP).
LIT_THRESHOLD = {"viirs": 5.0, "dmsp": 20.0}
UNITS = {"viirs": "nW/cm2/sr", "dmsp": "DN"}
#: Natural-city minimum area (km²), Jiang, Zhai, Meng & Long 2020.
MIN_CITY_AREA_KM2 = 5.0
#: Cities whose lit area could fall in this range (km²) given the noise are redrawn.
AREA_BAND_KM2 = (3.5, 7.5)

#: Default region: a 4° × 3° box at mid-latitude (960 × 720 px at 15″, ~103,000 km²).
DEFAULT_BOUNDS = (10.0, 44.0, 14.0, 47.0)
#: Cities per km² when ``n_cities`` is not given (~155 in the default box) …
CITY_DENSITY_PER_KM2 = 1.5e-3
#: … capped for big regions: the globe gets 20,000 cities (the DMSP-era global
#: study counted ~16,000 natural cities).
MAX_DEFAULT_CITIES = 20_000

# Sensor characters (see the package docstring, ``nightlight.synthetic``).
_VIIRS = dict(background=0.2, sigma0=0.3, sigma_rel=0.02, gain=0.0, x0=1.0, bloom=1.0, flare_bloom=1.0, edge_w=0.25)
_DMSP = dict(background=0.0, sigma0=0.5, sigma_rel=0.0, gain=14.0, x0=1.0, bloom=1.3, flare_bloom=2.5, edge_w=0.4)
SENSOR_PARAMS = {"viirs": _VIIRS, "dmsp": _DMSP}
_FLARE_RHO_MAX = 3.5
_FLARE_A_KM = 0.35  # Gaussian σ = a/√2 ≈ 0.25 km

#: Planted change ranges by kind (relative change of total light).
CHANGE_RANGES = {"shrinking": (-0.50, -0.15), "stable": (-0.04, 0.04), "growing": (0.05, 0.60)}
NEAR_BOUNDARY_RANGE = (-0.13, -0.07)
SHRINK_THRESHOLD = -0.10


@dataclass(frozen=True)
class SensorModel:
    """Sensor constants handed to the kernels."""

    code: int
    res: float
    threshold: float
    background: float
    sigma0: float
    sigma_rel: float
    gain: float
    x0: float


def sensor_model(sensor: str) -> SensorModel:
    """The kernels' constants of one sensor."""
    s = SENSOR_PARAMS[sensor]
    return SensorModel(
        code=kcity.VIIRS if sensor == "viirs" else kcity.DMSP,
        res=RESOLUTION[sensor],
        threshold=LIT_THRESHOLD[sensor],
        **{k: s[k] for k in ("background", "sigma0", "sigma_rel", "gain", "x0")},
    )


def year_key(seed: int, year: int, stream: int) -> np.uint64:
    # np.uint64 so the kernels always see an unsigned key (a Python int above 2**63
    # would not fit numba's int64, one below would make uint64 arithmetic float64)
    return np.uint64(knoise.stream_key(seed, year, stream))


def grid_for(bounds, res: float, sensor: str) -> tuple[Grid, tuple[int, int]]:
    try:
        lon0, lat0, lon1, lat1 = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise GridMismatchError(f"bounds={bounds!r}: expected (lon0, lat0, lon1, lat1) in degrees.") from None
    if not (-180.0 <= lon0 < lon1 <= 180.0 and -90.0 <= lat0 < lat1 <= 90.0):
        raise GridMismatchError(
            f"bounds={bounds!r}: need -180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90 (degrees, EPSG:4326)."
        )
    idx = []
    for v, o in ((lon0, -180.0), (lat1, 90.0), (lon1, -180.0), (lat0, 90.0)):
        q = abs(v - o) / res
        if abs(q - round(q)) > 1e-6:
            step = "15″ (1/240°)" if sensor == "viirs" else "30″ (1/120°)"
            raise GridMismatchError(
                f"bounds={bounds!r}: {v} is not on the {sensor} grid ({step} pixels from -180°/90°). "
                f"Fix: round the bounds to multiples of {res:.9g}°, e.g. whole or half degrees."
            )
        idx.append(int(round(q)))
    col0, row0, col1, row1 = idx
    transform = Affine(res, 0.0, -180.0 + col0 * res, 0.0, -res, 90.0 - row0 * res)
    grid = Grid(crs=rasterio.crs.CRS.from_epsg(4326), transform=transform, shape=(row1 - row0, col1 - col0))
    return grid, (row0, col0)


def box_area_km2(lon0, lat0, lon1, lat1) -> float:
    r = kcity.R_AUTHALIC_KM
    return r * r * math.radians(lon1 - lon0) * (math.sin(math.radians(lat1)) - math.sin(math.radians(lat0)))


def draw_catalogue(rng: np.random.Generator, n_cities: int, n_flares: int) -> dict[str, np.ndarray]:
    """Sensor-independent city parameters, redrawn where a lit area is near 5 km²."""
    n = n_cities + n_flares
    is_flare = np.zeros(n, bool)
    is_flare[n_cities:] = True
    cat = {
        "is_flare": is_flare,
        "radius_km": np.zeros(n),
        "aspect": np.ones(n),
        "theta": np.zeros(n),
        "core": np.ones(n),
        "core_s": np.ones(n),
        "peak": np.zeros(n),
    }

    def draw(idx: np.ndarray) -> None:
        m = idx.size
        fl = is_flare[idx]
        # truncated Pareto, alpha = 2, on [1.5, 25] km
        rmin, rmax, alpha = 1.5, 25.0, 2.0
        u = rng.random(m)
        r = rmin * (1.0 - u * (1.0 - (rmin / rmax) ** alpha)) ** (-1.0 / alpha)
        aspect = rng.uniform(1.0, 1.5, m)
        theta = rng.uniform(0.0, math.pi, m)
        core = rng.uniform(0.45, 0.8, m)
        core_s = rng.uniform(0.25, 0.4, m)
        peak = np.minimum(12.0 * (r / rmin) ** 0.5 * rng.lognormal(0.0, 0.6, m), 1000.0)
        flare_peak = np.clip(rng.lognormal(math.log(400.0), 0.5, m), 150.0, 1500.0)
        cat["radius_km"][idx] = np.where(fl, _FLARE_A_KM, r)
        cat["aspect"][idx] = np.where(fl, 1.0, aspect)
        cat["theta"][idx] = np.where(fl, 0.0, theta)
        cat["core"][idx] = np.where(fl, 1.0, core)
        cat["core_s"][idx] = np.where(fl, 1.0, core_s)
        cat["peak"][idx] = np.where(fl, flare_peak, peak)

    todo = np.arange(n)
    for _ in range(200):
        draw(todo)
        sub = {k: v[todo] for k, v in cat.items()}
        bad = np.zeros(todo.size, bool)
        for sensor in SENSOR_PARAMS:
            # the noisy extent lies between the lit ellipses at threshold ± ~3σ of
            # the noise: redraw when that range of areas can straddle 5 km²
            lo_t, hi_t = _threshold_band(sensor)
            bad |= (_analytic_lit_area(sub, sensor, hi_t) < AREA_BAND_KM2[1]) & (
                _analytic_lit_area(sub, sensor, lo_t) > AREA_BAND_KM2[0]
            )
        todo = todo[bad]
        if todo.size == 0:
            break
    cat["a_km"] = cat["radius_km"] * np.sqrt(cat["aspect"])
    cat["b_km"] = cat["radius_km"] / np.sqrt(cat["aspect"])
    disc = np.maximum(_support_km(cat, "viirs"), _support_km(cat, "dmsp"))
    cat["disc_km"] = disc * 1.03 + 0.5  # half of the >= 1 km gap between two discs
    return cat


def _edge_w(cat, sensor):
    return np.where(cat["is_flare"], 0.5, SENSOR_PARAMS[sensor]["edge_w"])


def _rho_max(cat, sensor):
    return np.where(cat["is_flare"], _FLARE_RHO_MAX, 1.0 + SENSOR_PARAMS[sensor]["edge_w"])


def _bloom(cat, sensor):
    s = SENSOR_PARAMS[sensor]
    return np.where(cat["is_flare"], s["flare_bloom"], s["bloom"])


def _support_km(cat, sensor):
    a = cat["radius_km"] * np.sqrt(cat["aspect"])
    return a * _bloom(cat, sensor) * _rho_max(cat, sensor)


def _threshold_band(sensor: str) -> tuple[float, float]:
    """Thresholds (sensor units) ~3σ of the pixel noise below and above the lit threshold."""
    s, t = SENSOR_PARAMS[sensor], LIT_THRESHOLD[sensor]
    d = 3.0 * (s["sigma0"] + s["sigma_rel"] * t) + (0.5 if sensor == "dmsp" else 0.0)  # + DN rounding
    return t - d, t + d


def _light_needed(sensor: str, threshold: float) -> float:
    """City light (above background) at which a pixel's noiseless value reaches ``threshold``."""
    s = SENSOR_PARAMS[sensor]
    if sensor == "viirs":
        return threshold - s["background"]
    return s["x0"] * math.expm1(threshold / s["gain"])


def _analytic_lit_area(cat: dict, sensor: str, threshold: float) -> np.ndarray:
    """Continuous base-year lit area (km²) at ``threshold``: the ellipse rho <= rho_T, by bisection on rho."""
    need = _light_needed(sensor, threshold) / cat["peak"]
    lit_rho = np.vectorize(kcity.lit_rho, otypes=[float])
    rho_t = lit_rho(need, cat["core"], 1.0 / cat["core_s"], _edge_w(cat, sensor), _rho_max(cat, sensor))
    a = cat["radius_km"] * np.sqrt(cat["aspect"]) * _bloom(cat, sensor)
    b = cat["radius_km"] / np.sqrt(cat["aspect"]) * _bloom(cat, sensor)
    return math.pi * a * b * rho_t**2


def plant_changes(rng, is_flare, shares, n_near_boundary, ranges=CHANGE_RANGES):
    n = is_flare.size
    kinds = np.array(["shrinking", "stable", "growing"])
    kind = kinds[rng.choice(3, size=n, p=np.asarray(shares, float))]
    planted = np.empty(n)
    for k in kinds:
        sel = kind == k
        planted[sel] = rng.uniform(*ranges[k], size=int(sel.sum()))
    if n_near_boundary:
        near = rng.choice(np.flatnonzero(~is_flare), size=n_near_boundary, replace=False)
        planted[near] = rng.uniform(*NEAR_BOUNDARY_RANGE, size=n_near_boundary)
    return kind, planted


def draw_progress(rng, n: int, n_years: int) -> np.ndarray:
    """Monotone-ish progress 0 → 1 over the years: t^γ plus a small wiggle."""
    t = np.linspace(0.0, 1.0, n_years)
    gamma = rng.uniform(0.7, 1.4, n)[:, None]
    p = t[None, :] ** gamma
    if n_years > 2:
        p[:, 1:-1] += rng.normal(0.0, 0.03, (n, n_years - 2))
    p[:, 0], p[:, -1] = 0.0, 1.0
    return np.ascontiguousarray(p)


def city_matrix(cat: dict, sensor: str) -> np.ndarray:
    n = cat["lon"].size
    c = np.zeros((n, kcity.N_CITY_COLS))
    bloom = _bloom(cat, sensor)
    c[:, kcity.C_LON] = cat["lon"]
    c[:, kcity.C_LAT] = cat["lat"]
    c[:, kcity.C_COS] = np.cos(cat["theta"])
    c[:, kcity.C_SIN] = np.sin(cat["theta"])
    c[:, kcity.C_INV_A] = 1.0 / (cat["a_km"] * bloom)
    c[:, kcity.C_INV_B] = 1.0 / (cat["b_km"] * bloom)
    c[:, kcity.C_CORE] = cat["core"]
    c[:, kcity.C_INV_S] = 1.0 / cat["core_s"]
    c[:, kcity.C_EDGE_W] = _edge_w(cat, sensor)
    c[:, kcity.C_RHO_MAX] = _rho_max(cat, sensor)
    c[:, kcity.C_AMP] = cat["peak"]
    c[:, kcity.C_SUPPORT_KM] = _support_km(cat, sensor)
    c[:, kcity.C_KMX] = kcity.KM_PER_DEG_LON * np.cos(np.radians(cat["lat"]))
    return c
