"""The study's own test over all of China: VIIRS-like natural cities of 2013 and their light in 2016.

Jiang, Zhai, Meng & Long (2020) found 2,862 natural cities (53,275 km²) in the 2013
NPP-VIIRS composite and 798 of them (13,839 km²) with ≥ 10 % less light in 2016 after
a brightness correction. Here the batch engine runs the study configuration
``catalog/studies/national-viirslike-2013-2016.toml`` (natural cities of 2013, their
raw decline to 2016 with the shrinkage patterns, the 2012–2022 series); this module
builds the rest from what it returns, with the public API:

* the brightness correction of 2016 on pseudo-invariant pixels outside the cities
  (:func:`nightlight.preprocess.normalise.fit_normalisation`, model ``gain``) and the
  decline on the corrected year (:func:`nightlight.pipeline.decline`);
* the *calibrated* variant: the lit level at which the natural cities cover the
  paper's 53,275 km² (:func:`calibrated_threshold`), run as a variant of the study;
* the series counts (all years, VIIRS era) and the census check (:mod:`.census`);
  :func:`run_national` runs the section in order and writes its tables.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from nightlight.batch.config import BatchConfig
from nightlight.batch.run import open_years
from nightlight.batch.state import CHECKPOINTS
from nightlight.change.patterns import PATTERNS
from nightlight.cities.natural import extract_natural_cities
from nightlight.cities.threshold import headtail_breaks
from nightlight.outputs.write import read_metadata
from nightlight.pipeline import decline
from nightlight.preprocess.normalise import fit_normalisation
from nightlight.progress import peak_rss_mb
from nightlight.replication import census as C
from nightlight.replication.china import counts
from nightlight.replication.params import FIXED, STUDY, Box, NationalParams, read_places, write_table
from nightlight.replication.studies import grid_record, load_study, open_year, run_study, variant

PAPER: dict[str, Any] = STUDY["paper"]  # the study's figures
_NAT: dict[str, Any] = FIXED["national"]

#: Prefecture columns written to ``prefectures_<base>_<target>.csv``.
PREFECTURE_TABLE = (
    "city_code city province popu_2010 popu_2020 pop_change pop_loss natural_cities light_2013 "
    "light_change_raw light_change light_shrinking status city_light_change trend_rel_slope mk_q"
).split()
#: Columns of ``national_cities_<base>_<target>.csv.gz`` (then the series columns).
CITY_TABLE = (
    "city_id area_km2 n_pixels lon lat light_before light_after change_raw shrinking_raw pattern_raw "
    "light_after_corrected change shrinking shrink_pattern"
).split()


def correct_brightness(
    before: xr.DataArray, after: xr.DataArray, cities: gpd.GeoDataFrame, *, level: float, params: NationalParams
) -> tuple[xr.DataArray, dict]:
    """The later year on the base year's radiometry: one call of ``fit_normalisation``, and what the report quotes.

    The invariant pixels are lit (≥ ``level``) in both years, **outside** the natural
    cities under test (dilated by ``correction_buffer_px``) and stable (see
    :mod:`nightlight.preprocess.normalise`).
    """
    buffer, model = params.correction_buffer_px, params.correction_model
    fit = fit_normalisation(before, after, level=level, exclude=cities[["geometry"]], buffer=buffer, model=model)
    m, meta = fit.metrics, fit.meta
    rec = {"model": model, "gain": fit.gain, "offset": fit.offset, "level": float(level)}
    rec |= {"buffer_px": buffer, "n_train": int(fit.n_train), "n_test": int(fit.n_test)}
    rec |= {k: m.get(v) for k, v in (("r2_test", "r2"), ("rmse_test", "rmse"), ("bias_test", "bias"))}
    rec |= {"r2_train": m.get("r2_train"), "r2_test_lit": m.get("r2_lit")}
    rec |= {k: meta.get(k) for k in ("n_candidates", "n_excluded", "stable_share", "converged", "r2_log")}
    return cast(xr.DataArray, fit.apply(after)), rec


def summarise(res: gpd.GeoDataFrame, cities: gpd.GeoDataFrame) -> dict[str, Any]:
    """:func:`.china.counts` of one decline run, its areas and its pattern shares (of the shrinking cities)."""
    area = cities.set_index("city_id")["area_km2"].reindex(res["city_id"]).to_numpy()
    ok = (res["status"] == "ok").to_numpy()
    shr = res["shrinking"].to_numpy(bool)
    pats = pd.Series(res.loc[shr, "shrink_pattern"]).value_counts()
    n_pat = int(sum(pats.get(p, 0) for p in PATTERNS))
    meta = res.attrs.get("nightlight", {})
    return {
        **counts(res),
        "status_counts": {str(k): int(v) for k, v in res["status"].value_counts().items()},
        "area_km2": float(np.nansum(area)),
        "mean_area_km2": float(np.nanmean(area)) if len(area) else math.nan,
        "shrinking_area_km2": float(np.nansum(area[shr])),
        "area_share": float(np.nansum(area[shr]) / np.nansum(area[ok])) if ok.any() else math.nan,
        "patterns": {p: int(pats.get(p, 0)) for p in PATTERNS},
        "pattern_statuses": {s: int(pats.get(s, 0)) for s in ("none", "too_small")},
        "pattern_shares": {p: (int(pats.get(p, 0)) / n_pat if n_pat else math.nan) for p in PATTERNS},
        "mosaic_change": meta.get("mosaic_change"),
        "common_shift_warning": bool(any("together" in w for w in meta.get("warnings", []))),
        "grid_snapped_px": meta.get("grid_snapped_px"),
        "by_size": _by_size(area, ok, shr, res["shrink_pattern"].to_numpy()),
    }


def _by_size(area: np.ndarray, ok: np.ndarray, shr: np.ndarray, pattern: np.ndarray) -> list[dict]:
    """Per size class: cities, shrinking share, and the share of *complete* among the shrinking ones.

    Whether quantisation drives the small classes is measured, not assumed: the
    dithered variants of :mod:`.robust` rerun the classes without it.
    """
    edges = (0.0, *FIXED["national"]["size_classes_km2"], math.inf)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (area > lo) & (area <= hi)
        n_ok, n_shr = int((m & ok).sum()), int((m & shr).sum())
        rows.append(
            {
                "min_km2": lo,
                "max_km2": hi,
                "cities": int(m.sum()),
                "shrinking": n_shr,
                "share": n_shr / n_ok if n_ok else math.nan,
                "complete_share": float(np.mean(pattern[m & shr] == "complete")) if n_shr else math.nan,
            }
        )
    return rows


def calibrated_threshold(
    mosaic: xr.DataArray,
    target_km2: float,
    *,
    min_area_km2: float = 5.0,
    connectivity: int = 8,
    known: dict[int, tuple[int, float]] | None = None,
) -> tuple[int, list[dict]]:
    """The whole-number lit level (8-bit) whose natural cities' total area is closest to ``target_km2``.

    The values are whole numbers, so only whole levels differ; the kept area cannot
    grow with the level (a city kept at ``t + 1`` lies inside one kept at ``t``), so a
    bisection finds the crossing. ``known``: levels already measured (level → (cities, km²)).

    Returns
    -------
    (level, trail)
        ``trail``: every level measured, with its city count and total area.
    """
    seen: dict[int, tuple[int, float]] = dict(known or {})

    def area(t: int) -> float:
        if t not in seen:
            c = extract_natural_cities(
                mosaic, lit_threshold=float(t), min_area_km2=min_area_km2, connectivity=connectivity, polygons=False
            )
            seen[t] = (int(len(c)), float(c["area_km2"].sum()))
        return seen[t][1]

    above = [t for t, (_, a) in seen.items() if a >= target_km2]
    lo = max(above, default=1)  # the highest level known to keep at least the target

    def trail() -> list[dict]:
        return [{"level": t, "cities": n, "area_km2": a} for t, (n, a) in sorted(seen.items())]

    if area(lo) < target_km2:  # even the lowest level keeps less: nothing to search
        return lo, trail()
    hi = lo + 1
    while area(hi) >= target_km2 and hi < 255:  # hi: the first level found to keep less than the target
        lo, hi = hi, min(255, 2 * hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if area(mid) >= target_km2 else (lo, mid)
    return min((lo, hi), key=lambda t: abs(area(t) - target_km2)), trail()


def _timing(phases: dict[str, float], wall: float, cpu0: float, load0: list[float]) -> dict[str, Any]:
    """Phases and wall (s), CPU since ``cpu0`` (s), the process's peak RSS (MB), the load average before and after."""
    return {
        "phases_s": {k: round(v, 2) for k, v in phases.items()},
        "wall_s": round(wall, 2),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "peak_rss_scope": "process since start",
        "load_start": load0,
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }


def _variant(
    name: str, config: BatchConfig, work: Path, params: NationalParams, *, level: float | None = None
) -> tuple[dict, gpd.GeoDataFrame, dict[int, xr.DataArray], xr.DataArray]:
    """One batch run of ``config`` (cities, raw decline, patterns[, series]), the correction, the corrected decline.

    ``level``: the lit level of the invariant pixels (default: this run's own lit level).
    Returns the record (with ``series`` when the run has trend years), the per-city table,
    the mosaics on the base grid and the corrected later year.
    """
    cpu0, load0 = time.process_time(), [round(v, 2) for v in os.getloadavg()]
    target = config.compare[-1]
    result, stages = run_study(config, work, name)
    inputs = open_years(config, {}, work / name / CHECKPOINTS / "aligned")  # the aligned years written once
    mosaics = dict(zip(inputs.keys, inputs.mosaics))
    base, after = mosaics[config.base], mosaics[target]
    cities, raw = result.cities, result.pairs[target]
    meta = read_metadata(work / name / f"decline_{config.base}_{target}" / "cities.parquet")["natural_cities"]
    lit = float(meta["threshold"])
    t1 = time.perf_counter()
    after_c, corr = correct_brightness(base, after, cities, level=lit if level is None else level, params=params)
    t2 = time.perf_counter()
    cor = decline(cities, base, after_c, config.params)
    phases = {
        "open (batch)": stages["open"],
        "cities (batch)": stages["cities"],
        "decline and patterns (batch)": stages[f"decline {config.base}->{target}"],
        "correction": t2 - t1,
        "corrected decline and patterns": time.perf_counter() - t2,
    }
    rec = {
        "name": name,
        "threshold": lit,
        "threshold_effective": int(math.ceil(lit)),
        "threshold_radiance": float(math.ceil(lit) / _NAT["value_scale"]),
        "correction": corr,
        "raw": summarise(raw, cities),
        "corrected": summarise(cor, cities),
        "headline": params.headline,
        "n_components": meta["n_components"],
    }
    rec["headline_counts"] = rec["corrected"] if params.headline == "corrected" else rec["raw"]
    table = _city_table(cities, raw, cor)
    if result.trend is not None:
        ph = {"open_and_resample": stages["open"], "zonal_and_trend": stages["trend"]}
        rec["series"] = C.series_record(result.trend, table, config.alpha)
        rec["series"]["timing"] = _timing(ph, sum(ph.values()), cpu0, load0)
    rec["timing"] = _timing(phases, sum(phases.values()) - stages["open"], cpu0, load0)
    return rec, table, mosaics, after_c


#: Per-city table column → (decline run, its column): ``raw`` uncorrected, ``cor`` corrected.
_CITY_COLUMNS = {
    **{c: ("raw", c) for c in ("light_before", "light_after")},
    **{f"{c}_raw": ("raw", c) for c in ("change", "shrinking")},
    "pattern_raw": ("raw", "shrink_pattern"),
    "light_after_corrected": ("cor", "light_after"),
    **{c: ("cor", c) for c in ("change", "shrinking", "shrink_pattern", "status")},
}


def _city_table(cities: gpd.GeoDataFrame, raw: gpd.GeoDataFrame, cor: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per natural city: area, centroid (lon/lat), light, change and pattern with and without correction."""
    t = cities[["city_id", "area_km2", "n_pixels", "centroid_x", "centroid_y", "geometry"]].copy()
    t = t.rename(columns={"centroid_x": "lon", "centroid_y": "lat"})
    runs = {"raw": raw.set_index("city_id"), "cor": cor.set_index("city_id")}
    for col, (run, name) in _CITY_COLUMNS.items():
        t[col] = runs[run][name].reindex(t["city_id"].to_numpy()).to_numpy()
    return gpd.GeoDataFrame(t, geometry="geometry", crs=cities.crs)


def write_city_table(table: pd.DataFrame, path: Path) -> None:
    """The per-city table without geometry (gzip CSV): :data:`CITY_TABLE`, then the series columns if any."""
    series = [c for c in table.columns if c.startswith("light_20") or c in C.SERIES_COLUMNS]
    write_table(table, path, [*CITY_TABLE, *series], floats="%.7g")


def run_national(
    data_dir: str | Path,
    out: Path,
    work: Path,
    *,
    params: NationalParams = NationalParams(),
    window: Box | None = None,
    census: bool = True,
) -> tuple[dict, dict[str, Any]]:
    """The study configuration through the batch engine, the correction, the series, the census check.

    Writes the section's CSV tables to ``out``. ``window``: a lon/lat box; the lit level is
    then the head/tail break of the **whole** base-year mosaic, so a window is a crop of the
    national run, not a run of its own; the calibrated variant runs on whole-country runs
    only, and the census check on the prefectures inside the window (a prefecture cut by
    the window would be measured on a part of it). ``data_dir``: where the census table is.

    Returns
    -------
    (record, frames)
        ``frames``: ``cities`` (the per-city table), ``mosaics`` (every year on the base
        grid), ``after_corrected``.
    """
    t0 = time.perf_counter()
    config = load_study(params.study)
    if window is not None:
        whole = open_year(config.inputs[config.base], config.params.replace(region=None))
        config = variant(config, region=tuple(window), lit_threshold=float(headtail_breaks(whole, max_levels=1)[0]))
    p = config.params
    rec, table, mosaics, after_c = _variant("study", config, work, params)
    record: dict[str, Any] = {
        "params": {
            "study": params.study,
            "base_year": config.base,
            "target_year": config.compare[-1],
            "lit": config.params.lit_threshold if window is None else "headtail",
            "min_area_km2": p.min_area_km2,
            "connectivity": p.connectivity,
            "decline": p.min_decline,
            "alpha": config.alpha,
            "align_resampling": p.align,
            **{k: v for k, v in dataclasses.asdict(params).items() if k != "study"},
        },
        "grids": grid_record(config, window),
        "lit_rule": "headtail",
        "study": rec,
        "timing": rec.pop("timing"),
        "window": window,
        "definitions": {k: _NAT[k] for k in ("value_scale", "viirs_era")},
    }
    if "series" in rec:
        record["series"] = rec.pop("series")
    frames: dict[str, Any] = {"cities": table, "mosaics": mosaics, "after_corrected": after_c}
    span = f"{config.base}_{config.compare[-1]}"
    if window is None and params.calibrate_area:
        t1 = time.perf_counter()
        known = {rec["threshold_effective"]: (rec["raw"]["cities"], rec["raw"]["area_km2"])}
        area = float(PAPER["area_km2"])
        level, trail = calibrated_threshold(
            mosaics[config.base], area, min_area_km2=p.min_area_km2, connectivity=p.connectivity, known=known
        )
        search = time.perf_counter() - t1
        cal_config = variant(config, trend=False, lit_threshold=float(level))
        crec, ctable, _, _ = _variant("calibrated", cal_config, work, params, level=rec["threshold"])
        crec["timing"]["phases_s"] = {"search": round(search, 2), **crec["timing"]["phases_s"]}
        crec["timing"]["wall_s"] = round(crec["timing"]["wall_s"] + search, 2)
        record["calibrated"] = crec | {"search_trail": trail, "target_area_km2": area}
        write_city_table(ctable, out / f"national_calibrated_cities_{span}.csv.gz")
    if census:
        record["census"] = _census(data_dir, out / f"prefectures_{span}.csv", record, frames, window)
    write_city_table(table, out / f"national_cities_{span}.csv.gz")
    record["seconds_total"] = round(time.perf_counter() - t0, 1)
    return record, frames


def _census(data_dir: str | Path, csv: Path, rec: dict, frames: dict[str, Any], window: Box | None) -> dict:
    """The census check of :mod:`.census` on the prefectures (inside ``window``); writes their table to ``csv``."""
    t0 = time.perf_counter()
    p, mos = rec["params"], frames["mosaics"]
    prefs = C.read_census(data_dir)
    if window is not None:
        prefs = prefs[prefs.geometry.within(shapely.box(*window))].reset_index(drop=True)
    before, after = mos[p["base_year"]], mos[p["target_year"]]
    # every year is on the base year's working dtype (prepare_inputs): float64 resampled years beside
    # float32 ones once made the prefecture run peak at 7 GB
    series = mos if "series" in rec else None
    c, pref = C.census_check(
        prefs,
        {"before": before, "after": after, "after_corrected": frames["after_corrected"]},
        series,
        frames["cities"],
        decline=p["decline"],
        alpha=p["alpha"],
        dark_floor=p["prefecture_dark_floor"],
    )
    c["northeast"], c["seeds"] = C.northeast(pref, read_places(), prefs)
    c["window_prefectures"] = int(len(prefs))
    c["seconds"] = round(time.perf_counter() - t0, 1)
    write_table(pref, csv, PREFECTURE_TABLE, floats="%.6g")
    return c
