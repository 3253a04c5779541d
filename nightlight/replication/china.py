"""China, DMSP-like 1 km: natural cities of a base year and the change of their light to a target year.

Also the whole-mosaic year totals, the count on a year's own grid, and the
cross-check of the labeling pass's sums against ``detect_shrinking``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from nightlight.change.decline import detect_shrinking
from nightlight.change.rule import classify_decline
from nightlight.cities.natural import extract_natural_cities
from nightlight.grid import Grid, require_same_grid
from nightlight.io.align import align_to
from nightlight.replication.data import (
    Box,
    crop,
    lonlat_window,
    nearest_shift_m,
    open_china_year,
    resolve_window,
)
from nightlight.replication.params import CHINA_FILES, Params

#: Cities whose light grows by at least this much are counted as growing (``growing_10pct``), %.
GROWING_PCT = 10


def china_inputs(
    data_dir: str | Path,
    base_year: int,
    target_year: int,
    *,
    mask_resampling: str = "nearest",
    light_resampling: str = "average",
    window: Box | str | None = None,
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, dict]:
    """Base year (for the mask, and for its light) and target year, all on the **target year's grid**.

    The base year is resampled explicitly with ``align_to`` when its grid differs
    (2018/2019 vs 2020/2021): once with ``mask_resampling`` (city extents) and once
    with ``light_resampling`` (base-year light sums); see :class:`Params`. Optionally
    cropped to a lon/lat box (a name in :data:`~.params.WINDOWS` or a tuple).

    Returns
    -------
    (base_mask, base_light, target, record)
        ``record["pixel_m"]`` is the target grid's pixel size; ``record["aligned"]``
        (``None`` when the grids are the same) holds the grid offset (m) and how far
        nearest re-indexing moves every pixel (m).
    """
    base = open_china_year(data_dir, base_year)
    target = open_china_year(data_dir, target_year)
    box = resolve_window(window)
    win = lonlat_window(target, box) if box is not None else None
    target_c = crop(target, win)
    t = Grid.of(target).transform
    record: dict[str, Any] = {
        "base_year": base_year,
        "target_year": target_year,
        "window": box,
        "window_px": None if win is None else [int(win.row_off), int(win.col_off), int(win.height), int(win.width)],
        "pixel_m": [float(t.a), float(-t.e)],
    }
    if Grid.of(base).same_as(Grid.of(target)):
        base_mask = base_light = crop(base, win)
        record["aligned"] = None
    else:
        off = Grid.of(target).offset_to(Grid.of(base))
        dx, dy = off.dx, off.dy
        base_mask = align_to(base, target_c, resampling=mask_resampling)
        base_light = (
            base_mask if light_resampling == mask_resampling else align_to(base, target_c, resampling=light_resampling)
        )
        record["aligned"] = {
            "mask_resampling": mask_resampling,
            "light_resampling": light_resampling,
            "offset_x_m": dx,
            "offset_y_m": dy,
            "nearest_shift_m": nearest_shift_m(dx, dy, t.a, -t.e),
        }
    names = (f"DMSP-like {base_year}", f"DMSP-like {target_year}")
    require_same_grid(base_mask, target_c, names=names)
    require_same_grid(base_light, target_c, names=names)
    return base_mask, base_light, target_c, record


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
    window: Box | str | None = None,
    polygons: bool = False,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Natural cities of ``base_year`` (on the target grid) and their change to ``target_year``.

    Returns the per-city table (``city_id``, ``area_km2``, ``light_before``,
    ``light_after``, ``change``, ``status``, ``shrinking``, geometry) and a record
    with counts, share, change quantiles, alignment and timing.
    """
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
        "growing_10pct": int((ch >= GROWING_PCT).sum()),
    }


def short_counts(c: dict) -> dict:
    """The columns of a sensitivity row, from :func:`counts`."""
    return {
        "cities": c["cities"],
        "classified": c["classified"],
        "shrinking": c["shrinking"],
        "share": c["share"],
        "median_change_pct": c["change_pct_p10_p25_p50_p75_p90"][2],
    }


#: Columns of ``china_cities_<base>_<target>.csv.gz`` (not :data:`nightlight.cities.CITY_COLUMNS`,
#: the labeling pass's table: this one keeps its first five and adds the change).
CITY_TABLE = [
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


def write_city_table(result: pd.DataFrame, pair: str, out: Path) -> Path:
    """``china_cities_<base>_<target>.csv.gz``: one row per natural city (no geometry)."""
    path = out / f"china_cities_{pair.replace('→', '_')}.csv.gz"
    result[CITY_TABLE].to_csv(path, index=False, float_format="%.6g")
    return path


def native_city_count(
    data_dir: str | Path, year: int, *, params: Params = Params(), window: Box | str | None = None
) -> int:
    """Natural cities of a year on its own (un-resampled) grid — to show what alignment does to the count."""
    da = open_china_year(data_dir, year)
    box = resolve_window(window)
    if box is not None:
        da = crop(da, lonlat_window(da, box))
    c = extract_natural_cities(
        da, threshold=params.lit_dn, min_area_km2=params.min_area_km2, connectivity=params.connectivity, polygons=False
    )
    return int(len(c))


def year_totals(data_dir: str | Path, *, params: Params = Params()) -> pd.DataFrame:
    """Per year: total DN and lit pixels (DN ≥ ``lit_dn``) over the whole mosaic, each on its own grid."""
    rows = []
    for y in sorted(CHINA_FILES):
        da = open_china_year(data_dir, y)
        tot, lit = dask.compute(da.sum(), (da >= params.lit_dn).sum())
        rows.append({"year": y, "total_dn": float(tot), "lit_pixels": int(lit)})
    return pd.DataFrame(rows)


def crosscheck_detect_shrinking(
    data_dir: str | Path,
    result: gpd.GeoDataFrame,
    *,
    params: Params = Params(),
    n: int = 150,
    window: Box | str | None = None,
) -> dict:
    """Change from the labeling pass vs :func:`nightlight.detect_shrinking` on the same polygons.

    The city polygons are pixel-aligned on the target grid, so exact fractional
    coverage must give the labeling pass's sums; returns the largest differences.
    ``n`` cities spread over the id range plus the three largest are checked.
    """
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

    def rel(a: pd.Series, b: pd.Series) -> float:
        return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))

    return {
        "pair": f"{meta['base_year']}→{meta['target_year']}",
        "cities_checked": int(len(pick)),
        "max_abs_change_diff": float(np.nanmax(np.abs(det["change"] - mine["change"]))),
        "max_rel_light_before_diff": rel(det["light_before"], mine["light_before"]),
        "max_rel_light_after_diff": rel(det["light_after"], mine["light_after"]),
        "same_shrinking": bool((det["shrinking"] == mine["shrinking"]).all()),
        "detect_shrinking_seconds": round(secs, 1),
    }
