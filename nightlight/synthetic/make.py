""":func:`make_world`: build a synthetic world with planted shrinking cities.

:func:`make_world` only coordinates; each phase is a function below, run in this
order (the random draws of the catalogue and the changes share one generator, so
the order is part of the result):

1. ``_check_arguments`` — the arguments that no later phase checks;
2. grid — ``model.grid_for``: the box on the sensor's global grid;
3. ``_city_counts`` — default and checked numbers of cities and flares;
4. ``_catalogue`` — draw the cities, place them without overlap, number them;
5. ``_changes`` — planted changes and their yearly progress;
6. ``model.sensor_model``, ``model.city_matrix`` — the kernels' sensor constants
   and per-city parameters;
7. ``_truth`` — the exact truth table and brightness factors (kernel ``synth_truth``);
8. the :class:`World` that renders the mosaics lazily.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from nightlight.errors import CatalogError, NightlightError
from nightlight.io.raster import chunk_pair
from nightlight.kernels import synth_city as kcity
from nightlight.kernels import synth_truth as ktruth
from nightlight.synthetic.model import (
    CHANGE_RANGES,
    CITY_DENSITY_PER_KM2,
    DEFAULT_BOUNDS,
    MAX_DEFAULT_CITIES,
    MIN_CITY_AREA_KM2,
    RESOLUTION,
    SENSOR_PARAMS,
    SHRINK_THRESHOLD,
    UNITS,
    Sensor,
    SensorModel,
    box_area_km2,
    city_matrix,
    draw_catalogue,
    draw_progress,
    grid_for,
    plant_changes,
    sensor_model,
    year_key,
)
from nightlight.synthetic.world import World

#: Largest brightness factor the truth solver tries: a (saturated DMSP) city whose planted
#: change is out of reach below it keeps the factor 1 + change (``synth_truth.city_truth``).
_F_MAX = 10.0


def make_world(
    *,
    seed: int = 0,
    sensor: Sensor = "viirs",
    bounds: tuple[float, float, float, float] = DEFAULT_BOUNDS,
    n_cities: int | None = None,
    n_flares: int | None = None,
    years: Iterable[int] = (2013, 2016),
    chunks: int | tuple[int, int] = 2048,
    shares: tuple[float, float, float] = (0.3, 0.4, 0.3),
    n_near_boundary: int = 0,
    progress: str = "smooth",
    year_scatter: float = 0.0,
    change_ranges: dict[str, tuple[float, float]] | None = None,
) -> World:
    """Build a deterministic synthetic world with planted shrinking cities.

    Parameters
    ----------
    seed : int
        Everything (catalogue, changes, noise) is a pure function of it.
    sensor : {"viirs", "dmsp"}
        VIIRS-like 15″ radiance (nW/cm²/sr) or DMSP-like 30″ DN (0–63).
    bounds : (lon0, lat0, lon1, lat1)
        Degrees, EPSG:4326; must fall on the sensor's grid (multiples of 15″ or
        30″ from −180/90). Default: a 4° × 3° box at 44–47°N.
        ``(-180, -65, 180, 75)`` is the global VNL/DMSP extent.
    n_cities : int, optional
        Planted cities (excluding flares); default ``1.5e-3 per km²`` of the box,
        at most 20,000. Fewer are placed if the box is full (a warning says so).
    n_flares : int, optional
        Gas-flare points; default one per 35,000 km², between 2 and 500.
    years : iterable of int
        ≥ 2 distinct years; the first is the base year, changes go first → last.
    chunks : int or (int, int)
        Default dask chunk shape of the mosaics (pixels).
    shares : (shrinking, stable, growing)
        Fractions of planted kinds.
    n_near_boundary : int
        Cities whose planted change is in −13 %…−7 %, near the −10 % decision
        boundary (none by default, so a correct detector reaches ~100 %).
    progress : {"smooth", "step"}
        How a city's planted change unfolds over the years: ``"smooth"`` (t^γ plus a
        wiggle, :func:`~nightlight.synthetic.model.draw_progress`) or ``"step"``: all at
        once in one year drawn per city, not in the first or last two years when there
        are ≥ 5 years (so two-year base and compare means see none of it).
    year_scatter : float ≥ 0
        City-level year-to-year scatter: every city's brightness in every year is
        multiplied by ``exp(year_scatter · z)``, z ~ N(0, 1) independent over cities and
        years (0.08 ≈ an 8 % sd, like real annual products). It is noise, not change:
        ``true_change``/``change_<year>`` stay the planted signal; ``factor_<year>``
        are the factors rendered (scatter included).
    change_ranges : dict, optional
        Planted change range per kind, replacing those of :data:`CHANGE_RANGES` it names,
        e.g. ``{"shrinking": (-0.3, -0.3)}`` plants exactly −30 %.

    Returns
    -------
    World
    """
    years_t = _check_arguments(seed, sensor, years, shares)
    if progress not in ("smooth", "step") or not (isinstance(year_scatter, (int, float)) and year_scatter >= 0):
        raise NightlightError(
            f"progress={progress!r}, year_scatter={year_scatter!r}: progress is 'smooth' or 'step', "
            "year_scatter a number ≥ 0 (e.g. 0.08)."
        )
    grid, origin = grid_for(bounds, RESOLUTION[sensor], sensor)
    n_cities, n_flares = _city_counts(bounds, n_cities, n_flares, n_near_boundary)
    rng = np.random.default_rng([int(seed), 0x5EED])
    cat = _catalogue(rng, seed, bounds, n_cities, n_flares)
    ranges = {**CHANGE_RANGES, **(change_ranges or {})}
    planted, steps = _changes(rng, cat, shares, n_near_boundary, len(years_t), step=progress == "step", ranges=ranges)
    model = sensor_model(sensor)
    cities = city_matrix(cat, sensor)
    truth, factors = _truth(cat, cities, model, planted, steps, years_t, sensor, seed)
    if year_scatter > 0:
        # drawn last, from the same generator: worlds without scatter are unchanged
        factors = factors * np.exp(year_scatter * rng.standard_normal(factors.shape))
        for t, y in enumerate(years_t):
            truth[f"factor_{y}"] = factors[:, t]
        truth.attrs["year_scatter"] = float(year_scatter)
    return World(
        seed=int(seed),
        sensor=sensor,
        years=years_t,
        grid=grid,
        truth=truth,
        lit_threshold=model.threshold,
        chunks=chunk_pair(chunks, grid.shape, label="make_world") or grid.shape,  # None: one chunk
        _model=model,
        _cities=cities,
        _factors=factors,
        _origin=origin,
    )


# ------------------------------------------------------------------- phases
def _check_arguments(seed, sensor, years, shares) -> tuple[int, ...]:
    """Check sensor, seed, years and shares; return the sorted distinct years."""
    if sensor not in SENSOR_PARAMS:
        raise CatalogError(f"sensor={sensor!r} is not a synthetic sensor; use one of {sorted(SENSOR_PARAMS)}.")
    if not (isinstance(seed, (int, np.integer)) and 0 <= int(seed) < 2**63):
        raise NightlightError(f"seed={seed!r}: give an int in [0, 2**63).")
    years_t = tuple(sorted({int(y) for y in years}))
    if len(years_t) < 2:
        raise NightlightError(
            f"years={tuple(years)!r}: need at least two distinct years (a base year and a later one)."
        )
    if abs(sum(shares) - 1.0) > 1e-9 or min(shares) < 0:
        raise NightlightError(
            f"shares={shares!r}: three non-negative fractions (shrinking, stable, growing) summing to 1."
        )
    return years_t


def _city_counts(bounds, n_cities: int | None, n_flares: int | None, n_near_boundary: int) -> tuple[int, int]:
    """Numbers of cities and flares: the given ones, or the defaults for the box's area (km²)."""
    lon0, lat0, lon1, lat1 = (float(b) for b in bounds)
    area_km2 = box_area_km2(lon0, lat0, lon1, lat1)
    if n_cities is None:
        n_cities = int(min(round(CITY_DENSITY_PER_KM2 * area_km2), MAX_DEFAULT_CITIES))
    if n_flares is None:
        n_flares = int(min(max(round(area_km2 / 35_000.0), 2), 500))
    if n_cities < 0 or n_flares < 0 or n_near_boundary < 0 or n_near_boundary > n_cities:
        raise NightlightError(
            f"n_cities={n_cities}, n_flares={n_flares}, n_near_boundary={n_near_boundary}: "
            "counts must be ≥ 0 and n_near_boundary ≤ n_cities."
        )
    return n_cities, n_flares


def _catalogue(rng: np.random.Generator, seed: int, bounds, n_cities: int, n_flares: int) -> dict[str, np.ndarray]:
    """Draw the cities, place them without touching, and order them north-west first (ids 1…n).

    Cities that find no free spot are dropped with a warning (to the caller of
    :func:`make_world`).
    """
    lon0, lat0, lon1, lat1 = (float(b) for b in bounds)
    cat = draw_catalogue(rng, n_cities, n_flares)
    # place largest first: discs cover both sensors' supports, so one seed gives the
    # same cities to a VIIRS and a DMSP world
    cat = _take(cat, np.argsort(-cat["disc_km"], kind="stable"))
    lon, lat, placed = kcity.place_discs(cat["disc_km"], lon0, lat0, lon1, lat1, year_key(seed, 0, 7), 400)
    if not placed.all():
        warnings.warn(
            f"make_world: only {int(placed.sum())} of {placed.size} cities fit in bounds={bounds} without "
            "touching; pass a smaller n_cities or larger bounds.",
            stacklevel=3,  # make_world's caller
        )
    cat = {**_take(cat, placed), "lon": lon[placed], "lat": lat[placed]}
    # ids in reading order (north-west first) so they are stable and easy to eyeball
    return _take(cat, np.lexsort((cat["lon"], -cat["lat"])))


def _take(cat: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every column of the catalogue at ``rows`` (an index or a boolean mask)."""
    return {k: v[rows] for k, v in cat.items()}


def _changes(
    rng: np.random.Generator, cat: dict, shares, n_near_boundary: int, n_years: int, *, step: bool, ranges: dict
):
    """Planted relative change of each city's light (first → last year) and its (n, n_years) progress."""
    # the planted kind is implied by the planted change; the reported kind follows the
    # true change (they differ only for saturated DMSP cities that cannot show growth)
    _, planted = plant_changes(rng, cat["is_flare"], shares, n_near_boundary, ranges)
    n = cat["lon"].size
    if step:
        lo, hi = (2, n_years - 2) if n_years >= 5 else (1, n_years - 1)
        at = rng.integers(lo, hi + 1, n)  # the first year at the changed level
        return planted, np.ascontiguousarray((np.arange(n_years)[None, :] >= at[:, None]).astype(np.float64))
    return planted, draw_progress(rng, n, n_years)


def _truth(
    cat: dict,
    cities: np.ndarray,
    model: SensorModel,
    planted: np.ndarray,
    progress: np.ndarray,
    years: tuple[int, ...],
    sensor: str,
    seed: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The truth table (one row per city, see :class:`World`) and the (n, n_years) brightness factors."""
    factors, changes, lit_px, lit_area, base_sum = ktruth.city_truth(
        cities,
        model.res,
        model.code,
        model.threshold,
        model.background,
        model.gain,
        model.x0,
        planted,
        progress,
        _F_MAX,
    )
    n = cat["lon"].size
    true_change = changes[:, -1]
    kind = np.where(
        true_change <= SHRINK_THRESHOLD,
        "shrinking",
        np.where(true_change >= CHANGE_RANGES["growing"][0], "growing", "stable"),
    )
    truth = pd.DataFrame(
        {
            "city_id": np.arange(1, n + 1, dtype=np.int64),
            "lon": cat["lon"],
            "lat": cat["lat"],
            "radius_km": cat["radius_km"],
            "semi_major_km": cat["a_km"],
            "semi_minor_km": cat["b_km"],
            "angle_deg": np.degrees(cat["theta"]),
            "peak": cat["peak"],
            "is_flare": cat["is_flare"],
            "planted_change": planted,
            "true_change": true_change,
            "kind": pd.Categorical(kind, categories=["shrinking", "stable", "growing"]),
            "lit_px": lit_px,
            "lit_area_km2": lit_area,
            "base_light": base_sum,
            "expected_natural_city": lit_area > MIN_CITY_AREA_KM2,
        }
    )
    for t, y in enumerate(years):
        truth[f"factor_{y}"] = factors[:, t]
    for t, y in enumerate(years):
        truth[f"change_{y}"] = changes[:, t]
    truth.attrs.update(
        {
            "sensor": sensor,
            "seed": int(seed),
            "years": list(years),
            "lit_threshold": model.threshold,
            "units": UNITS[sensor],
            "min_area_km2": MIN_CITY_AREA_KM2,
        }
    )
    return truth, factors
