"""The national section of ``nightlight replicate``: its phases in order, its tables and its figure.

1. the national 2013 → 2016 run, timed, and the calibrated variant (:mod:`.national`);
2. the 2012–2022 series for every natural city (:mod:`.series`);
3. the census check on the 369 prefectures and the Northeast (:mod:`.census`).

The resampled years (2012, 2022) are computed once into a temporary folder, removed
at the end. Everything the report quotes goes into the returned record.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from nightlight.replication import census as C
from nightlight.replication.data import Box, read_places, resolve_window
from nightlight.replication.national import national_run, write_city_table
from nightlight.replication.params import CHINA_ALBERS, STUDY, VIIRS_ERA, VIIRS_SCALE, NationalParams
from nightlight.replication.series import national_series

PAPER: dict[str, Any] = STUDY["paper"]  # type: ignore[assignment]  # the study's figures (a dict of dicts)

#: Prefecture columns written to ``prefectures_<base>_<target>.csv``.
PREFECTURE_TABLE = (
    "city_code",
    "city",
    "province",
    "popu_2010",
    "popu_2020",
    "pop_change",
    "pop_loss",
    "natural_cities",
    "light_2013",
    "light_change_raw",
    "light_change",
    "light_shrinking",
    "status",
    "city_light_change",
    "trend_rel_slope",
    "mk_q",
)


def run_national(
    data_dir: str | Path,
    out: Path,
    *,
    params: NationalParams = NationalParams(),
    window: Box | str | None = None,
    series: bool = True,
    census: bool = True,
) -> tuple[dict, dict[str, Any]]:
    """The national section; writes its CSV tables to ``out``. Returns (record, frames for the figure)."""
    t0 = time.perf_counter()
    whole = window is None
    rec, frames = national_run(
        data_dir, params=params, window=window, paper_area_km2=float(PAPER["area_km2"]) if whole else None
    )
    rec["params"] = asdict(params)
    rec["window"] = resolve_window(window)
    rec["definitions"] = {"value_scale": VIIRS_SCALE, "viirs_era": VIIRS_ERA}
    cities = frames["cities"]
    span = f"{params.base_year}_{params.target_year}"
    with tempfile.TemporaryDirectory(prefix="nightlight-national-") as tmp:
        smos = None
        if series:
            srec, sres, smos = national_series(
                data_dir, cities, params, window=window, shrinking=cities["shrinking"].to_numpy(bool), cache_dir=tmp
            )
            rec["series"] = srec
            s = sres.set_index("city_id")
            light = [f"light_{y}" for y in sorted(smos)]
            for col in (*light, "trend_slope", "mk_p", "mk_q", "rel_slope"):
                cities[col] = s[col].reindex(cities["city_id"]).to_numpy()
        if census:
            t1 = time.perf_counter()
            rec["census"], pref = _census(data_dir, params, frames, smos, window)
            rec["census"]["seconds"] = round(time.perf_counter() - t1, 1)
            cols = [c for c in PREFECTURE_TABLE if c in pref]
            pref[cols].to_csv(out / f"prefectures_{span}.csv", index=False, float_format="%.6g")
            frames["prefectures"] = pref
    write_city_table(cities, out / f"national_cities_{span}.csv.gz")
    if "calibrated" in frames:
        write_city_table(frames["calibrated"], out / f"national_calibrated_cities_{span}.csv.gz")
    rec["seconds_total"] = round(time.perf_counter() - t0, 1)
    return rec, frames


def _census(
    data_dir: str | Path, params: NationalParams, frames: dict, smos: dict | None, window: Box | str | None
) -> tuple[dict, pd.DataFrame]:
    """Phase 3: prefectures (inside the window when one is run), associations, the Northeast."""
    census = C.read_census(data_dir)
    box = resolve_window(window)
    if box is not None:  # a prefecture cut by the window would be measured on a part of it
        census = census[census.geometry.within(shapely.box(*box))].reset_index(drop=True)
    mos = {"before": frames["base"], "after": frames["after"], "after_corrected": frames["after_corrected"]}
    rec, pref = C.census_check(census, mos, smos, frames["cities"], params)
    rec["northeast"], rec["seeds"] = C.northeast(pref, read_places(), census)
    rec["window_prefectures"] = int(len(census))
    return rec, pref


def albers_points(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The per-city table in the Albers CRS of China, with ``centroid_x/y`` for the map (metres)."""
    t = table.to_crs(CHINA_ALBERS)
    pts = gpd.GeoSeries(gpd.points_from_xy(table["lon"], table["lat"]), crs=table.crs).to_crs(CHINA_ALBERS)
    t["centroid_x"], t["centroid_y"] = pts.x.to_numpy(), pts.y.to_numpy()
    t["shrinking"] = t["shrinking"].fillna(False).astype(bool)
    return t
