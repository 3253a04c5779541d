"""A synthetic night-light world with known shrinking cities (ground truth for tests and benchmarks).

``make_world(seed=...)`` builds a catalogue of cities on a real geographic grid
(EPSG:4326) and returns a :class:`World` whose mosaics are generated lazily, chunk by
chunk, by numba kernels (``nightlight.kernels.synth``). A pixel's value is a pure
function of (seed, year, global row, global column): the mosaic does not depend on
its chunking, and a global 15″ mosaic (86,400 × 33,600 px) never sits in memory.

The model
---------
*Cities* have a heavy-tailed size distribution (radius R ~ truncated Pareto,
α = 2, 1.5–25 km: many small, few large, as natural-city sizes follow Zipf's law,
Jiang & Jia 2011), a slightly elliptical smooth profile (Gaussian core + plateau
with a smooth edge, exactly zero beyond its support) and a lognormal peak
brightness that grows with size. Supports never overlap (plus a ≥ 1 km gap), so
every natural city extracted from the base-year mosaic is exactly one planted
city. Cities are spread uniformly by area over the box (oceans included: a test
world, not a map); the same seed gives the same cities, ids and planted changes
to a VIIRS and a DMSP world.

*Sensors* (METHOD.md, "Sensors"):

* ``"viirs"`` — 15″ grid, radiance in nW/cm²/sr: background 0.2, additive
  Gaussian noise σ = 0.3 (+2 % of the city light), hence small negative values;
  gas flares as very bright ~0.25 km Gaussian spots; long-tailed lognormal cores.
* ``"dmsp"`` — 30″ grid, DN 0–63: blooming (profiles 1.3× wider with softer
  edges, flares 2.5× wider), DN = clip(round(14·ln(1 + L) + 0.5·z), 0, 63),
  saturating at 63 in bright cores; integer values stored as float32.

*Default lit thresholds* (:data:`LIT_THRESHOLD`): 5 nW/cm²/sr for VIIRS, DN 20 for
DMSP. ``expected_natural_city`` in the truth table is True when the base-year
noiseless lit area at that threshold is > 5 km² (Jiang et al. 2020's natural-city
rule); cities whose analytic lit area at the threshold ± 3σ of the noise could
fall in 3.5–7.5 km² are redrawn, so noise cannot flip that decision.

*Changes*: every city gets a planted relative change of its total light, kept away
from the −10 % decision boundary: shrinking −50 %…−15 %, stable −4 %…+4 %, growing
+5 %…+60 % (and ``n_near_boundary`` cities in −13 %…−7 % on request). The change is
applied as a brightness factor (no spatial growth). ``true_change`` is the change
of the sum of noiseless sensor values inside the base-year lit extent — what a
correct detector measures — and it equals the planted change exactly (to 1e-12):
VIIRS solves the factor in closed form (the constant background is part of the
sum), DMSP by bisection through the saturating response. A DMSP city so saturated
that growth cannot show gets the planted radiance factor and the (smaller) change
its DN show; its ``kind`` follows that change. With more than two years, year t
uses factor ``1 + (f − 1)·p_t`` with a monotone-ish progress p_t from 0 to 1.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import dask.array as dsa
import numpy as np
import pandas as pd
import rasterio
import rasterio.crs
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from dask.highlevelgraph import HighLevelGraph

from nightlight.errors import CatalogError, GridMismatchError, NightlightError
from nightlight.grid import Grid
from nightlight.kernels import synth as K

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

# Sensor characters (see module docstring).
_VIIRS = dict(background=0.2, sigma0=0.3, sigma_rel=0.02, gain=0.0, x0=1.0, bloom=1.0, flare_bloom=1.0, edge_w=0.25)
_DMSP = dict(background=0.0, sigma0=0.5, sigma_rel=0.0, gain=14.0, x0=1.0, bloom=1.3, flare_bloom=2.5, edge_w=0.4)
_SENSORS = {"viirs": _VIIRS, "dmsp": _DMSP}
_FLARE_RHO_MAX = 3.5
_FLARE_A_KM = 0.35  # Gaussian σ = a/√2 ≈ 0.25 km

#: Planted change ranges by kind (relative change of total light).
CHANGE_RANGES = {"shrinking": (-0.50, -0.15), "stable": (-0.04, 0.04), "growing": (0.05, 0.60)}
NEAR_BOUNDARY_RANGE = (-0.13, -0.07)
SHRINK_THRESHOLD = -0.10

#: Normal quantile table of the noise kernel (built once, 33 kB).
_NORMAL_TABLE = K.normal_table()


@dataclass(frozen=True)
class _Model:
    """Sensor constants handed to the kernels."""

    code: int
    res: float
    threshold: float
    background: float
    sigma0: float
    sigma_rel: float
    gain: float
    x0: float


@dataclass
class World:
    """A synthetic night-light world: lazy mosaics plus the ground truth.

    Attributes
    ----------
    seed, sensor, years
        What it was made from; ``years`` sorted, the first is the base year.
    grid : Grid
        EPSG:4326 grid of the mosaics (15″ VIIRS, 30″ DMSP).
    truth : pandas.DataFrame
        One row per planted city: ``city_id``, ``lon``, ``lat`` (degrees),
        ``radius_km``, ``semi_major_km``, ``semi_minor_km``, ``angle_deg``,
        ``peak`` (base-year core light above background, nW/cm²/sr; for DMSP the
        radiance-like light before the DN response),
        ``is_flare``, ``planted_change``, ``true_change`` (first → last year),
        ``kind`` ("shrinking" | "stable" | "growing"), ``lit_px``, ``lit_area_km2``
        (base-year noiseless lit extent at :attr:`lit_threshold`), ``base_light``
        (noiseless sum inside it), ``expected_natural_city`` (lit area > 5 km²),
        and per year ``factor_YYYY`` (brightness factor) and ``change_YYYY``
        (change of the base-extent sum vs the base year).
    lit_threshold : float
        The threshold the truth uses (5 nW/cm²/sr VIIRS, DN 20 DMSP).
    chunks : (int, int)
        Default dask chunk shape of :meth:`mosaic`.
    """

    seed: int
    sensor: str
    years: tuple[int, ...]
    grid: Grid
    truth: pd.DataFrame = field(repr=False)
    lit_threshold: float
    chunks: tuple[int, int]
    _model: _Model = field(repr=False)
    _cities: np.ndarray = field(repr=False)  # (n, N_CITY_COLS), C_AMP = base-year peak
    _factors: np.ndarray = field(repr=False)  # (n, n_years)
    _origin: tuple[int, int] = field(repr=False)  # global (row, col) of pixel (0, 0)

    def __repr__(self) -> str:
        kinds = self.truth["kind"].value_counts().to_dict()
        return (
            f"World(sensor={self.sensor!r}, seed={self.seed}, years={list(self.years)}, "
            f"grid={self.grid.describe()}, cities={len(self.truth)} {kinds}, "
            f"natural cities expected={int(self.truth['expected_natural_city'].sum())})"
        )

    def truth_points(self):
        """The truth table as a GeoDataFrame of city centres (EPSG:4326)."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            self.truth.copy(), geometry=gpd.points_from_xy(self.truth["lon"], self.truth["lat"]), crs="EPSG:4326"
        )

    # ------------------------------------------------------------------ mosaics
    def _year_index(self, year: int) -> int:
        try:
            return self.years.index(int(year))
        except ValueError:
            raise CatalogError(
                f"year={year!r}: this world has years {list(self.years)}. "
                f"Pass one of them, or make the world with years=range({year}, ...) including it."
            ) from None

    def _year_cities(self, year: int) -> np.ndarray:
        cities = self._cities.copy()
        cities[:, K.C_AMP] *= self._factors[:, self._year_index(year)]
        return cities

    def mosaic(self, year: int, *, noise: bool = True, chunks: int | tuple[int, int] | None = None) -> xr.DataArray:
        """The lazy mosaic of one year.

        Parameters
        ----------
        year : int
            One of :attr:`years`.
        noise : bool
            False gives the noiseless model (DMSP: unrounded DN), the quantity the
            truth table is computed from.
        chunks : int or (int, int), optional
            Dask chunk shape (default: the world's). Values do not depend on it.

        Returns
        -------
        xarray.DataArray
            2-D (y, x) float32 dask array, EPSG:4326 (rioxarray CRS + transform), x/y at
            pixel centers, radiance in nW/cm²/sr (VIIRS) or integer DN 0–63 (DMSP),
            named ``"{sensor}_{year}"``.
        """
        cities = self._year_cities(year)
        ch = _chunk_pair(chunks if chunks is not None else self.chunks)
        h, w = self.grid.shape
        row_chunks = _splits(h, ch[0])
        col_chunks = _splits(w, ch[1])
        name = f"synth-{self.sensor}-{year}-{'noisy' if noise else 'clean'}-{_token(self, year, noise, ch)}"
        m = self._model
        key = _key(self.seed, int(year), 1)
        # Each task carries only the cities whose support meets its chunk (a bbox
        # filter), so the graph stays small for a global world and each chunk is
        # generated on its own.
        rows_lo, rows_hi, cols_lo, cols_hi = _city_windows(cities, m.res)
        dsk = {}
        r0 = 0
        for i, hh in enumerate(row_chunks):
            c0 = 0
            sel_r = (rows_hi > self._origin[0] + r0) & (rows_lo < self._origin[0] + r0 + hh)
            for j, ww in enumerate(col_chunks):
                sel = sel_r & (cols_hi > self._origin[1] + c0) & (cols_lo < self._origin[1] + c0 + ww)
                dsk[(name, i, j)] = (
                    _render,
                    self._origin[0] + r0,
                    self._origin[1] + c0,
                    hh,
                    ww,
                    m,
                    np.ascontiguousarray(cities[sel]),
                    key,
                    noise,
                )
                c0 += ww
            r0 += hh
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
        data = dsa.Array(graph, name, chunks=(row_chunks, col_chunks), dtype=np.float32)
        t = self.grid.transform
        xs = t.c + (np.arange(w) + 0.5) * t.a
        ys = t.f + (np.arange(h) + 0.5) * t.e
        out = xr.DataArray(data, dims=("y", "x"), coords={"y": ys, "x": xs}, name=f"{self.sensor}_{year}")
        out.attrs.update(
            {
                "units": UNITS[self.sensor],
                "sensor": self.sensor,
                "year": int(year),
                "seed": int(self.seed),
                "synthetic": "nightlight.synth",
                "noise": int(noise),
                "lit_threshold": self.lit_threshold,
            }
        )
        out = out.rio.write_crs("EPSG:4326").rio.write_transform(t)
        return out.rio.write_nodata(np.nan, encoded=False)

    def mosaics(self, **kwargs) -> dict[int, xr.DataArray]:
        """``{year: mosaic(year)}`` for every year of the world."""
        return {y: self.mosaic(y, **kwargs) for y in self.years}

    def write_geotiffs(
        self, out_dir: str | os.PathLike, *, years: Iterable[int] | None = None, tile: int = 512
    ) -> dict[int, Path]:
        """Write each year as a tiled GeoTIFF, one dask chunk (rasterio window) at a time.

        VIIRS is written as float32, DMSP as uint8 DN (as the real stable-lights
        product); files are ``{sensor}_{year}.tif`` in ``out_dir`` (created).
        Peak memory is about one chunk, never the whole mosaic.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        h, w = self.grid.shape
        dtype = "float32" if self.sensor == "viirs" else "uint8"
        tile = max(16, int(tile) // 16 * 16)
        paths: dict[int, Path] = {}
        for year in self.years if years is None else years:
            da_year = self.mosaic(year)
            path = out_dir / f"{self.sensor}_{year}.tif"
            profile = dict(
                driver="GTiff", width=w, height=h, count=1, dtype=dtype, crs=self.grid.crs,
                transform=self.grid.transform, compress="deflate",
            )
            if h >= tile and w >= tile:
                profile.update(tiled=True, blockxsize=tile, blockysize=tile)
            with rasterio.open(path, "w", **profile) as dst:
                dst.update_tags(sensor=self.sensor, year=str(year), seed=str(self.seed), units=UNITS[self.sensor],
                                synthetic="nightlight.synth")
                r0 = 0
                blocks = da_year.data.to_delayed()
                for i, hh in enumerate(da_year.data.chunks[0]):
                    c0 = 0
                    for j, ww in enumerate(da_year.data.chunks[1]):
                        block = np.asarray(blocks[i, j].compute(scheduler="sync"))
                        dst.write(block.astype(dtype), 1, window=rasterio.windows.Window(c0, r0, ww, hh))
                        c0 += ww
                    r0 += hh
            paths[int(year)] = path
        return paths


# ---------------------------------------------------------------------- building
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

    Returns
    -------
    World
    """
    if sensor not in _SENSORS:
        raise CatalogError(f"sensor={sensor!r} is not a synthetic sensor; use one of {sorted(_SENSORS)}.")
    if not (isinstance(seed, (int, np.integer)) and 0 <= int(seed) < 2**63):
        raise NightlightError(f"seed={seed!r}: give an int in [0, 2**63).")
    years_t = tuple(sorted({int(y) for y in years}))
    if len(years_t) < 2:
        raise NightlightError(f"years={tuple(years)!r}: need at least two distinct years (a base year and a later one).")
    if abs(sum(shares) - 1.0) > 1e-9 or min(shares) < 0:
        raise NightlightError(f"shares={shares!r}: three non-negative fractions (shrinking, stable, growing) summing to 1.")
    res = RESOLUTION[sensor]
    grid, origin = _grid_for(bounds, res, sensor)
    lon0, lat0, lon1, lat1 = (float(b) for b in bounds)
    area_km2 = _box_area_km2(lon0, lat0, lon1, lat1)
    if n_cities is None:
        n_cities = int(min(round(CITY_DENSITY_PER_KM2 * area_km2), MAX_DEFAULT_CITIES))
    if n_flares is None:
        n_flares = int(min(max(round(area_km2 / 35_000.0), 2), 500))
    if n_cities < 0 or n_flares < 0 or n_near_boundary < 0 or n_near_boundary > n_cities:
        raise NightlightError(
            f"n_cities={n_cities}, n_flares={n_flares}, n_near_boundary={n_near_boundary}: "
            "counts must be ≥ 0 and n_near_boundary ≤ n_cities."
        )

    rng = np.random.default_rng([int(seed), 0x5EED])
    cat = _draw_catalogue(rng, n_cities, n_flares)
    # place largest first: discs cover both sensors' supports, so one seed gives the
    # same cities to a VIIRS and a DMSP world
    order = np.argsort(-cat["disc_km"], kind="stable")
    for k in cat:
        cat[k] = cat[k][order]
    lon, lat, placed = K.place_discs(cat["disc_km"], lon0, lat0, lon1, lat1, _key(seed, 0, 7), 400)
    if not placed.all():
        warnings.warn(
            f"make_world: only {int(placed.sum())} of {placed.size} cities fit in bounds={bounds} without "
            "touching; pass a smaller n_cities or larger bounds.",
            stacklevel=2,
        )
    keep = np.flatnonzero(placed)
    for k in cat:
        cat[k] = cat[k][keep]
    cat["lon"], cat["lat"] = lon[keep], lat[keep]
    # ids in reading order (north-west first) so they are stable and easy to eyeball
    reorder = np.lexsort((cat["lon"], -cat["lat"]))
    for k in cat:
        cat[k] = cat[k][reorder]
    n = cat["lon"].size

    # the planted kind is implied by the planted change; the reported kind follows the
    # true change (they differ only for saturated DMSP cities that cannot show growth)
    _, planted = _plant_changes(rng, cat["is_flare"], shares, n_near_boundary)
    progress = _progress(rng, n, len(years_t))
    s = _SENSORS[sensor]
    model = _Model(
        code=K.VIIRS if sensor == "viirs" else K.DMSP, res=res, threshold=LIT_THRESHOLD[sensor],
        background=s["background"], sigma0=s["sigma0"], sigma_rel=s["sigma_rel"], gain=s["gain"], x0=s["x0"],
    )
    cities = _city_matrix(cat, sensor)
    factors, changes, lit_px, lit_area, base_sum = K.city_truth(
        cities, res, model.code, model.threshold, model.background, model.gain, model.x0,
        planted, progress, 10.0,
    )
    true_change = changes[:, -1]
    kind = np.where(
        true_change <= SHRINK_THRESHOLD, "shrinking", np.where(true_change >= CHANGE_RANGES["growing"][0], "growing", "stable")
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
    for t, y in enumerate(years_t):
        truth[f"factor_{y}"] = factors[:, t]
    for t, y in enumerate(years_t):
        truth[f"change_{y}"] = changes[:, t]
    truth.attrs.update({"sensor": sensor, "seed": int(seed), "years": list(years_t), "lit_threshold": model.threshold,
                        "units": UNITS[sensor], "min_area_km2": MIN_CITY_AREA_KM2})
    return World(
        seed=int(seed), sensor=sensor, years=years_t, grid=grid, truth=truth, lit_threshold=model.threshold,
        chunks=_chunk_pair(chunks), _model=model, _cities=cities, _factors=factors, _origin=origin,
    )


def _key(seed: int, year: int, stream: int) -> np.uint64:
    # np.uint64 so the kernels always see an unsigned key (a Python int above 2**63
    # would not fit numba's int64, one below would make uint64 arithmetic float64)
    return np.uint64(K.stream_key(seed, year, stream))


def _grid_for(bounds, res: float, sensor: str) -> tuple[Grid, tuple[int, int]]:
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


def _box_area_km2(lon0, lat0, lon1, lat1) -> float:
    r = K.R_AUTHALIC_KM
    return r * r * math.radians(lon1 - lon0) * (math.sin(math.radians(lat1)) - math.sin(math.radians(lat0)))


def _draw_catalogue(rng: np.random.Generator, n_cities: int, n_flares: int) -> dict[str, np.ndarray]:
    """Sensor-independent city parameters, redrawn where a lit area is near 5 km²."""
    n = n_cities + n_flares
    is_flare = np.zeros(n, bool)
    is_flare[n_cities:] = True
    cat = {
        "is_flare": is_flare,
        "radius_km": np.zeros(n), "aspect": np.ones(n), "theta": np.zeros(n), "core": np.ones(n),
        "core_s": np.ones(n), "peak": np.zeros(n),
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
        for sensor in _SENSORS:
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
    return np.where(cat["is_flare"], 0.5, _SENSORS[sensor]["edge_w"])


def _rho_max(cat, sensor):
    return np.where(cat["is_flare"], _FLARE_RHO_MAX, 1.0 + _SENSORS[sensor]["edge_w"])


def _bloom(cat, sensor):
    s = _SENSORS[sensor]
    return np.where(cat["is_flare"], s["flare_bloom"], s["bloom"])


def _support_km(cat, sensor):
    a = cat["radius_km"] * np.sqrt(cat["aspect"])
    return a * _bloom(cat, sensor) * _rho_max(cat, sensor)


def _threshold_band(sensor: str) -> tuple[float, float]:
    """Thresholds (sensor units) ~3σ of the pixel noise below and above the lit threshold."""
    s, t = _SENSORS[sensor], LIT_THRESHOLD[sensor]
    d = 3.0 * (s["sigma0"] + s["sigma_rel"] * t) + (0.5 if sensor == "dmsp" else 0.0)  # + DN rounding
    return t - d, t + d


def _light_needed(sensor: str, threshold: float) -> float:
    """City light (above background) at which a pixel's noiseless value reaches ``threshold``."""
    s = _SENSORS[sensor]
    if sensor == "viirs":
        return threshold - s["background"]
    return s["x0"] * math.expm1(threshold / s["gain"])


def _analytic_lit_area(cat: dict, sensor: str, threshold: float | None = None) -> np.ndarray:
    """Continuous base-year lit area (km²): the ellipse rho <= rho_T, by bisection on rho."""
    t = LIT_THRESHOLD[sensor] if threshold is None else threshold
    need = _light_needed(sensor, t) / cat["peak"]
    rho_t = K.lit_rhos(need, cat["core"], 1.0 / cat["core_s"], _edge_w(cat, sensor).astype(float),
                       _rho_max(cat, sensor).astype(float))
    a = cat["radius_km"] * np.sqrt(cat["aspect"]) * _bloom(cat, sensor)
    b = cat["radius_km"] / np.sqrt(cat["aspect"]) * _bloom(cat, sensor)
    return math.pi * a * b * rho_t**2


def _plant_changes(rng, is_flare, shares, n_near_boundary):
    n = is_flare.size
    kinds = np.array(["shrinking", "stable", "growing"])
    kind = kinds[rng.choice(3, size=n, p=np.asarray(shares, float))]
    planted = np.empty(n)
    for k in kinds:
        sel = kind == k
        planted[sel] = rng.uniform(*CHANGE_RANGES[k], size=int(sel.sum()))
    if n_near_boundary:
        near = rng.choice(np.flatnonzero(~is_flare), size=n_near_boundary, replace=False)
        planted[near] = rng.uniform(*NEAR_BOUNDARY_RANGE, size=n_near_boundary)
    return kind, planted


def _progress(rng, n: int, n_years: int) -> np.ndarray:
    """Monotone-ish progress 0 → 1 over the years: t^γ plus a small wiggle."""
    t = np.linspace(0.0, 1.0, n_years)
    gamma = rng.uniform(0.7, 1.4, n)[:, None]
    p = t[None, :] ** gamma
    if n_years > 2:
        p[:, 1:-1] += rng.normal(0.0, 0.03, (n, n_years - 2))
    p[:, 0], p[:, -1] = 0.0, 1.0
    return np.ascontiguousarray(p)


def _city_matrix(cat: dict, sensor: str) -> np.ndarray:
    n = cat["lon"].size
    c = np.zeros((n, K.N_CITY_COLS))
    bloom = _bloom(cat, sensor)
    c[:, K.C_LON] = cat["lon"]
    c[:, K.C_LAT] = cat["lat"]
    c[:, K.C_COS] = np.cos(cat["theta"])
    c[:, K.C_SIN] = np.sin(cat["theta"])
    c[:, K.C_INV_A] = 1.0 / (cat["a_km"] * bloom)
    c[:, K.C_INV_B] = 1.0 / (cat["b_km"] * bloom)
    c[:, K.C_CORE] = cat["core"]
    c[:, K.C_INV_S] = 1.0 / cat["core_s"]
    c[:, K.C_EDGE_W] = _edge_w(cat, sensor)
    c[:, K.C_RHO_MAX] = _rho_max(cat, sensor)
    c[:, K.C_AMP] = cat["peak"]
    c[:, K.C_SUPPORT_KM] = _support_km(cat, sensor)
    c[:, K.C_KMX] = K.KM_PER_DEG_LON * np.cos(np.radians(cat["lat"]))
    return c


def _city_windows(cities: np.ndarray, res: float):
    """Vectorized twin of ``K.city_window`` (global pixel rows/cols of each support)."""
    r_km = cities[:, K.C_SUPPORT_KM]
    lat = cities[:, K.C_LAT]
    dlat = r_km / K.KM_PER_DEG_LAT
    dlon = r_km / cities[:, K.C_KMX]
    row0 = np.floor((90.0 - (lat + dlat)) / res) - 1
    row1 = np.ceil((90.0 - (lat - dlat)) / res) + 1
    col0 = np.floor((cities[:, K.C_LON] - dlon + 180.0) / res) - 1
    col1 = np.ceil((cities[:, K.C_LON] + dlon + 180.0) / res) + 1
    return row0, row1, col0, col1


def _render(grow0, gcol0, h, w, model: _Model, cities, key, noise) -> np.ndarray:
    return K.render_chunk(
        grow0, gcol0, h, w, model.res, cities, model.code, key, noise,
        model.background, model.sigma0, model.sigma_rel, model.gain, model.x0, _NORMAL_TABLE,
    )


def _chunk_pair(chunks) -> tuple[int, int]:
    if isinstance(chunks, (int, np.integer)):
        chunks = (int(chunks), int(chunks))
    try:
        ch = (int(chunks[0]), int(chunks[1]))
    except (TypeError, ValueError, IndexError):
        raise NightlightError(f"chunks={chunks!r}: give an int or a (rows, cols) pair of positive ints.") from None
    if min(ch) < 1:
        raise NightlightError(f"chunks={chunks!r}: chunk edges must be positive.")
    return ch


def _splits(n: int, step: int) -> tuple[int, ...]:
    full, rest = divmod(n, step)
    return (step,) * full + ((rest,) if rest else ())


def _token(world: World, year: int, noise: bool, ch) -> str:
    from dask.base import tokenize

    return tokenize(world.seed, world.sensor, world.grid.transform, world.grid.shape, year, noise, ch,
                    world._cities, world._factors)
