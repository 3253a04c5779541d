"""The checks of the national run: its series test, and does its decline say what the census says?

The series: the study configuration's trend years (2012–2022) give every city's light
per year, the Theil–Sen slope, the Mann–Kendall p and its Benjamini–Hochberg q
(``detect_shrinking`` with ``series=``, run by the batch engine); :func:`trend_counts`
counts the units that trend down or up, also on the VIIRS-era years alone (the
producers simulate 2012 from DMSP-OLS, Chen et al. 2021).

The census: Dong, Du & Liu (2022) made the 2010 and 2020 census counts of China's prefectures
comparable across boundary changes and published each prefecture's polygon as WKT
(``coord``). Here ``detect_shrinking`` runs on those polygons for 2013 → 2016 (with
and without the brightness correction) and over the 2012–2022 series; then per
prefecture the light change is set against the population change: Spearman ρ and
the 2 × 2 table (≥ 10 % light decline × population loss) with its odds ratio and
Fisher p; the same for the natural cities, each given the prefecture that contains
its representative point. Nothing is tuned to make the two agree.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import stats

from nightlight.change.decline import detect_shrinking
from nightlight.change.trend import benjamini_hochberg, trend_test
from nightlight.errors import InvalidVectorError
from nightlight.io.vector import read_polygons
from nightlight.replication.china import counts
from nightlight.replication.params import CENSUS_FILE, FIXED, containing
from nightlight.units import dark_floor_for

#: Series columns of the per-city table (besides ``light_<year>``).
SERIES_COLUMNS = ("trend_slope", "mk_p", "mk_q", "rel_slope")


def trend_counts(res: pd.DataFrame, years: list[int], *, alpha: float, shrinking: np.ndarray | None = None) -> dict:
    """How many units trend down/up, by nominal p and by FDR q, over ``years`` (``light_<year>`` columns).

    ``shrinking``: the units' ≥ 10 % drop 2013 → 2016 (default: the ``shrinking`` column),
    to count how many of them also decline significantly.
    """
    tr = trend_test(res[[f"light_{y}" for y in years]].to_numpy(float), [float(y) for y in years])
    slope, p = tr["trend_slope"].to_numpy(), tr["mk_p"].to_numpy()
    q = benjamini_hochberg(p)
    ok = (res["status"] == "ok").to_numpy() & np.isfinite(p)
    down, up = ok & (slope < 0), ok & (slope > 0)
    shr = (res["shrinking"] if shrinking is None else pd.Series(shrinking)).to_numpy(bool)
    sig_down = down & (q < alpha)
    return {
        "years": [int(years[0]), int(years[-1])],
        "n_years": len(years),
        "tested": int(ok.sum()),
        "down": int(down.sum()),
        "up": int(up.sum()),
        "down_p05": int((down & (p < alpha)).sum()),
        "up_p05": int((up & (p < alpha)).sum()),
        "down_fdr": int(sig_down.sum()),
        "up_fdr": int((up & (q < alpha)).sum()),
        "shrinking": int(shr.sum()),
        "shrinking_and_down_fdr": int((shr & sig_down).sum()),
        "shrinking_and_down_p05": int((shr & down & (p < alpha)).sum()),
        "down_fdr_not_shrinking": int((sig_down & ~shr).sum()),
        "min_q": float(np.nanmin(q)) if np.isfinite(q).any() else float("nan"),
    }


def relative_slope(res: pd.DataFrame, years: list[int]) -> np.ndarray:
    """Theil–Sen slope as a share of the unit's mean light over ``years``, per year (unitless)."""
    light = res[[f"light_{y}" for y in years]].to_numpy(float)
    slope = trend_test(light, [float(y) for y in years])["trend_slope"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return slope / np.nanmean(light, axis=1)


def series_record(res: pd.DataFrame, table: gpd.GeoDataFrame, alpha: float) -> dict:
    """The series counts of the batch run's trend table ``res`` (all years, VIIRS era); its columns into ``table``."""
    meta = res.attrs.get("nightlight", {})
    years = sorted(int(c[6:]) for c in res.columns if c.startswith("light_") and c[6:].isdigit())
    era = [y for y in years if y >= FIXED["national"]["viirs_era"]]
    head = table.set_index("city_id")["shrinking"].reindex(res["city_id"]).to_numpy(bool)
    res = res.copy()
    res["rel_slope"] = relative_slope(res, years)
    s = res.set_index("city_id")
    for col in (*(f"light_{y}" for y in years), *SERIES_COLUMNS):
        table[col] = s[col].reindex(table["city_id"]).to_numpy()
    return {
        "grid_snapped_px_detect": meta.get("grid_snapped_px"),
        "all": trend_counts(res, years, alpha=alpha, shrinking=head),
        "all_raw": trend_counts(res, years, alpha=alpha),
        "era": trend_counts(res, era, alpha=alpha, shrinking=head),
        "library_columns": {  # the columns detect_shrinking wrote itself (all years, raw drop)
            "significant_decline": int(res["significant_decline"].sum()),
            "significant_decline_fdr": int(res["significant_decline_fdr"].sum()),
        },
        "totals": {str(int(r["year"])): float(r["total"]) for r in meta["mosaic_totals"] if r.get("year") is not None},
    }


def read_census(data_dir: str | Path) -> gpd.GeoDataFrame:
    """The 369 prefecture polygons with 2010/2020 population (``read_polygons`` of the CSV's WKT column)."""
    path = Path(data_dir) / CENSUS_FILE
    if not path.exists():
        raise InvalidVectorError(f"{path}: missing census table; pass data_dir= pointing at the shared data folder.")
    gdf = read_polygons(path, id_column="city_code", crs="EPSG:4326")
    gdf["pop_change"] = gdf["popu_2020"] / gdf["popu_2010"] - 1
    gdf["pop_loss"] = gdf["popu_2020"] < gdf["popu_2010"]
    return gdf


def association(light_change: np.ndarray, pop_change: np.ndarray, *, decline: float) -> dict[str, Any]:
    """Spearman ρ (light change vs population change) and the 2 × 2 table with odds ratio and Fisher p.

    Rows: light fell ≥ ``decline`` (yes/no); columns: population fell (yes/no).
    Units without a finite light change are left out (``n``).
    """
    lc, pc = np.asarray(light_change, float), np.asarray(pop_change, float)
    ok = np.isfinite(lc) & np.isfinite(pc)
    lc, pc = lc[ok], pc[ok]
    rho, p = stats.spearmanr(lc, pc) if ok.sum() > 2 else (math.nan, math.nan)
    dim, lost = lc <= -decline, pc < 0
    table = [[int((dim & lost).sum()), int((dim & ~lost).sum())], [int((~dim & lost).sum()), int((~dim & ~lost).sum())]]
    odds, fisher_p = stats.fisher_exact(table) if ok.sum() else (math.nan, math.nan)
    return {
        "n": int(ok.sum()),
        "spearman_rho": float(rho),
        "spearman_p": float(p),
        "table": table,  # [[dim & lost, dim & not lost], [not dim & lost, not dim & not lost]]
        "odds_ratio": float(odds),
        "fisher_p": float(fisher_p),
    }


def assign_prefecture(cities: gpd.GeoDataFrame, census: gpd.GeoDataFrame) -> pd.Series:
    """``city_code`` of the prefecture containing each city's representative point (NaN: none)."""
    code = containing(cities.geometry.representative_point(), census, "city_code").to_numpy()
    return pd.Series(code, index=cities["city_id"].to_numpy(), name="city_code")


def census_check(
    census: gpd.GeoDataFrame,
    mosaics: dict[str, Any],
    series_mosaics: dict[int, Any] | None,
    cities: gpd.GeoDataFrame,
    *,
    decline: float,
    alpha: float,
    dark_floor: float,
) -> tuple[dict, pd.DataFrame]:
    """Prefectures' light (2013 → 2016 raw/corrected, series) against population; the same for natural cities.

    ``mosaics``: ``before``, ``after``, ``after_corrected`` on one grid; ``cities``: the
    national per-city table (``change``, ``shrinking``, ``city_id``, geometry);
    ``dark_floor``: the prefectures' (mean value per pixel; the default floor is also run).
    """
    floor_default = dark_floor_for(str(mosaics["before"].attrs.get("units")))

    def run(after: str, floor: float | None, **kw: Any) -> gpd.GeoDataFrame:
        """``detect_shrinking`` on the polygons (exact coverage), no patterns; a common shift recorded, not refused."""
        units, b, a = census[["city_code", "geometry"]], mosaics["before"], mosaics[after]
        opts = {"min_decline": decline, "alpha": alpha, "dark_floor": floor, "patterns": False} | kw
        return detect_shrinking(units, b, a, id_column="city_code", allow_common_shift=True, **opts)

    default, raw, cor = run("after", None), run("after", dark_floor), run("after_corrected", dark_floor)
    kept = ["city_code", "city", "province", "popu_2010", "popu_2020", "pop_change", "pop_loss"]  # census columns
    pref = census[kept].copy().set_index("city_code")
    for sfx, r in (("_raw", raw), ("", cor)):
        r = r.set_index("city_code").reindex(pref.index)
        for col, name in (("light_change", "change"), ("light_shrinking", "shrinking"), ("status", "status")):
            pref[col + sfx] = r[name]
    pref["light_2013"] = raw.set_index("city_code")["light_before"].reindex(pref.index)
    rec: dict[str, Any] = {
        "n_prefectures": int(len(census)),
        "dark_floor_default": floor_default,
        "dark_floor_chosen": dark_floor,
        "too_dark_default": int((default["status"] == "too_dark").sum()),
        "too_dark_chosen": int((raw["status"] == "too_dark").sum()),
        "status_counts_default": {str(k): int(v) for k, v in default["status"].value_counts().items()},
        "pop_loss": int(census["pop_loss"].sum()),
        "raw": _counts(raw),
        "corrected": _counts(cor),
        "prefecture": association(pref["light_change"], pref["pop_change"], decline=decline),
        "prefecture_raw": association(pref["light_change_raw"], pref["pop_change"], decline=decline),
    }
    if series_mosaics is not None:
        years = sorted(series_mosaics)
        ser = run("after", dark_floor, series=series_mosaics).set_index("city_code", drop=False)
        pref["trend_rel_slope"] = pd.Series(relative_slope(ser, years), index=ser.index).reindex(pref.index)
        pref["mk_q"] = ser["mk_q"].reindex(pref.index)
        rec["series"] = trend_counts(
            ser.reset_index(drop=True),
            years,
            alpha=alpha,
            shrinking=cor.set_index("city_code")["shrinking"].reindex(ser.index).to_numpy(),
        )
        rec["prefecture_trend"] = association(pref["trend_rel_slope"], pref["pop_change"], decline=0.0)
    code = assign_prefecture(cities, census)
    cc = cities.set_index("city_id")
    nc = pd.DataFrame({"city_code": code, "change": cc["change"].reindex(code.index)})
    nc["pop_change"] = pref["pop_change"].reindex(nc["city_code"]).to_numpy()
    rec["natural_cities"] = association(nc["change"], nc["pop_change"], decline=decline)
    rec["natural_cities_unassigned"] = int(nc["city_code"].isna().sum())
    w, so, e, no = FIXED["national"]["taiwan_lonlat"]
    lon, lat = cc["lon"].reindex(code.index).to_numpy(), cc["lat"].reindex(code.index).to_numpy()
    in_tw = (lon >= w) & (lon <= e) & (lat >= so) & (lat <= no)
    rec["natural_cities_unassigned_taiwan"] = int((nc["city_code"].isna().to_numpy() & in_tw).sum())
    rec["natural_cities_taiwan_area_km2"] = float(cc["area_km2"].reindex(code.index).to_numpy()[in_tw].sum())
    rec["natural_cities_taiwan"] = int(in_tw.sum())
    agg = _prefecture_city_light(cc, code)
    pref["city_light_change"] = agg.reindex(pref.index)
    rec["prefecture_city_light"] = association(pref["city_light_change"], pref["pop_change"], decline=decline)
    pref["natural_cities"] = code.value_counts().reindex(pref.index).fillna(0).astype(int)
    return rec, pref.reset_index()


def _counts(r: pd.DataFrame) -> dict[str, Any]:
    ok, c = r["status"] == "ok", counts(r)
    median = float(r.loc[ok, "change"].median()) if ok.any() else math.nan
    return {k: c[k] for k in ("classified", "shrinking", "share")} | {"median_change": median}


def _prefecture_city_light(cc: pd.DataFrame, code: pd.Series) -> pd.Series:
    """Change of the summed (corrected) light of each prefecture's natural cities, 2013 → 2016."""
    light = cc[["light_before", "light_after_corrected"]].reindex(code.index).set_axis(["b", "a"], axis=1)
    g = light.assign(code=code).dropna(subset=["code"]).groupby("code")[["b", "a"]].sum()
    return (g["a"] - g["b"]) / g["b"]


def northeast(pref: pd.DataFrame, places: pd.DataFrame, census: gpd.GeoDataFrame) -> tuple[list[dict], list[dict]]:
    """Northeast prefectures (Heilongjiang, Jilin, Liaoning) and the seed resource cities' prefectures."""
    ne = pref[pref["province"].isin(FIXED["national"]["northeast_provinces"])].sort_values("pop_change")
    pts = gpd.GeoSeries(gpd.points_from_xy(places["lon"], places["lat"]), crs="EPSG:4326", index=places.index)
    seeds = []
    for (_, r), code in zip(places.iterrows(), containing(pts, census, "city_code")):
        row = {"name": r["name"], "name_zh": r["name_zh"], "city_code": code}
        if pd.notna(code):
            p = pref.set_index("city_code").loc[code]
            row.update(
                {k: p[k] for k in ("city", "pop_change", "light_change", "light_shrinking", "city_light_change")}
            )
            row.update({k: p[k] for k in ("trend_rel_slope", "mk_q") if k in p})
        seeds.append(row)
    return ne.to_dict(orient="records"), seeds
