"""Replication of the shrinking-cities finding on the real data in ``../shared/data``.

The study (Jiang, Zhai, Meng & Long 2020, J. Urban Plann. Dev. 146(4); interview
figure 938 of ~3,300) measured the total night light of every Chinese *natural city*
in 2013 and 2016 (NPP-VIIRS) and called a city shrinking when it lost ≥ 10 %. The
raw national VIIRS mosaics are not available offline, so this module runs the same
method on what is:

* **China, DMSP-like 1 km, 2018–2021** (Wu, Shi, Chen et al. 2021,
  doi:10.7910/DVN/GIYGJU): natural cities from the base year, change of their total
  light to 2021; provinces; the Northeast resource cities;
* **Shanghai, VIIRS-like 2013 → 2016** (Chen, Yu et al. 2021, ESSD 13:889): the
  study's years, natural cities from light and from the MGUP 2018 built-up mask
  (Liu, Yu, Li & Gong 2021), yearly series 2000–2020 with the trend test;
* **sensitivity** of the counts to every parameter chosen up front.

Parameters are fixed from the method and the data *before* looking at counts
(:class:`Params`); nothing is tuned toward the study's 938. ``run_replication``
writes tables, small figures and ``<out>.md`` whose every number comes from this run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from pyproj import Transformer
from rasterio.windows import Window

import nightlight
from nightlight.change.decline import classify_decline
from nightlight.errors import InvalidRasterError, InvalidVectorError
from nightlight.grid import Grid, require_same_grid
from nightlight.outputs import figure, json_default

#: The study's and follow-ups' published figures, quoted beside ours.
STUDY = {
    "interview": {"shrinking": 938, "cities": 3300, "years": "2013–2016", "sensor": "NPP-VIIRS"},
    "paper": {
        "shrinking": 798,
        "cities": 2862,
        "years": "2013–2016",
        "sensor": "NPP-VIIRS",
        "ref": "Jiang, Zhai, Meng & Long 2020, J. Urban Plann. Dev. 146(4)",
    },
    "global_dmsp": {"share": 0.20, "years": "2000–2012", "sensor": "DMSP-OLS"},
    "zhai2022": {"share": 0.25, "years": "2013–2018", "ref": "Zhai … Long 2022, iScience 25:104411"},
}

CHINA_FILES = {
    2018: "china-dmsplike-1km/DMSP-like2018.tif",
    2019: "china-dmsplike-1km/DMSP-like2019.tif",
    2020: "china-dmsplike-1km/DMSP-like2020.tif",
    2021: "china-dmsplike-1km/DMSP_like2021.tif",  # sic: underscore in the producer's name
}
PROVINCES = "china-li2020-5arcmin/shapefile/bou2_4p.shp"
SHANGHAI_YEAR = "shanghai-viirs-like/annual/NTL_Shanghai_2000_2020_{year}.tif"
SHANGHAI_MGUP = "shanghai-viirs-like/builtup/real_sh_MGUP2018.tif"
SHANGHAI_DISTRICTS = "shanghai-viirs-like/boundaries/shanghai_districts_boundary.shp"

#: Named lon/lat boxes for cropped runs (tests, quick looks): (west, south, east, north) in degrees.
WINDOWS = {"northeast": (118.0, 40.5, 135.0, 49.0)}

#: China's extent in lon/lat with a margin (includes the South China Sea islands):
#: province polygons outside it mean a wrong CRS assumption.
CHINA_LONLAT = (72.0, 2.0, 136.5, 54.5)


@dataclass(frozen=True)
class Params:
    """Every parameter of the replication, fixed before any count is looked at.

    Attributes
    ----------
    lit_dn : float
        DMSP lit threshold, DN ≥ 10. DMSP blooming makes low DN spill far beyond
        built-up land; Chinese natural-city / urban-extent studies use DN ≥ 10–13, and
        the data README's independent check used 10. The lower end keeps small towns.
    min_area_km2 : float
        Natural city = patch **over** 5 km² (Jiang et al. 2020).
    connectivity : int
        8 (METHOD.md default; pixels touching at corners are one patch).
    decline : float
        Shrinking when total light falls by ≥ 10 % (Jiang et al. 2020).
    dark_floor_dn : float
        DMSP cities whose mean base-year DN is below 7 are ``too_dark`` (Li et al. 2020
        advise using DN > 7). With ``lit_dn`` ≥ 8 no city can be that dark; kept for
        the sensitivity runs.
    mask_resampling : str
        How the 2018/2019 base year is put on the 2020/2021 grid *to draw the city
        extents*: ``nearest``. The grids are offset by (+143.9 m, −334.2 m), under half
        a pixel on both axes, so nearest is a one-to-one re-indexing: every pixel keeps
        its DN, none is duplicated or dropped, and the natural cities are exactly those
        of the base year's own grid (checked: same count), placed ≤ 0.37 km off.
        ``average`` would blur every patch edge below the DN threshold and remove
        small towns (shown in the sensitivity table).
    light_resampling : str
        How the base year is resampled *to sum its light* inside those extents:
        ``average`` (GDAL weights source pixels by overlap, so the base-year light is
        measured on the same ground footprint as the target year's — the fixed-extent
        comparison the method asks for — and a region's total is preserved).
    viirs_threshold : float or "headtail"
        Shanghai lit rule: Jiang's head/tail breaks (the natural-city method's own
        threshold, Jiang 2013; Jiang & Miao 2015), first level.
    viirs_dark_floor : float
        Shanghai ``too_dark`` floor, nW/cm²/sr (0.5; VNL v2 zeroes cells < 0.6).
    """

    lit_dn: float = 10.0
    min_area_km2: float = 5.0
    connectivity: int = 8
    decline: float = 0.10
    dark_floor_dn: float = 7.0
    mask_resampling: str = "nearest"
    light_resampling: str = "average"
    viirs_threshold: float | str = "headtail"
    viirs_dark_floor: float = 0.5
    normalise: bool = False  # sensitivity only: divide out the change of the window's total light


# --------------------------------------------------------------------------- China: inputs
def check_dmsp_dn(da: xr.DataArray, *, name: str | None = None) -> xr.DataArray:
    """Lazily refuse values outside DMSP DN 0–63 (raises :class:`UnitsError` when a chunk is computed).

    Nodata is already NaN (``open_mosaic``); NaN passes. The check runs per chunk,
    so a whole-China mosaic is never loaded at once.
    """
    from nightlight.preprocess import check_dn

    label = name or str(da.attrs.get("source", da.name))

    def _check(block: np.ndarray) -> np.ndarray:
        check_dn(block, label)
        return block

    out = da.copy(data=da.data.map_blocks(_check, dtype=da.dtype)) if hasattr(da.data, "map_blocks") else da
    if not hasattr(da.data, "map_blocks"):
        check_dn(np.asarray(da), label)
    return out


def open_china_year(data_dir: str | Path, year: int) -> xr.DataArray:
    """One DMSP-like year (DN 0–63, float32, NaN nodata), checked lazily as DN."""
    if year not in CHINA_FILES:
        raise InvalidRasterError(
            f"year={year}: the China DMSP-like files cover {sorted(CHINA_FILES)}; pick one of them."
        )
    path = Path(data_dir) / CHINA_FILES[year]
    if not path.exists():
        raise InvalidRasterError(
            f"{path}: missing. Pass data_dir= pointing at the shared data folder (default ../shared/data)."
        )
    return check_dmsp_dn(nightlight.open_mosaic(str(path)), name=str(path))


def grid_offset_m(a: xr.DataArray, b: xr.DataArray) -> tuple[float, float]:
    """(dx, dy) of ``a``'s grid origin minus ``b``'s, in CRS units (metres here)."""
    ta, tb = Grid.of(a).transform, Grid.of(b).transform
    return float(ta.c - tb.c), float(ta.f - tb.f)


def lonlat_window(da: xr.DataArray, box: tuple[float, float, float, float]) -> Window:
    """Pixel window of ``da`` covering a lon/lat box (densified edges, clipped to the raster)."""
    g = Grid.of(da)
    tr = Transformer.from_crs("EPSG:4326", g.crs, always_xy=True)
    w, s, e, n = box
    u = np.linspace(0, 1, 50)
    lon = np.concatenate([w + (e - w) * u, np.full_like(u, e), e - (e - w) * u, np.full_like(u, w)])
    lat = np.concatenate([np.full_like(u, s), s + (n - s) * u, np.full_like(u, n), n - (n - s) * u])
    x, y = tr.transform(lon, lat)
    t = g.transform
    if t.b or t.d:
        raise InvalidRasterError(
            f"{da.attrs.get('source', da.name)}: rotated grids are not supported by lonlat_window."
        )
    cols = (np.asarray(x) - t.c) / t.a
    rows = (np.asarray(y) - t.f) / t.e
    h, wd = g.shape
    r0, r1 = max(0, int(math.floor(rows.min()))), min(h, int(math.ceil(rows.max())))
    c0, c1 = max(0, int(math.floor(cols.min()))), min(wd, int(math.ceil(cols.max())))
    return Window(c0, r0, c1 - c0, r1 - r0)


def _crop(da: xr.DataArray, window: Window | None) -> xr.DataArray:
    if window is None:
        return da
    return da.rio.isel_window(window)  # Grid.of reads the window's own transform


def china_inputs(
    data_dir: str | Path,
    base_year: int,
    target_year: int,
    *,
    mask_resampling: str = "nearest",
    light_resampling: str = "average",
    window: tuple[float, float, float, float] | str | None = None,
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, dict]:
    """Base year (for the mask, and for its light) and target year, all on the **target year's grid**.

    The base year is resampled explicitly with ``align_to`` when its grid differs
    (2018/2019 vs 2020/2021): once with ``mask_resampling`` (city extents) and once
    with ``light_resampling`` (base-year light sums); see :class:`Params`. Optionally
    cropped to a lon/lat box (a name in :data:`WINDOWS` or a tuple).

    Returns
    -------
    (base_mask, base_light, target, record)
    """
    base = open_china_year(data_dir, base_year)
    target = open_china_year(data_dir, target_year)
    box = WINDOWS[window] if isinstance(window, str) else window
    win = lonlat_window(target, box) if box is not None else None
    target_c = _crop(target, win)
    record: dict[str, Any] = {
        "base_year": base_year,
        "target_year": target_year,
        "window": box,
        "window_px": None if win is None else [int(win.row_off), int(win.col_off), int(win.height), int(win.width)],
    }
    if Grid.of(base).same_as(Grid.of(target)):
        base_mask = base_light = _crop(base, win)
        record["aligned"] = None
    else:
        dx, dy = grid_offset_m(base, target)
        base_mask = nightlight.align_to(base, target_c, resampling=mask_resampling)
        base_light = (
            base_mask
            if light_resampling == mask_resampling
            else nightlight.align_to(base, target_c, resampling=light_resampling)
        )
        record["aligned"] = {
            "mask_resampling": mask_resampling,
            "light_resampling": light_resampling,
            "offset_x_m": dx,
            "offset_y_m": dy,
        }
    names = (f"DMSP-like {base_year}", f"DMSP-like {target_year}")
    require_same_grid(base_mask, target_c, names=names)
    require_same_grid(base_light, target_c, names=names)
    return base_mask, base_light, target_c, record


# --------------------------------------------------------------------------- China: cities and change
def classify_change(cities: pd.DataFrame, *, decline: float, dark_floor: float, factor: float = 1.0) -> pd.DataFrame:
    """Per-city change from the labeling pass's own sums (``light`` = base, ``light_after`` = target).

    ``change = (factor · light_after − light_before) / light_before``. A city is ``no_data`` when any
    of its pixels has no target-year value (grid edge), ``too_dark`` when its mean
    base-year DN < ``dark_floor``; only ``ok`` cities are classified.
    """
    out = cities.copy()
    out["light_before"] = out["light"]
    n_valid = [out[c] < out["n_pixels"] for c in ("n_valid_after", "n_valid_before") if c in out]
    out["change"], out["status"], out["shrinking"] = classify_decline(
        out["light_before"].to_numpy(),
        factor * out["light_after"].to_numpy(),
        threshold=decline,
        too_dark=(out["light_before"] / out["n_pixels"]).to_numpy() < dark_floor,
        # a year without a value on some city pixel (grid edge)
        no_data=np.logical_or.reduce([m.to_numpy() for m in n_valid]) if n_valid else None,
    )
    return out


def china_change(
    data_dir: str | Path,
    base_year: int,
    target_year: int,
    *,
    params: Params = Params(),
    window: tuple[float, float, float, float] | str | None = None,
    polygons: bool = False,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Natural cities of ``base_year`` (on the target grid) and their change to ``target_year``.

    Returns the per-city table (``city_id``, ``area_km2``, ``light_before``,
    ``light_after``, ``change``, ``status``, ``shrinking``, geometry) and a record
    with counts, share, change quantiles, alignment and timing.
    """
    from nightlight.cities import extract_natural_cities

    t0 = time.perf_counter()
    base, base_light, target, record = china_inputs(
        data_dir,
        base_year,
        target_year,
        mask_resampling=params.mask_resampling,
        light_resampling=params.light_resampling,
        window=window,
    )
    values = {"after": target} if base_light is base else {"before": base_light, "after": target}
    cities = extract_natural_cities(
        base,
        threshold=params.lit_dn,
        min_area_km2=params.min_area_km2,
        connectivity=params.connectivity,
        values=values,
        polygons=polygons,
    )
    if "light_before" in cities:  # base-year light on the target footprint (see Params.light_resampling)
        cities["light_mask_year"] = cities["light"]
        cities["light"] = cities["light_before"]
        cities = cities.drop(columns=["light_before"])
    factor = 1.0
    if params.normalise:
        import dask

        both = base_light.notnull() & target.notnull()
        tb, ta = dask.compute(base_light.where(both).sum(), target.where(both).sum())
        factor = float(tb) / float(ta)
    res = classify_change(cities, decline=params.decline, dark_floor=params.dark_floor_dn, factor=factor)
    record.update(
        counts(res),
        seconds=round(time.perf_counter() - t0, 1),
        normalise_factor=factor,
        n_components=cities.attrs["nightlight"]["n_components"],
    )
    res.attrs["nightlight"] = {"threshold": params.decline, **record}
    return res, record


def counts(result: pd.DataFrame) -> dict:
    """Natural cities, classified, shrinking, share (of classified) and change quantiles (%)."""
    ok = result["status"] == "ok"
    ch = result.loc[ok, "change"].dropna().to_numpy() * 100
    q = np.percentile(ch, [10, 25, 50, 75, 90]) if ch.size else [np.nan] * 5
    n_ok = int(ok.sum())
    shr = int(result["shrinking"].sum())
    return {
        "cities": int(len(result)),
        "classified": n_ok,
        "shrinking": shr,
        "share": shr / n_ok if n_ok else float("nan"),
        "change_pct_p10_p25_p50_p75_p90": [round(float(v), 1) for v in q],
        "growing_10pct": int((ch >= 10).sum()),
    }


# --------------------------------------------------------------------------- places and provinces
def read_places(path: Any = None) -> pd.DataFrame:
    """The Northeast resource cities (``catalog/places/northeast_resource_cities.csv``)."""
    src = path or nightlight.catalog_path("places", "northeast_resource_cities.csv")
    with open(src, encoding="utf-8") if path else src.open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def locate_places(result: gpd.GeoDataFrame, places: pd.DataFrame, *, max_km: float = 5.0) -> pd.DataFrame:
    """The natural city containing each place, else the nearest within ``max_km`` (said so in ``match``).

    ``result`` must carry city polygons in a projected CRS in metres.
    """
    tr = Transformer.from_crs("EPSG:4326", result.crs, always_xy=True)
    x, y = tr.transform(places["lon"].to_numpy(), places["lat"].to_numpy())
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=result.crs)
    rows = []
    geoms = result.geometry
    for i, p in enumerate(pts):
        d = geoms.distance(p).to_numpy() / 1000.0
        j = int(np.argmin(d)) if len(d) else -1
        row = {
            "name": places["name"].iloc[i],
            "name_zh": places["name_zh"].iloc[i],
            "lon": places["lon"].iloc[i],
            "lat": places["lat"].iloc[i],
        }
        if j < 0 or d[j] > max_km:
            row.update(match=f"none within {max_km:g} km", distance_km=float(d[j]) if j >= 0 else np.nan)
        else:
            c = result.iloc[j]
            row.update(
                match="inside" if d[j] == 0 else f"nearest ({d[j]:.1f} km)",
                distance_km=float(d[j]),
                city_id=int(c["city_id"]),
                area_km2=float(c["area_km2"]),
                light_before=float(c["light_before"]),
                light_after=float(c["light_after"]),
                change=float(c["change"]),
                status=c["status"],
                shrinking=bool(c["shrinking"]),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def read_provinces(data_dir: str | Path) -> gpd.GeoDataFrame:
    """China province polygons (``bou2_4p``): no .prj, GBK names; lon/lat is **assumed** and checked.

    Raises :class:`InvalidVectorError` when the polygons do not fall on China's extent
    (then the lon/lat assumption is wrong).
    """
    path = Path(data_dir) / PROVINCES
    if not path.exists():
        raise InvalidVectorError(
            f"{path}: missing province shapefile; pass data_dir= pointing at the shared data folder."
        )
    gdf = gpd.read_file(path, encoding="gbk")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")  # the file has no .prj; its coordinates are degrees (checked below)
    w, s, e, n = gdf.to_crs("EPSG:4326").total_bounds
    W, S, E, N = CHINA_LONLAT
    if not (w >= W and s >= S and e <= E and n <= N):
        raise InvalidVectorError(
            f"{path}: bounds ({w:.2f}, {s:.2f}, {e:.2f}, {n:.2f}) are not inside China's lon/lat extent {CHINA_LONLAT}; "
            "the EPSG:4326 assumption for this .prj-less file is wrong. Give it the right CRS with set_crs()."
        )
    gdf["NAME"] = gdf["NAME"].fillna("(unnamed island polygons)")
    return gdf[["NAME", "ADCODE99", "geometry"]]


def province_table(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame) -> pd.DataFrame:
    """Counts per province (city representative point within the province), via ``report.summarize``."""
    from nightlight.outputs import summarize

    table = summarize(result, by=provinces.dissolve(by="NAME", as_index=False), name_column="NAME")
    return table.sort_values("cities", ascending=False)


# --------------------------------------------------------------------------- Shanghai
def shanghai_paths(data_dir: str | Path) -> dict[int, str]:
    return {y: str(Path(data_dir) / SHANGHAI_YEAR.format(year=y)) for y in range(2000, 2021)}


def shanghai_run(data_dir: str | Path, *, params: Params = Params(), base: int = 2013, target: int = 2016) -> dict:
    """Shanghai VIIRS-like ``base`` → ``target``: natural cities from light and from MGUP, districts; series trend.

    Uses ``detect_shrinking`` (exact fractional coverage) with the yearly series
    2000–2020 for the Theil–Sen / Mann–Kendall trend.
    """
    from nightlight.change.decline import detect_shrinking
    from nightlight.cities import extract_natural_cities

    t0 = time.perf_counter()
    paths = shanghai_paths(data_dir)
    for p in paths.values():
        if not Path(p).exists():
            raise InvalidRasterError(
                f"{p}: missing Shanghai VIIRS-like year; pass data_dir= pointing at the shared data folder."
            )
    mos = {y: nightlight.open_mosaic(p, chunks=None) for y, p in paths.items()}
    before, after = mos[base], mos[target]
    mgup = nightlight.open_mosaic(str(Path(data_dir) / SHANGHAI_MGUP), chunks=None)
    require_same_grid(before, mgup, names=(paths[base], SHANGHAI_MGUP))
    out: dict[str, Any] = {"base": base, "target": target}
    layers = {
        "light": extract_natural_cities(
            before, threshold=params.viirs_threshold, min_area_km2=params.min_area_km2, connectivity=params.connectivity
        ),
        "mgup": extract_natural_cities(
            before, mask=mgup, min_area_km2=params.min_area_km2, connectivity=params.connectivity
        ),
    }
    out["lit_threshold"] = layers["light"].attrs["nightlight"]["threshold"]
    for key, cities in layers.items():
        res = detect_shrinking(
            cities[["city_id", "area_km2", "geometry"]],
            before,
            after,
            series=mos,
            threshold=params.decline,
            dark_floor=params.viirs_dark_floor,
            id_column="city_id",
        )
        out[key] = res
        # The VIIRS-like series is DMSP-derived before 2013 (Chen et al. 2021): the step at
        # 2012→2013 dominates a 2000–2020 trend, so the VIIRS-era trend is tested too.
        viirs_era = {y: m for y, m in mos.items() if y >= 2013}
        out[key + "_2013_2020"] = detect_shrinking(
            cities[["city_id", "area_km2", "geometry"]],
            before,
            after,
            series=viirs_era,
            threshold=params.decline,
            dark_floor=params.viirs_dark_floor,
            id_column="city_id",
            shapes=False,
        )
    districts = gpd.read_file(Path(data_dir) / SHANGHAI_DISTRICTS)
    out["districts"] = detect_shrinking(
        districts,
        before,
        after,
        series=mos,
        threshold=params.decline,
        dark_floor=params.viirs_dark_floor,
        id_column="AdCode",
    )
    out["series_total"] = {y: float(np.nansum(np.asarray(m))) for y, m in mos.items()}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def shanghai_sensitivity(
    data_dir: str | Path, *, params: Params = Params(), base: int = 2013, target: int = 2016
) -> pd.DataFrame:
    """Counts for fixed radiance thresholds vs head/tail, 4- vs 8-connectivity, 5 km² on/off, noise floor on/off."""
    from nightlight.cities import extract_natural_cities
    from nightlight.preprocess import apply_steps

    paths = shanghai_paths(data_dir)
    b0 = nightlight.open_mosaic(paths[base], chunks=None)
    a0 = nightlight.open_mosaic(paths[target], chunks=None)
    rows = []
    variants: list[tuple[str, dict]] = [("study parameters", {})]
    variants += [(f"lit ≥ {t:g} nW/cm²/sr", {"viirs_threshold": float(t)}) for t in (5, 10, 20, 40)]
    variants += [
        ("4-connectivity", {"connectivity": 4}),
        ("no 5 km² rule (> 0 km²)", {"min_area_km2": 1e-9}),
        ("> 10 km²", {"min_area_km2": 10.0}),
        ("noise floor 0.6 nW/cm²/sr applied", {"noise": True}),
    ]
    for label, change in variants:
        noise = change.pop("noise", False)
        p = replace(params, **change)
        b, a = b0, a0
        if noise:
            b, _ = apply_steps(b0, [{"noise_floor": 0.6}], sensor="viirs")
            a, _ = apply_steps(a0, [{"noise_floor": 0.6}], sensor="viirs")
        c = extract_natural_cities(
            b,
            threshold=p.viirs_threshold,
            min_area_km2=p.min_area_km2,
            connectivity=p.connectivity,
            values={"after": a},
            polygons=False,
        )
        r = classify_change(c, decline=p.decline, dark_floor=p.viirs_dark_floor)
        rows.append({"variant": label, "threshold": c.attrs["nightlight"]["threshold"], **_short(counts(r))})
    return pd.DataFrame(rows)


def _short(c: dict) -> dict:
    return {
        "cities": c["cities"],
        "classified": c["classified"],
        "shrinking": c["shrinking"],
        "share": c["share"],
        "median_change_pct": c["change_pct_p10_p25_p50_p75_p90"][2],
    }


# --------------------------------------------------------------------------- sensitivity (China)
def china_sensitivity(
    data_dir: str | Path,
    *,
    params: Params = Params(),
    window: tuple | str | None = None,
) -> pd.DataFrame:
    """How the counts move with each parameter, one at a time, around :class:`Params`.

    Extraction parameters are varied on 2020 → 2021 (same grid, no resampling in
    play); the resampling choice on 2018 → 2021. ``normalise`` divides out the change
    of the whole window's total light (a crude sensor/product-gain correction; it
    also removes real national growth, so it bounds the effect of a gain shift).
    """
    runs: list[tuple[str, int, dict]] = [("study parameters", 2020, {})]
    runs += [(f"lit ≥ DN {t}", 2020, {"lit_dn": float(t)}) for t in (8, 12, 13, 15, 20)]
    runs += [
        ("no 5 km² rule (> 0 km²)", 2020, {"min_area_km2": 1e-9}),
        ("> 10 km²", 2020, {"min_area_km2": 10.0}),
        ("4-connectivity", 2020, {"connectivity": 4}),
        ("gain-normalised (window total)", 2020, {"normalise": True}),
    ]
    for y in (2018, 2019):
        runs += [
            ("study parameters (mask nearest, light average)", y, {}),
            ("nearest for mask and light", y, {"light_resampling": "nearest"}),
            ("average for mask and light", y, {"mask_resampling": "average"}),
            ("bilinear for mask and light", y, {"mask_resampling": "bilinear", "light_resampling": "bilinear"}),
            ("gain-normalised (window total)", y, {"normalise": True}),
        ]
    rows = []
    for label, base_year, change in runs:
        _, rec = china_change(data_dir, base_year, 2021, params=replace(params, **change), window=window)
        rows.append({"pair": f"{base_year}→2021", "variant": label, **_short(rec)})
    return pd.DataFrame(rows)


def native_city_count(data_dir: str | Path, year: int, *, params: Params = Params(), window=None) -> int:
    """Natural cities of a year on its own (un-resampled) grid — to show what alignment does to the count."""
    from nightlight.cities import extract_natural_cities

    da = open_china_year(data_dir, year)
    if window is not None:
        da = _crop(da, lonlat_window(da, WINDOWS[window] if isinstance(window, str) else window))
    c = extract_natural_cities(
        da, threshold=params.lit_dn, min_area_km2=params.min_area_km2, connectivity=params.connectivity, polygons=False
    )
    return int(len(c))


def year_totals(data_dir: str | Path, *, params: Params = Params()) -> pd.DataFrame:
    """Per year: total DN and lit pixels (DN ≥ ``lit_dn``) over the whole mosaic, each on its own grid."""
    import dask

    rows = []
    for y in sorted(CHINA_FILES):
        da = open_china_year(data_dir, y)
        tot, lit = dask.compute(da.sum(), (da >= params.lit_dn).sum())
        rows.append({"year": y, "total_dn": float(tot), "lit_pixels": int(lit)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- cross-check
def crosscheck_detect_shrinking(
    data_dir: str | Path,
    result: gpd.GeoDataFrame,
    *,
    params: Params = Params(),
    n: int = 150,
    window: tuple | str | None = None,
) -> dict:
    """Change from the labeling pass vs :func:`nightlight.detect_shrinking` on the same polygons.

    The city polygons are pixel-aligned on the target grid, so exact fractional
    coverage must give the labeling pass's sums; returns the largest differences.
    ``n`` cities spread over the id range plus the three largest are checked.
    """
    from nightlight.change.decline import detect_shrinking

    meta = result.attrs["nightlight"]
    _, base_light, target, _ = china_inputs(
        data_dir,
        meta["base_year"],
        meta["target_year"],
        mask_resampling=params.mask_resampling,
        light_resampling=params.light_resampling,
        window=window,
    )
    ok = result[result["status"] == "ok"]
    spread = np.linspace(0, len(ok) - 1, min(n, len(ok))).astype(int)
    largest = np.argsort(ok["area_km2"].to_numpy())[-3:]  # the megapatches stress exact coverage most
    pick = ok.iloc[np.unique(np.concatenate([spread, largest]))]
    t0 = time.perf_counter()
    det = detect_shrinking(
        pick[["city_id", "geometry"]],
        base_light,
        target,
        threshold=params.decline,
        dark_floor=params.dark_floor_dn,
        id_column="city_id",
        shapes=False,
    )
    secs = time.perf_counter() - t0
    det = det.set_index("city_id")
    mine = pick.set_index("city_id")
    rel = lambda a, b: float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))  # noqa: E731
    return {
        "pair": f"{meta['base_year']}→{meta['target_year']}",
        "cities_checked": int(len(pick)),
        "max_abs_change_diff": float(np.nanmax(np.abs(det["change"] - mine["change"]))),
        "max_rel_light_before_diff": rel(det["light_before"], mine["light_before"]),
        "max_rel_light_after_diff": rel(det["light_after"], mine["light_after"]),
        "same_shrinking": bool((det["shrinking"] == mine["shrinking"]).all()),
        "detect_shrinking_seconds": round(secs, 1),
    }


# --------------------------------------------------------------------------- figures
def plot_china_map(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame, path: Path, *, title: str) -> Path:
    """Natural cities as dots (size ∝ area) over province outlines; shrinking ones in red. Small PNG."""
    crs = result.crs
    prov = provinces.to_crs(crs)
    pts = result.copy()
    pts["geometry"] = gpd.points_from_xy(result["centroid_x"], result["centroid_y"])
    pts = gpd.GeoDataFrame(pts, geometry="geometry", crs=crs)
    with figure(path, figsize=(7, 5.6), dpi=90) as (fig, ax):
        prov.boundary.plot(ax=ax, color="#999999", linewidth=0.3)
        large = result[result["area_km2"] > 5000]
        if len(large):  # blooming megapatches: show their extent, not just a dot
            large.plot(ax=ax, color="#bbccee", edgecolor="none", alpha=0.6)
        s = np.clip(pts["area_km2"].to_numpy() / 20.0, 0.8, 30)
        keep = ~pts["shrinking"].to_numpy()
        ax.scatter(
            pts.geometry.x[keep],
            pts.geometry.y[keep],
            s=s[keep],
            c="#4477aa",
            alpha=0.6,
            linewidths=0,
            label=f"not shrinking ({int(keep.sum())})",
        )
        ax.scatter(
            pts.geometry.x[~keep],
            pts.geometry.y[~keep],
            s=s[~keep],
            c="#cc3311",
            alpha=0.8,
            linewidths=0,
            label=f"shrinking ≥ 10 % ({int((~keep).sum())})",
        )
        ax.set_xlim(pts.total_bounds[0] - 2e5, pts.total_bounds[2] + 2e5)
        ax.set_ylim(pts.total_bounds[1] - 2e5, pts.total_bounds[3] + 2e5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower left", fontsize=8, markerscale=3)
    return Path(path)


def plot_change_hist(results: dict[str, pd.DataFrame], path: Path, *, decline: float) -> Path:
    """Histograms of per-city change (%) for several pairs, the decline threshold marked."""
    with figure(path, figsize=(6.5, 3.8), dpi=90) as (fig, ax):
        bins = np.linspace(-100, 150, 51)
        for (label, r), color in zip(results.items(), ("#4477aa", "#ee7733", "#228833", "#aa3377")):
            ch = r.loc[r["status"] == "ok", "change"].dropna().to_numpy() * 100
            ax.hist(
                np.clip(ch, -100, 150),
                bins=bins,
                histtype="step",
                color=color,
                linewidth=1.2,
                label=f"{label} (n={ch.size})",
            )
        ax.axvline(-decline * 100, color="#cc3311", linestyle="--", linewidth=1, label=f"−{decline:.0%}")
        ax.set_xlabel("change of total light in the base-year extent (%, clipped to [−100, 150])")
        ax.set_ylabel("natural cities")
        ax.legend(fontsize=8)
    return Path(path)


def plot_shanghai_series(sh: dict, path: Path) -> Path:
    """Total light per year 2000–2020: whole box, natural cities (light), MGUP cities."""
    with figure(path, figsize=(6.5, 3.6), dpi=90) as (fig, ax):
        years = sorted(sh["series_total"])
        ax.plot(years, [sh["series_total"][y] / 1e3 for y in years], "k-o", ms=3, label="whole box")
        for key, color in (("light", "#4477aa"), ("mgup", "#ee7733")):
            r = sh[key]
            ax.plot(
                years,
                [r[f"light_{y}"].sum() / 1e3 for y in years],
                "-o",
                ms=3,
                color=color,
                label=f"natural cities ({'lit' if key == 'light' else 'MGUP'}, {sh['base']} extent)",
            )
        for y in (sh["base"], sh["target"]):
            ax.axvline(y, color="#999999", linestyle=":", linewidth=1)
        ax.set_xticks(years[::2])
        ax.set_xlabel("year")
        ax.set_ylabel("total light (10³ nW/cm²/sr × pixels)")
        ax.set_title("Shanghai VIIRS-like (Chen et al. 2021), yearly totals", fontsize=10)
        ax.legend(fontsize=8)
    return Path(path)


# --------------------------------------------------------------------------- markdown
def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return "–" if v is None else str(v)


def md_table(df: pd.DataFrame, *, index: bool = False) -> str:
    """A GitHub markdown table (no extra dependency)."""
    d = df.reset_index() if index else df
    head = "| " + " | ".join(map(str, d.columns)) + " |"
    sep = "|" + "|".join("---" for _ in d.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _pct(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


# --------------------------------------------------------------------------- the whole run
def run_replication(
    out_dir: str | Path,
    *,
    data_dir: str | Path = "../shared/data",
    params: Params = Params(),
    window: tuple[float, float, float, float] | str | None = None,
    sensitivity: bool = True,
    shanghai: bool = True,
    figures: bool = True,
    markdown: bool = True,
    command: str = "nightlight replicate --out docs/replication",
) -> dict:
    """Run the whole replication and write its tables, figures and ``<out_dir>.md``.

    Parameters
    ----------
    out_dir : path
        Folder for CSV tables and PNG figures; the report goes beside it as
        ``<out_dir>.md`` (``docs/replication`` → ``docs/replication.md``).
    data_dir : path
        The shared real-data folder (default ``../shared/data`` from the repo root).
    params : Params
        The fixed parameters (defaults = the study's rules, see :class:`Params`).
    window : lon/lat box or name in :data:`WINDOWS`, optional
        Crop the China runs (tests use ``"northeast"``).
    sensitivity, shanghai, figures, markdown : bool
        Parts to run / write.
    command : str
        The command line recorded in the report.

    Returns
    -------
    dict
        Every number of the report (also written as ``results.json``).
    """
    t_all = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"params": asdict(params), "window": window, "study": STUDY, "data_dir": str(data_dir)}

    pairs: dict[str, gpd.GeoDataFrame] = {}
    res["china"] = {}
    for y in (2018, 2019, 2020):
        r, rec = china_change(data_dir, y, 2021, params=params, window=window, polygons=True)
        pairs[f"{y}→2021"] = r
        res["china"][f"{y}→2021"] = rec
    res["native_counts"] = {
        str(y): native_city_count(data_dir, y, params=params, window=window) for y in (2018, 2019, 2020)
    }
    res["year_totals"] = year_totals(data_dir, params=params).to_dict(orient="records")

    places = read_places()
    res["places"] = {k: locate_places(r, places).to_dict(orient="records") for k, r in pairs.items()}
    provinces = read_provinces(data_dir)
    ptab = province_table(pairs["2018→2021"], provinces)
    ptab.to_csv(out / "provinces_2018_2021.csv")
    res["largest"] = largest_cities(pairs["2018→2021"], provinces).to_dict(orient="records")
    res["provinces_2018_2021"] = ptab.reset_index().to_dict(orient="records")
    res["crosscheck"] = [
        crosscheck_detect_shrinking(data_dir, pairs[k], params=params, window=window)
        for k in ("2020→2021", "2018→2021")
    ]
    for k, r in pairs.items():
        cols = [
            "city_id",
            "area_km2",
            "n_pixels",
            "centroid_x",
            "centroid_y",
            "light_before",
            "light_after",
            "change",
            "status",
            "shrinking",
        ]
        r[cols].to_csv(out / f"china_cities_{k.replace('→', '_')}.csv.gz", index=False, float_format="%.6g")

    if sensitivity:
        t0 = time.perf_counter()
        sens = china_sensitivity(data_dir, params=params, window=window)
        sens.to_csv(out / "sensitivity_china.csv", index=False)
        res["sensitivity_china"] = sens.to_dict(orient="records")
        res["sensitivity_china_seconds"] = round(time.perf_counter() - t0, 1)

    if shanghai:
        sh = shanghai_run(data_dir, params=params)
        res["shanghai"] = {
            "base": sh["base"],
            "target": sh["target"],
            "seconds": sh["seconds"],
            "lit_threshold": sh["lit_threshold"],
            "series_total": sh["series_total"],
        }
        for key in ("light", "mgup", "districts"):
            r = sh[key]
            keep = [
                c
                for c in (
                    "city_id",
                    "Name",
                    "area_km2",
                    "light_before",
                    "light_after",
                    "change",
                    "status",
                    "shrinking",
                    "trend_slope",
                    "mk_p",
                    "significant_decline",
                    "shrink_shape",
                )
                if c in r
            ]
            tab = pd.DataFrame(r[keep])
            tab.to_csv(out / f"shanghai_{key}.csv", index=False, float_format="%.6g")
            res["shanghai"][key] = {
                **counts(r),
                "significant_decline": int(r["significant_decline"].sum()),
                "table": tab.to_dict(orient="records"),
            }
            if key + "_2013_2020" in sh:
                r2 = sh[key + "_2013_2020"]
                res["shanghai"][key]["significant_decline_2013_2020"] = int(r2["significant_decline"].sum())
                res["shanghai"][key]["negative_trend_p05_2013_2020"] = int(
                    ((r2["trend_slope"] < 0) & (r2["mk_p"] < 0.05)).sum()
                )
        if sensitivity:
            ss = shanghai_sensitivity(data_dir, params=params)
            ss.to_csv(out / "sensitivity_shanghai.csv", index=False)
            res["sensitivity_shanghai"] = ss.to_dict(orient="records")

    if figures:
        fig_dir = out
        plot_china_map(
            pairs["2018→2021"],
            provinces,
            fig_dir / "china_2018_2021.png",
            title=f"DMSP-like natural cities of 2018 (DN ≥ {params.lit_dn:g}, > {params.min_area_km2:g} km²) "
            "and their change to 2021",
        )
        plot_change_hist(pairs, fig_dir / "change_hist.png", decline=params.decline)
        if shanghai:
            plot_shanghai_series(sh, fig_dir / "shanghai_series.png")
    res["seconds_total"] = round(time.perf_counter() - t_all, 1)
    import resource

    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=json_default))
    if markdown:
        md = render_markdown(res, fig_prefix=out.name, command=command)
        out.with_name(out.name + ".md").write_text(md, encoding="utf-8")
    return res


def render_markdown(
    res: dict, *, fig_prefix: str = "replication", command: str = "nightlight replicate --out docs/replication"
) -> str:
    """The replication report; every number is read from ``res`` (the output of this run)."""
    p = res["params"]
    st = res["study"]
    ch = res["china"]
    L: list[str] = []
    a = L.append
    w = res.get("window")
    win = f" — **cropped to the lon/lat box {w} {WINDOWS.get(w, '') if isinstance(w, str) else ''}**" if w else ""
    a("# Replication: shrinking natural cities on real night-light data")
    a("")
    a(
        f"Generated by `{command}` (nightlight {nightlight.__version__}; {res['seconds_total']:.0f} s wall, peak RSS {res.get('peak_rss_mb', 0):,} MB of the process, on a 2-core machine){win}. "
        "Every number below is written by that command from `nightlight/replicate.py`; do not edit by hand. "
        f"Tables: `{fig_prefix}/*.csv`, all numbers: `{fig_prefix}/results.json`."
    )
    a("")
    a("## What is replicated, and what cannot be")
    a("")
    a(
        f"The study ({st['paper']['ref']}) extracted Chinese *natural cities* "
        "(contiguous lit/built-up patches > 5 km²) and called a city shrinking when the total NPP-VIIRS light inside "
        "its fixed 2013 extent fell by ≥ 10 % by 2016: **938 of ~3,300 (28 %)** (interview figure), "
        "**798 of 2,862 (28 %)** in the paper. Global DMSP 2000–2012: ~20 % shrinking; Zhai et al. 2022 "
        "(iScience 25:104411): 25 % for 2013–2018."
    )
    a("")
    a("The national 2013/2016 VIIRS mosaics are not available offline. What is run instead, with the same method:")
    a("")
    a(
        "* **China, DMSP-like 1 km, 2018/2019/2020 → 2021** (Wu, Shi, Chen et al. 2021, doi:10.7910/DVN/GIYGJU): "
        "other years, another sensor family (DMSP-OLS-like DN 0–63, saturating, blooming), a lit-DN mask;"
    )
    a(
        "* **Shanghai, VIIRS-like 2013 → 2016** (Chen, Yu et al. 2021, ESSD 13:889): the study's years on a "
        "~500 m VIIRS-like product, one metropolitan box only; natural cities from light and from the MGUP 2018 "
        "built-up mask (Liu, Yu, Li & Gong 2021); yearly series 2000–2020 for the trend test;"
    )
    a("* a **sensitivity** table: lit threshold, the 5 km² rule, 4/8-connectivity, resampling, a gain normalisation.")
    a("")
    a("## Parameters, fixed before any count was looked at")
    a("")
    a(
        f"* lit: DMSP-like DN ≥ **{p['lit_dn']:g}** (blooming suppression; Chinese urban-extent studies use DN ≥ 10–13, "
        "the data README's independent check used 10); Shanghai: Jiang's head/tail breaks, first level "
        f"(= **{_fmt(res.get('shanghai', {}).get('lit_threshold'))} nW/cm²/sr** in 2013);"
    )
    a(
        f"* natural city: ellipsoidal/equal-area ground area **> {p['min_area_km2']:g} km²**, "
        f"**{p['connectivity']}-connectivity**, extent fixed in the base year;"
    )
    a(
        f"* shrinking: total light in the base-year extent changes by **≤ −{p['decline']:.0%}**; cities with any pixel "
        f"without data in either year are `no_data`; mean base DN < {p['dark_floor_dn']:g} is `too_dark` "
        f"(Shanghai: < {p['viirs_dark_floor']:g} nW/cm²/sr) — neither is classified; shares are of classified cities;"
    )
    a(
        "* preprocessing (DMSP-appropriate): nodata → NaN (2021 declares −128), every chunk checked to lie in DN 0–63 "
        "(`UnitsError` otherwise), no further inter-calibration: these data are **already inter-calibrated by their "
        "producers** (Wu et al. 2021, a DMSP-OLS-like series built to be consistent across 1992–2022), and a second "
        "DMSP satellite-year correction would double-correct. The sensitivity table shows instead what a crude gain "
        "normalisation (the window's total light held constant) does;"
    )
    al = ch["2018→2021"].get("aligned") or {}
    a(
        f"* grids: 2018/2019 sit on a grid shifted by ({al.get('offset_x_m', float('nan')):+.1f} m, "
        f"{al.get('offset_y_m', float('nan')):+.1f} m) from 2020/2021. The reference grid is the target year's (2021). "
        f"City extents use **{p['mask_resampling']}**: the shift is under half a pixel on both axes, so nearest is a "
        "one-to-one re-indexing (no pixel duplicated or dropped; natural-city counts on the native and the aligned grid "
        f"are equal: {', '.join(f'{k}: {v:,}' for k, v in res['native_counts'].items())}), at the cost of placing the extent ≤ 0.37 km off. The base-year light "
        f"inside those extents is summed from a copy resampled with **{p['light_resampling']}** (overlap-weighted: both years "
        "are then measured on the same ground footprint, and totals are preserved). Both choices are varied below."
    )
    a("")
    a("## China, DMSP-like, natural cities of the base year and their change to 2021")
    a("")
    rows = []
    for k, r in ch.items():
        q = r["change_pct_p10_p25_p50_p75_p90"]
        rows.append(
            {
                "pair": k,
                "natural cities": r["cities"],
                "classified": r["classified"],
                "shrinking (≤ −10 %)": r["shrinking"],
                "share": _pct(r["share"]),
                "growing (≥ +10 %)": r["growing_10pct"],
                "change p10 / p25 / median / p75 / p90 (%)": " / ".join(f"{v:+.1f}" for v in q),
                "seconds": r["seconds"],
            }
        )
    a(md_table(pd.DataFrame(rows)))
    a("")
    a("| study | natural cities | shrinking | share |")
    a("|---|---|---|---|")
    a(
        f"| Jiang et al. 2020 (paper), VIIRS 2013→2016 | {st['paper']['cities']:,} | {st['paper']['shrinking']} | "
        f"{st['paper']['shrinking'] / st['paper']['cities']:.0%} |"
    )
    a(
        f"| interview figure, VIIRS 2013→2016 | ~{st['interview']['cities']:,} | {st['interview']['shrinking']} | "
        f"{st['interview']['shrinking'] / st['interview']['cities']:.0%} |"
    )
    a("| global DMSP 2000→2012 | ~16,000 | – | ~20 % |")
    a("| Zhai et al. 2022, 2013→2018 | – | – | 25 % |")
    for k, r in ch.items():
        a(f"| **this run**, DMSP-like {k} | {r['cities']:,} | {r['shrinking']:,} | {_pct(r['share'])} |")
    a("")
    a(f"![map]({fig_prefix}/china_2018_2021.png)")
    a("")
    a(f"![change]({fig_prefix}/change_hist.png)")
    a("")
    if res.get("largest"):
        t = pd.DataFrame(res["largest"])
        t["share_of_city_light"] = [_pct(v) for v in t["share_of_city_light"]]
        t["change"] = [f"{100 * v:+.1f} %" for v in t["change"]]
        a("Largest natural cities of 2018 (DMSP blooming merges agglomerations):")
        a("")
        a(md_table(t))
        a("")
    yt = pd.DataFrame(res["year_totals"])
    yt["total DN (10⁶)"] = yt["total_dn"] / 1e6
    a(
        "Whole-mosaic totals per year (all of China, each year on its own grid, whatever the window) — the product itself changes between 2019 and 2020, "
        "which is also when the grid moves:"
    )
    a("")
    yt["year"] = yt["year"].astype(str)
    a(
        md_table(
            yt[["year", "total DN (10⁶)", "lit_pixels"]].rename(
                columns={"lit_pixels": f"pixels with DN ≥ {p['lit_dn']:g}"}
            )
        )
    )
    a("")
    a(
        "Cross-check: the per-city change is taken from the labeling pass's own sums (`extract_natural_cities(values=…)`); "
        "`detect_shrinking` (exact fractional coverage) on the same, pixel-aligned polygons gives:"
    )
    a("")
    a(md_table(pd.DataFrame(res["crosscheck"])))
    a("")
    a("### Northeast resource cities")
    a("")
    a(
        "Located by city-centre coordinates (`catalog/places/northeast_resource_cities.csv`, transformed to the Albers grid); "
        "the natural city containing the point, else the nearest within 5 km (said so in *match*)."
    )
    a("")
    for k, recs in res["places"].items():
        t = pd.DataFrame(recs)
        cols = [
            c
            for c in ("name", "name_zh", "lon", "lat", "match", "city_id", "area_km2", "change", "shrinking")
            if c in t
        ]
        t = t[cols].copy()
        if "change" in t:
            t["change"] = [f"{100 * v:+.1f} %" if pd.notna(v) else "–" for v in t["change"]]
        t["lon"] = [f"{v:.2f}" for v in t["lon"]]
        t["lat"] = [f"{v:.2f}" for v in t["lat"]]
        a(f"**{k}**")
        a("")
        a(md_table(t))
        a("")
    if res.get("provinces_2018_2021"):
        a("### Provinces, 2018 → 2021")
        a("")
        a(
            "Province polygons `bou2_4p` (no .prj: EPSG:4326 assumed and checked against China's extent; names GBK). "
            "A city counts for the province that contains its representative point; `(none)` = outside every polygon "
            "(coast/border generalisation of the 1:4M outlines)."
        )
        a("")
        t = pd.DataFrame(res["provinces_2018_2021"])
        t = t[["NAME", "cities", "shrinking", "share_shrinking", "change", "median_change"]].copy()
        t["share_shrinking"] = [_pct(v) for v in t["share_shrinking"]]
        t["change"] = [f"{100 * v:+.1f} %" if pd.notna(v) else "–" for v in t["change"]]
        t["median_change"] = [f"{100 * v:+.1f} %" if pd.notna(v) else "–" for v in t["median_change"]]
        a(
            md_table(
                t.rename(
                    columns={
                        "NAME": "province",
                        "share_shrinking": "share",
                        "change": "change of total",
                        "median_change": "median city change",
                    }
                )
            )
        )
        a("")
    if res.get("shanghai"):
        sh = res["shanghai"]
        a("## Shanghai, VIIRS-like, 2013 → 2016 (the study's years)")
        a("")
        a(
            f"`detect_shrinking` (exact fractional coverage) with the yearly series 2000–2020 (Theil–Sen slope, Mann–Kendall "
            f"p; *significant decline* = shrinking and slope < 0 and p < 0.05); {sh['seconds']:.0f} s."
        )
        a("")
        rows = []
        for key, label in (
            ("light", f"natural cities from light (head/tail, ≥ {_fmt(sh['lit_threshold'])} nW/cm²/sr)"),
            ("mgup", "natural cities from MGUP 2018 built-up"),
            ("districts", "16 districts (admin units)"),
        ):
            c = sh[key]
            q = c["change_pct_p10_p25_p50_p75_p90"]
            rows.append(
                {
                    "units": label,
                    "n": c["cities"],
                    "classified": c["classified"],
                    "shrinking": c["shrinking"],
                    "share": _pct(c["share"]),
                    "significant decline (2000–2020 trend)": c["significant_decline"],
                    "significant decline (2013–2020 trend)": c.get("significant_decline_2013_2020"),
                    "any significant downward trend 2013–2020": c.get("negative_trend_p05_2013_2020"),
                    "median change": f"{q[2]:+.1f} %",
                }
            )
        a(md_table(pd.DataFrame(rows)))
        a("")
        big = pd.DataFrame(sh["light"]["table"]).sort_values("area_km2", ascending=False).head(5)
        big = big[
            [
                c
                for c in (
                    "city_id",
                    "area_km2",
                    "change",
                    "shrinking",
                    "trend_slope",
                    "mk_p",
                    "significant_decline",
                    "shrink_shape",
                )
                if c in big
            ]
        ]
        big["change"] = [f"{100 * v:+.1f} %" for v in big["change"]]
        a("Largest natural cities from light (trend_slope in nW/cm²/sr × pixels per year, 2000–2020):")
        a("")
        a(md_table(big))
        a("")
        d = pd.DataFrame(sh["districts"]["table"])
        d = d[
            [
                c
                for c in ("Name", "change", "shrinking", "trend_slope", "mk_p", "significant_decline", "shrink_shape")
                if c in d
            ]
        ]
        d["change"] = [f"{100 * v:+.1f} %" for v in d["change"]]
        a("Districts:")
        a("")
        a(md_table(d))
        a("")
        a(f"![series]({fig_prefix}/shanghai_series.png)")
        a("")
        ys = sh["series_total"]
        a(
            "Whole-box total light per year (10³ nW/cm²/sr × pixels): "
            + ", ".join(f"{y}: {v / 1e3:.1f}" for y, v in sorted(ys.items(), key=lambda kv: int(kv[0])))
            + "."
        )
        a("")
    if res.get("sensitivity_china"):
        a("## Sensitivity")
        a("")
        a(
            f"China{' (cropped)' if res.get('window') else ''}: one parameter at a time around the parameters above "
            f"({res.get('sensitivity_china_seconds', 0):.0f} s). Extraction parameters on 2020→2021 (same grid); "
            "resampling and normalisation on 2018→2021 and 2019→2021. *Gain-normalised* multiplies the target year by "
            "(window total of base) / (window total of target): it removes any product-wide gain change, but also real "
            "national growth, so it bounds that effect rather than correcting it."
        )
        a("")
        s = pd.DataFrame(res["sensitivity_china"])
        s["share"] = [_pct(v) for v in s["share"]]
        a(md_table(s))
        a("")
    if res.get("sensitivity_shanghai"):
        a(
            "Shanghai 2013→2016 (labeling-pass sums; the noise floor is the VNL v2 0.6 nW/cm²/sr step — the producer "
            "already zeroed values below ~1, so it changes nothing here, which is itself a finding about the product):"
        )
        a("")
        s = pd.DataFrame(res["sensitivity_shanghai"])
        s["share"] = [_pct(v) for v in s["share"]]
        a(md_table(s))
        a("")
    a(_discussion(res))
    return "\n".join(L) + "\n"


def largest_cities(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` largest natural cities: area, share of all cities' base light, province of their representative point."""
    top = result.sort_values("area_km2", ascending=False).head(n)
    pts = gpd.GeoDataFrame(geometry=top.geometry.representative_point(), crs=result.crs, index=top.index)
    j = gpd.sjoin(pts, provinces.to_crs(result.crs)[["NAME", "geometry"]], how="left", predicate="within")
    j = j[~j.index.duplicated(keep="first")]
    total = float(result["light_before"].sum())
    return pd.DataFrame(
        {
            "city_id": top["city_id"].to_numpy(),
            "area_km2": top["area_km2"].to_numpy(),
            "share_of_city_light": (top["light_before"] / total).to_numpy(),
            "province_of_point": j["NAME"].reindex(top.index).fillna("(none)").to_numpy(),
            "change": top["change"].to_numpy(),
            "shrinking": top["shrinking"].to_numpy(),
        }
    )


def _discussion(res: dict) -> str:
    """The honest comparison, written from the numbers of this run."""
    ch, p = res["china"], res["params"]
    L: list[str] = ["## How this compares, and why it differs", ""]
    a = L.append
    h = ch.get("2018→2021")
    paper_share = res["study"]["paper"]["shrinking"] / res["study"]["paper"]["cities"]
    a(
        f"* **Headline.** Over three years, as in the study (2013→2016), {h['shrinking']:,} of {h['classified']:,} "
        f"DMSP-like natural cities lost ≥ 10 % of their light from 2018 to 2021 ({_pct(h['share'])}), against "
        f"{_pct(paper_share)} in the paper (798/2,862) and 28 % in the interview figure (938/~3,300); "
        f"2019→2021: {_pct(ch['2019→2021']['share'])}; 2020→2021 (one year): {_pct(ch['2020→2021']['share'])}. "
        "Zhai et al. 2022 report 25 % for 2013–2018, global DMSP 2000–2012 ~20 %. The similarity of the three-year "
        "shares is **not** evidence that the 2013–2016 finding holds in 2018–2021: years, sensor, grid and mask all "
        "differ (below), and the share moves by several points with the pair and the resampling."
    )
    a(
        f"* **Number of natural cities** ({', '.join(f'{k[:4]}: {v:,}' for k, v in res['native_counts'].items())}) is of "
        "the study's order (2,862 / ~3,300) at DN ≥ 10 — by the choice of threshold, not by tuning: the sensitivity table "
        "shows it moves from " + _range(res, "cities") + " over DN 8–20 and the area rule."
    )
    if res.get("largest"):
        big = res["largest"][0]
        a(
            f"* **Blooming merges agglomerations.** At 1 km and DN ≥ {p['lit_dn']:g}, the largest natural city covers "
            f"{big['area_km2']:,.0f} km² and holds {_pct(big['share_of_city_light'])} of all cities' light (its representative "
            f"point falls in {big['province_of_point']}); whole city clusters are one 'city' here, where the study's 500 m "
            "VIIRS mask separates them. Fewer, larger units dilute local decline: a shrinking town inside a growing "
            "cluster is not seen. Province rows inherit this (a megapatch counts for one province only)."
        )
    yt = {r["year"]: r for r in res["year_totals"]}
    if 2019 in yt and 2020 in yt:
        d_lit = yt[2020]["lit_pixels"] / yt[2019]["lit_pixels"] - 1
        d_tot = yt[2020]["total_dn"] / yt[2019]["total_dn"] - 1
        a(
            f"* **A product break between 2019 and 2020.** Pixels with DN ≥ {p['lit_dn']:g} change by {d_lit:+.1%} and "
            f"the national total by {d_tot:+.1%} from 2019 to 2020 — the same step at which the grid moves by "
            "(+144 m, −334 m). This suggests the 2020/2021 files come from a separate production batch (we found no documentation of it). Pairs that cross it "
            "(2018→2021, 2019→2021) mix real change with product differences; 2020→2021 does not, but is one year "
            "(and 2020 is the first COVID-19 year). The *gain-normalised* rows bracket how much a product-wide gain "
            "could move the counts."
        )
    a(
        "* **Sensor.** DMSP-like DN saturate at 63: bright cores cannot brighten, and a core that dims from above "
        "saturation is invisible, so change concentrates in the edges; the study used unsaturated VIIRS radiance. "
        "The DMSP-like product is itself modelled from VIIRS after 2013 (Wu et al. 2021), with its own calibration error."
    )
    s = {(r["pair"], r["variant"]): r for r in res.get("sensitivity_china", [])}
    nn = s.get(("2018→2021", "nearest for mask and light"))
    if nn:
        a(
            f"* **Resampling matters for the light, not only the mask.** Summing base-year light with nearest "
            f"(footprint ≤ 0.37 km off the target year's) gives {nn['shrinking']:,} shrinking ({_pct(nn['share'])}) instead of "
            f"{h['shrinking']:,}: the extent was drawn on the base year's bright pixels and the misregistered target "
            "footprint catches darker margins — a systematic bias toward decline. Average (overlap-weighted) removes it. "
            "Drawing the extent on an averaged base year instead removes small towns (fewer cities) — hence nearest for "
            "the mask."
        )
    rng = [
        r["share"] for r in res.get("sensitivity_china", []) if r["pair"] == "2020→2021" and "gain" not in r["variant"]
    ]
    if rng:
        a(
            f"* **Robustness.** On 2020→2021 the shrinking share stays within {_pct(min(rng))}–{_pct(max(rng))} over "
            "DN 8–20, with/without the 5 km² rule, 10 km², and 4-connectivity; the count of cities moves much more "
            "than the share. The share is sensitive to the pair of years and to the gain question above."
        )
    if res.get("places"):
        lines = []
        for k, recs in res["places"].items():
            shr = [r["name"] for r in recs if r.get("shrinking")]
            lines.append(f"{k}: {', '.join(shr) if shr else 'none'}")
        n3 = sum(bool(r.get("shrinking")) for r in res["places"].get("2018→2021", []))
        a(
            "* **Northeast resource cities** shrinking (≥ 10 % less light): "
            + "; ".join(lines)
            + f". In the three-year "
            f"pair {n3} of {len(res['places'].get('2018→2021', []))} cross the 10 % line. These cities are known for "
            "population loss; light is only a proxy (street lighting, mining and heating keep lights on, and saturated "
            "DN hide dimming cores), which is the study's own caveat: population is the primary sign of shrinkage."
        )
    if res.get("shanghai"):
        sh = res["shanghai"]
        a(
            f"* **Shanghai 2013→2016** (the study's years, VIIRS-like): {sh['light']['shrinking']} of "
            f"{sh['light']['classified']} lit natural cities and {sh['mgup']['shrinking']} of {sh['mgup']['classified']} "
            f"MGUP natural cities shrink; {sh['light']['significant_decline']} / {sh['mgup']['significant_decline']} also "
            "have a significant downward 2000–2020 trend, "
            f"{sh['light'].get('significant_decline_2013_2020')} / {sh['mgup'].get('significant_decline_2013_2020')} a significant "
            "downward 2013–2020 trend. The whole box's light changed by "
            f"{_series_change(sh, sh.get('base', 2013), sh.get('target', 2016)):+.1%} from 2013 to 2016 and by "
            f"{_series_change(sh, 2016, 2020):+.1%} from 2016 to 2020. One metropolitan box (with parts of Jiangsu and Zhejiang) is "
            "no sample for a national share. The VIIRS-like product (Chen et al. 2021) is simulated from DMSP before 2013, "
            "so the 2000–2020 trend spans two sources (a step from 2012 to 2013 in the series figure) and mostly measures that step; MGUP is a 2018 mask used for a 2013 base year."
        )
    a(
        "* **Not done / not possible offline:** the national 2013/2016 VIIRS run itself; validation against census "
        "population; the six shapes of shrinkage nationally (computed for Shanghai via `detect_shrinking`)."
    )
    a("")
    return "\n".join(L)


def _series_change(sh: dict, y0: int, y1: int) -> float:
    tot = {int(k): v for k, v in sh["series_total"].items()}
    return tot[y1] / tot[y0] - 1 if y0 in tot and y1 in tot else float("nan")


def _range(res: dict, key: str) -> str:
    v = [r[key] for r in res.get("sensitivity_china", []) if r["pair"] == "2020→2021"]
    return f"{min(v):,} to {max(v):,}" if v else "–"
