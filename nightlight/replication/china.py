"""China, DMSP-like 1 km: natural cities of each base year and the change of their light to 2021.

Each pair is a study configuration (``catalog/studies/china-dmsplike-<base>-2021.toml``)
run by the batch engine: natural cities of the base year on its own grid, the later
year resampled onto that grid (overlap-weighted), ``detect_shrinking``. This module
reads what the runs return: counts, city tables, the grid offset, the whole-mosaic
year totals, the gain-normalised reading the sensitivity table shows, and the natural
cities by region: named places, provinces, the largest agglomerations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from nightlight.batch.config import BatchConfig
from nightlight.change.rule import classify_decline
from nightlight.grid import Grid
from nightlight.outputs.summary import summarize
from nightlight.outputs.write import read_metadata
from nightlight.replication.params import FIXED, Box, containing
from nightlight.replication.studies import load_study, open_year, run_study, variant

_CH = FIXED["china"]

#: Columns of ``china_cities_<base>_<target>.csv.gz``.
CITY_TABLE = "city_id area_km2 n_pixels centroid_x centroid_y light_before light_after change status shrinking".split()


def china_studies(window: Box | None = None) -> dict[int, BatchConfig]:
    """The study configuration of every base year (``china-dmsplike-<base>-2021``), cropped to ``window``."""
    configs = {y: load_study(f"china-dmsplike-{y}-{_CH['target_year']}") for y in _CH["base_years"]}
    return {y: variant(c, region=tuple(window)) if window is not None else c for y, c in configs.items()}


def china_change(config: BatchConfig, work: Path, name: str) -> tuple[gpd.GeoDataFrame, dict]:
    """One pair through the batch engine: the per-city table (with geometry) and its record."""
    result, seconds = run_study(config, work, name)
    target = config.compare[-1]
    res = result.pairs[target]
    c = result.cities.set_index("city_id")
    for col in ("n_pixels", "centroid_x", "centroid_y"):
        res[col] = c[col].reindex(res["city_id"]).to_numpy()
    meta = read_metadata(work / name / f"decline_{config.base}_{target}" / "cities.parquet")
    base, later = (Grid.of(open_year(config.inputs[y], config.params)) for y in (config.base, target))
    off = later.offset_to(base)  # the base year's origin minus the later year's
    record: dict[str, Any] = {
        "base_year": config.base,
        "target_year": target,
        "window": config.params.region,
        "pixel_m": [float(v) for v in base.res],
        "aligned": None
        if base.same_as(later)
        else {"resampling": config.params.align, "offset_x_m": off.dx, "offset_y_m": off.dy},
        **counts(res),
        "seconds": round(seconds["total"], 1),
        "n_components": meta["natural_cities"]["n_components"],
        "mosaic_change": meta.get("mosaic_change"),
    }
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
        "growing_10pct": int((ch >= _CH["growing_pct"]).sum()),
    }


def gain_normalised(config: BatchConfig, result: pd.DataFrame) -> dict:
    """The pair's counts with the window's total-light change divided out (a crude gain correction).

    The factor is the ratio of the two years' totals over the pixels valid in both (on
    the base grid: the decline run's ``mosaic_common_totals``); it also removes real
    growth, so it bounds the effect of a product gain shift.
    """
    tb, ta = result.attrs["nightlight"]["mosaic_common_totals"]
    factor = float(tb) / float(ta)
    ok = (result["status"] == "ok").to_numpy()
    change, _, shrinking = classify_decline(
        result["light_before"].to_numpy(float),
        factor * result["light_after"].to_numpy(float),
        threshold=config.params.min_decline,
    )
    out = pd.DataFrame({"status": result["status"], "change": change, "shrinking": shrinking & ok})
    return {**counts(out), "normalise_factor": factor}


def year_totals(configs: dict[int, BatchConfig]) -> pd.DataFrame:
    """Per year of the pairs: total DN, lit pixels and declared nodata over the whole mosaic, on its own grid."""
    first = next(iter(configs.values()))
    whole = first.params.replace(region=None)
    sources = {y: s for c in configs.values() for y, s in c.inputs.items()}
    lit = float(first.params.lit_threshold)  # a DN level, not "headtail"
    rows = []
    for y, src in sorted(sources.items()):
        da = open_year(src, whole)
        tot, n_lit = dask.compute(da.sum(), (da >= lit).sum())
        nodata = da.attrs.get("source_nodata")  # NaN: the file declares none
        rows.append({"year": y, "total_dn": float(tot), "lit_pixels": int(n_lit), "nodata": nodata})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- by region: places, provinces, the largest
def locate_places(
    result: gpd.GeoDataFrame, places: pd.DataFrame, *, max_km: float = _CH["places_max_km"]
) -> pd.DataFrame:
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
        row = {k: places[k].iloc[i] for k in ("name", "name_zh", "lon", "lat")}
        if j < 0 or d[j] > max_km:
            row.update(match=f"none within {max_km:g} km", distance_km=float(d[j]) if j >= 0 else np.nan)
        else:
            c = result.iloc[j]
            row.update(match="inside" if d[j] == 0 else f"nearest ({d[j]:.1f} km)", distance_km=float(d[j]))
            row |= {k: c[k] for k in ("city_id", "area_km2", "light_before", "light_after", "change", "status")}
            row["shrinking"] = bool(c["shrinking"])
        rows.append(row)
    return pd.DataFrame(rows)


def province_table(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame) -> pd.DataFrame:
    """Counts per province (city representative point within the province), via ``outputs.summarize``."""
    table = summarize(result, by=provinces.dissolve(by="NAME", as_index=False), name_column="NAME")
    return table.sort_values("cities", ascending=False)


def largest_cities(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` largest natural cities: area, share of all cities' base light, province of their point."""
    top = result.sort_values("area_km2", ascending=False).head(n)
    province = containing(top.geometry.representative_point(), provinces, "NAME").fillna("(none)")
    total = float(result["light_before"].sum())
    return pd.DataFrame(
        {
            "city_id": top["city_id"].to_numpy(),
            "area_km2": top["area_km2"].to_numpy(),
            "share_of_city_light": (top["light_before"] / total).to_numpy(),
            "province_of_point": province.to_numpy(),
            "change": top["change"].to_numpy(),
            "shrinking": top["shrinking"].to_numpy(),
        }
    )
