"""The study's own test over all of China: VIIRS-like natural cities of 2013 and their light in 2016.

Jiang, Zhai, Meng & Long (2020) found 2,862 natural cities (53,275 km²) in the 2013
NPP-VIIRS composite and 798 of them (13,839 km²) with ≥ 10 % less light in 2016 after
a brightness correction. Here the same method runs on the China VIIRS-like 8-bit
copies (:mod:`.viirs`): natural cities of 2013 (:class:`~.params.NationalParams`),
the 2016 year corrected on pseudo-invariant pixels outside them
(:func:`nightlight.preprocess.normalise.fit_normalisation`), ``detect_shrinking`` with
and without the correction, and the six patterns of the shrinking cities. A
*calibrated* variant picks the lit threshold at which the natural cities cover the
paper's 53,275 km² (:func:`calibrated_threshold`) and then predicts the rest.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from nightlight.change.decline import detect_shrinking
from nightlight.change.patterns import PATTERNS, shrinkage_patterns
from nightlight.cities.natural import extract_natural_cities
from nightlight.preprocess.normalise import fit_normalisation
from nightlight.replication.data import Box
from nightlight.replication.params import VIIRS_SCALE, NationalParams
from nightlight.replication.timing import Phases
from nightlight.replication.viirs import first_headtail_break, open_viirs_year, viirs_years

#: Columns of ``national_cities_<base>_<target>.csv.gz``.
CITY_TABLE = (
    "city_id",
    "area_km2",
    "n_pixels",
    "lon",
    "lat",
    "light_before",
    "light_after",
    "change_raw",
    "shrinking_raw",
    "pattern_raw",
    "light_after_corrected",
    "change",
    "shrinking",
    "shrink_pattern",
)


def natural_cities(mosaic: xr.DataArray, threshold: float, params: NationalParams, *, polygons: bool = True):
    """Natural cities of the base year: value ≥ ``threshold`` (8-bit units), > ``min_area_km2``, connectivity."""
    return extract_natural_cities(
        mosaic,
        threshold=threshold,
        min_area_km2=params.min_area_km2,
        connectivity=params.connectivity,
        polygons=polygons,
    )


def correct_brightness(
    before: xr.DataArray, after: xr.DataArray, cities: gpd.GeoDataFrame, *, level: float, params: NationalParams
) -> tuple[xr.DataArray, dict]:
    """The later year on the base year's radiometry: one call of ``fit_normalisation``, and what the report quotes.

    The invariant pixels are lit (≥ ``level``) in both years, **outside** the natural
    cities under test (dilated by ``correction_buffer_px``) and stable (see
    :mod:`nightlight.preprocess.normalise`).
    """
    fit = fit_normalisation(
        before,
        after,
        level=level,
        exclude=cities[["geometry"]],
        buffer=params.correction_buffer_px,
        model=params.correction_model,
    )
    m = fit.metrics
    rec = {
        "model": params.correction_model,
        "gain": fit.gain,
        "offset": fit.offset,
        "level": float(level),
        "buffer_px": params.correction_buffer_px,
        "n_train": int(fit.n_train),
        "n_test": int(fit.n_test),
        "r2_test": m.get("r2"),
        "rmse_test": m.get("rmse"),
        "bias_test": m.get("bias"),
        "r2_train": m.get("r2_train"),
        "r2_test_lit": m.get("r2_lit"),
        **{k: fit.meta.get(k) for k in ("n_candidates", "n_excluded", "stable_share", "converged", "r2_log")},
    }
    corrected = cast(xr.DataArray, fit.apply(after))  # a DataArray in, a DataArray out
    return corrected, rec


def zonal_decline(
    units: gpd.GeoDataFrame,
    before: xr.DataArray,
    after: xr.DataArray,
    params: NationalParams,
    *,
    id_column: str,
    dark_floor: float | None = None,
    series: dict[int, Any] | None = None,
) -> gpd.GeoDataFrame:
    """``detect_shrinking`` with the national section's settings (cities, prefectures, the series).

    No patterns (``shapes=False``: :func:`decline` computes them apart, for the shrinking
    cities only); ``allow_common_shift=True``: the shift is recorded in the metadata, and
    the brightness correction is the answer to it.
    """
    return detect_shrinking(
        units,
        before,
        after,
        series=series,
        threshold=params.decline,
        alpha=params.alpha,
        id_column=id_column,
        dark_floor=dark_floor,
        shapes=False,
        allow_common_shift=True,
    )


def decline(
    cities: gpd.GeoDataFrame,
    before: xr.DataArray,
    after: xr.DataArray,
    params: NationalParams,
    phases: Phases,
    *,
    dark_floor: float | None = None,
) -> gpd.GeoDataFrame:
    """``detect_shrinking`` on the fixed base-year extents, then the six patterns of the shrinking cities.

    The patterns are what ``detect_shrinking(..., shapes=True)`` computes (the same
    :func:`shrinkage_patterns` call on the same mosaics: nothing is nodata here, so its
    common-pixel mosaics are the mosaics themselves), called apart to time it apart.
    """
    with phases("decline"):
        res = zonal_decline(
            cities[["city_id", "geometry"]], before, after, params, id_column="city_id", dark_floor=dark_floor
        )
    with phases("patterns"):
        idx = np.flatnonzero(res["shrinking"].to_numpy())
        pat = np.full(len(res), None, dtype=object)
        pat[idx] = shrinkage_patterns(res.geometry.to_numpy()[idx], before, after, threshold=params.decline)
        res["shrink_pattern"] = pat
    return res


def summarise(res: gpd.GeoDataFrame, cities: gpd.GeoDataFrame) -> dict[str, Any]:
    """Counts, areas and shares of one decline run, and its pattern shares (of the shrinking cities)."""
    area = cities.set_index("city_id")["area_km2"].reindex(res["city_id"]).to_numpy()
    ok = (res["status"] == "ok").to_numpy()
    shr = res["shrinking"].to_numpy(bool)
    ch = res.loc[ok, "change"].to_numpy(float) * 100
    pats = pd.Series(res.loc[shr, "shrink_pattern"]).value_counts()
    n_pat = int(sum(pats.get(p, 0) for p in PATTERNS))
    meta = res.attrs.get("nightlight", {})
    return {
        "cities": int(len(res)),
        "classified": int(ok.sum()),
        "status_counts": {str(k): int(v) for k, v in res["status"].value_counts().items()},
        "area_km2": float(np.nansum(area)),
        "mean_area_km2": float(np.nanmean(area)) if len(area) else math.nan,
        "shrinking": int(shr.sum()),
        "shrinking_area_km2": float(np.nansum(area[shr])),
        "share": float(shr.sum() / ok.sum()) if ok.any() else math.nan,
        "area_share": float(np.nansum(area[shr]) / np.nansum(area[ok])) if ok.any() else math.nan,
        "change_pct_p10_p25_p50_p75_p90": [round(float(v), 1) for v in np.percentile(ch, [10, 25, 50, 75, 90])]
        if ch.size
        else [math.nan] * 5,
        "growing_10pct": int((ch >= 10).sum()),
        "patterns": {p: int(pats.get(p, 0)) for p in PATTERNS},
        "pattern_statuses": {s: int(pats.get(s, 0)) for s in ("none", "too_small")},
        "pattern_shares": {p: (int(pats.get(p, 0)) / n_pat if n_pat else math.nan) for p in PATTERNS},
        "mosaic_change": meta.get("mosaic_change"),
        "common_shift_warning": bool(any("together" in w for w in meta.get("warnings", []))),
        "grid_snapped_px": meta.get("grid_snapped_px"),
        "by_size": _by_size(area, ok, shr, res["shrink_pattern"].to_numpy()),
    }


#: Upper edges (km²) of the city-size classes of :func:`_by_size`.
SIZE_CLASSES_KM2 = (10.0, 50.0)


def _by_size(area: np.ndarray, ok: np.ndarray, shr: np.ndarray, pattern: np.ndarray) -> list[dict]:
    """Per size class: cities, shrinking share, and the share of *complete* among the shrinking ones.

    Small cities have few pixels of a few whole 8-bit units: one unit is a 15–25 %
    step there, so the floor's quantisation shows first in them.
    """
    edges = (0.0, *SIZE_CLASSES_KM2, math.inf)
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
    params: NationalParams,
    *,
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
    seen: dict[int, tuple[int, float]] = {}

    def area(t: int) -> float:
        if t not in seen:
            c = natural_cities(mosaic, float(t), params, polygons=False)
            seen[t] = (int(len(c)), float(c["area_km2"].sum()))
        return seen[t][1]

    seen.update(known or {})
    above = [t for t, (_, a) in seen.items() if a >= target_km2]
    lo = max(above, default=1)  # the highest level known to keep at least the target
    if area(lo) < target_km2:  # even the lowest level keeps less: nothing to search
        return lo, _trail(seen)
    hi = lo + 1
    while area(hi) >= target_km2 and hi < 255:  # hi: the first level found to keep less than the target
        lo, hi = hi, min(255, 2 * hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if area(mid) >= target_km2 else (lo, mid)
    best = min((lo, hi), key=lambda t: abs(area(t) - target_km2))
    return best, _trail(seen)


def _trail(seen: dict[int, tuple[int, float]]) -> list[dict]:
    return [{"level": t, "cities": n, "area_km2": a} for t, (n, a) in sorted(seen.items())]


def _variant(
    name: str,
    base: xr.DataArray,
    after: xr.DataArray,
    threshold: float,
    params: NationalParams,
    ph: Phases,
    *,
    level: float,
) -> tuple[dict, gpd.GeoDataFrame, xr.DataArray]:
    """Cities at ``threshold``, the correction, and the decline with and without it (timed into ``ph``).

    Returns the record, the per-city table and the corrected later year.
    """
    with ph("cities"):
        cities = natural_cities(base, threshold, params)
    with ph("correction"):
        after_c, corr = correct_brightness(base, after, cities, level=level, params=params)
    raw = decline(cities, base, after, params, ph)
    cor = decline(cities, base, after_c, params, ph)
    table = _city_table(cities, raw, cor)
    rec = {
        "name": name,
        "threshold": float(threshold),
        "threshold_effective": int(math.ceil(threshold)),
        "threshold_radiance": float(math.ceil(threshold) / VIIRS_SCALE),
        "correction": corr,
        "raw": summarise(raw, cities),
        "corrected": summarise(cor, cities),
        "headline": params.headline,
        "n_components": cities.attrs["nightlight"]["n_components"],
    }
    rec["headline_counts"] = rec["corrected"] if params.headline == "corrected" else rec["raw"]
    return rec, table, after_c


def _city_table(cities: gpd.GeoDataFrame, raw: gpd.GeoDataFrame, cor: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per natural city: area, centroid (lon/lat), light, change and pattern with and without correction."""
    t = cities[["city_id", "area_km2", "n_pixels", "centroid_x", "centroid_y", "geometry"]].copy()
    t = t.rename(columns={"centroid_x": "lon", "centroid_y": "lat"})
    r, c = raw.set_index("city_id"), cor.set_index("city_id")
    ids = t["city_id"].to_numpy()
    t["light_before"] = r["light_before"].reindex(ids).to_numpy()
    t["light_after"] = r["light_after"].reindex(ids).to_numpy()
    t["change_raw"] = r["change"].reindex(ids).to_numpy()
    t["shrinking_raw"] = r["shrinking"].reindex(ids).to_numpy()
    t["pattern_raw"] = r["shrink_pattern"].reindex(ids).to_numpy()
    t["light_after_corrected"] = c["light_after"].reindex(ids).to_numpy()
    t["change"] = c["change"].reindex(ids).to_numpy()
    t["shrinking"] = c["shrinking"].reindex(ids).to_numpy()
    t["shrink_pattern"] = c["shrink_pattern"].reindex(ids).to_numpy()
    t["status"] = c["status"].reindex(ids).to_numpy()
    return gpd.GeoDataFrame(t, geometry="geometry", crs=cities.crs)


def national_run(
    data_dir: str | Path,
    *,
    params: NationalParams = NationalParams(),
    window: Box | str | None = None,
    paper_area_km2: float | None = None,
) -> tuple[dict, dict[str, Any]]:
    """The national 2013 → 2016 run (timed), and the calibrated variant when ``paper_area_km2`` is given.

    Returns
    -------
    (record, frames)
        ``record``: parameters, grids, threshold, both variants' counts, the
        corrections, timings; ``frames``: ``cities`` (the per-city table of the run),
        ``base``, ``after``, ``after_corrected`` (the mosaics), ``calibrated`` (its table).
    """
    ph = Phases()
    with ph("open"):
        mos, grids = viirs_years(
            data_dir,
            (params.base_year, params.target_year),
            base_year=params.base_year,
            window=window,
            resampling=params.align_resampling,
        )
    base, after = mos[params.base_year], mos[params.target_year]
    with ph("threshold"):
        if params.lit == "headtail":  # on the whole base-year mosaic, also when a window is run
            lit = first_headtail_break(open_viirs_year(data_dir, params.base_year))
        else:
            lit = float(params.lit)
    rec, table, after_c = _variant("study", base, after, lit, params, ph, level=lit)
    record: dict[str, Any] = {
        "params": params.__dict__.copy(),
        "grids": grids,
        "lit_rule": params.lit if isinstance(params.lit, str) else "fixed",
        "study": rec,
        "timing": ph.record(),
    }
    frames: dict[str, Any] = {"cities": table, "base": base, "after": after, "after_corrected": after_c}
    if paper_area_km2 is not None and params.calibrate_area:
        cal = Phases()
        with cal("search"):
            known = {int(math.ceil(lit)): (rec["raw"]["cities"], rec["raw"]["area_km2"])}
            t_cal, trail = calibrated_threshold(base, paper_area_km2, params, known=known)
        crec, ctable, _ = _variant("calibrated", base, after, float(t_cal), params, cal, level=lit)
        crec["search_trail"] = trail
        crec["target_area_km2"] = paper_area_km2
        crec["timing"] = cal.record()
        record["calibrated"] = crec
        frames["calibrated"] = ctable
    return record, frames


def write_city_table(table: pd.DataFrame, path: Path) -> Path:
    """The per-city table without geometry (gzip CSV): :data:`CITY_TABLE`, then the series columns if any."""
    series = [c for c in table.columns if c.startswith("light_20") or c in ("trend_slope", "mk_p", "mk_q", "rel_slope")]
    table[[c for c in CITY_TABLE if c in table] + series].to_csv(path, index=False, float_format="%.7g")
    return path
