"""Does night-light decline say what the census says? 369 prefectures, 2010 → 2020 population.

Dong, Du & Liu (2022) made the 2010 and 2020 census counts of China's prefectures
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
from nightlight.errors import InvalidVectorError
from nightlight.io.vector import read_polygons
from nightlight.replication.params import CENSUS_FILE, NORTHEAST_PROVINCES, TAIWAN_LONLAT
from nightlight.replication.series import relative_slope, trend_counts
from nightlight.units import dark_floor_for

#: Census columns kept beside the light results.
CENSUS_COLUMNS = ("city_code", "city", "province", "popu_2010", "popu_2020")


def read_census(data_dir: str | Path) -> gpd.GeoDataFrame:
    """The 369 prefecture polygons with 2010/2020 population (``read_polygons`` of the CSV's WKT column)."""
    path = Path(data_dir) / CENSUS_FILE
    if not path.exists():
        raise InvalidVectorError(f"{path}: missing census table; pass data_dir= pointing at the shared data folder.")
    gdf = read_polygons(path, id_column="city_code", crs="EPSG:4326")
    gdf["pop_change"] = gdf["popu_2020"] / gdf["popu_2010"] - 1
    gdf["pop_loss"] = gdf["popu_2020"] < gdf["popu_2010"]
    return gdf


def prefecture_decline(
    census: gpd.GeoDataFrame, before: Any, after: Any, *, decline: float, dark_floor: float | None, **kw: Any
) -> gpd.GeoDataFrame:
    """``detect_shrinking`` on the prefecture polygons (exact fractional coverage), no patterns; ``kw``: alpha, series.

    ``allow_common_shift=True`` as in the study configuration: the shift is recorded in
    the metadata, and the brightness correction is the answer to it.
    """
    units = census[["city_code", "geometry"]]
    return detect_shrinking(
        units,
        before,
        after,
        min_decline=decline,
        id_column="city_code",
        dark_floor=dark_floor,
        patterns=False,
        allow_common_shift=True,
        **kw,
    )


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
    pts = gpd.GeoDataFrame(
        {"city_id": cities["city_id"].to_numpy()},
        geometry=cities.geometry.representative_point().to_numpy(),
        crs=cities.crs,
    )
    j = gpd.sjoin(pts, census[["city_code", "geometry"]].to_crs(cities.crs), how="left", predicate="within")
    j = j[~j.index.duplicated(keep="first")]
    return pd.Series(j["city_code"].to_numpy(), index=cities["city_id"].to_numpy(), name="city_code")


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
        return prefecture_decline(
            census, mosaics["before"], mosaics[after], decline=decline, alpha=alpha, dark_floor=floor, **kw
        )

    default, raw, cor = run("after", None), run("after", dark_floor), run("after_corrected", dark_floor)
    pref = census[list(CENSUS_COLUMNS) + ["pop_change", "pop_loss"]].copy().set_index("city_code")
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
    w, so, e, no = TAIWAN_LONLAT
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
    ok = r["status"] == "ok"
    return {
        "classified": int(ok.sum()),
        "shrinking": int(r["shrinking"].sum()),
        "share": float(r["shrinking"].sum() / ok.sum()) if ok.any() else math.nan,
        "median_change": float(r.loc[ok, "change"].median()) if ok.any() else math.nan,
    }


def _prefecture_city_light(cc: pd.DataFrame, code: pd.Series) -> pd.Series:
    """Change of the summed (corrected) light of each prefecture's natural cities, 2013 → 2016."""
    t = pd.DataFrame(
        {
            "code": code,
            "b": cc["light_before"].reindex(code.index),
            "a": cc["light_after_corrected"].reindex(code.index),
        }
    ).dropna(subset=["code"])
    g = t.groupby("code")[["b", "a"]].sum()
    return (g["a"] - g["b"]) / g["b"]


def northeast(pref: pd.DataFrame, places: pd.DataFrame, census: gpd.GeoDataFrame) -> tuple[list[dict], list[dict]]:
    """Northeast prefectures (Heilongjiang, Jilin, Liaoning) and the seed resource cities' prefectures."""
    ne = pref[pref["province"].isin(NORTHEAST_PROVINCES)].sort_values("pop_change")
    pts = gpd.GeoDataFrame(places, geometry=gpd.points_from_xy(places["lon"], places["lat"]), crs="EPSG:4326")
    j = gpd.sjoin(pts, census[["city_code", "geometry"]].to_crs("EPSG:4326"), how="left", predicate="within")
    seeds = []
    for _, r in j.iterrows():
        row = {"name": r["name"], "name_zh": r["name_zh"], "city_code": r["city_code"]}
        if pd.notna(r["city_code"]):
            p = pref.set_index("city_code").loc[r["city_code"]]
            row.update(
                {k: p[k] for k in ("city", "pop_change", "light_change", "light_shrinking", "city_light_change")}
            )
            row.update({k: p[k] for k in ("trend_rel_slope", "mk_q") if k in p})
        seeds.append(row)
    return ne.to_dict(orient="records"), seeds
