"""The national section of ``nightlight replicate``: its phases in order, its tables.

1. the study configuration through the batch engine, the brightness correction, the
   series and the calibrated variant (:mod:`.national`);
2. the census check on the 369 prefectures and the Northeast (:mod:`.census`).

The batch runs write into ``work`` (resumable); everything the report quotes goes into
the returned record, the tables into ``out``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import shapely

from nightlight.replication import census as C
from nightlight.replication.data import read_places
from nightlight.replication.national import national_run, write_city_table
from nightlight.replication.params import STUDY, VIIRS_ERA, VIIRS_SCALE, Box, NationalParams

PAPER: dict[str, Any] = STUDY["paper"]  # type: ignore[assignment]  # the study's figures (a dict of dicts)

#: Prefecture columns written to ``prefectures_<base>_<target>.csv``.
PREFECTURE_TABLE = tuple(
    (
        "city_code city province popu_2010 popu_2020 pop_change pop_loss natural_cities light_2013 "
        "light_change_raw light_change light_shrinking status city_light_change trend_rel_slope mk_q"
    ).split()
)


def run_national(
    data_dir: str | Path,
    out: Path,
    work: Path,
    *,
    params: NationalParams = NationalParams(),
    window: Box | None = None,
    census: bool = True,
) -> tuple[dict, dict[str, Any]]:
    """The national section; writes its CSV tables to ``out``. Returns (record, frames for the figure).

    ``data_dir``: where the census table is (the mosaics come from the catalog).
    """
    t0 = time.perf_counter()
    whole = window is None
    rec, frames = national_run(
        work, params=params, window=window, paper_area_km2=float(PAPER["area_km2"]) if whole else None
    )
    rec["window"] = window
    rec["definitions"] = {"value_scale": VIIRS_SCALE, "viirs_era": VIIRS_ERA}
    p = rec["params"]
    span = f"{p['base_year']}_{p['target_year']}"
    if census:
        t1 = time.perf_counter()
        rec["census"], pref = _census(data_dir, rec, frames, window)
        rec["census"]["seconds"] = round(time.perf_counter() - t1, 1)
        cols = [c for c in PREFECTURE_TABLE if c in pref]
        pref[cols].to_csv(out / f"prefectures_{span}.csv", index=False, float_format="%.6g")
    write_city_table(frames["cities"], out / f"national_cities_{span}.csv.gz")
    if "calibrated" in frames:
        write_city_table(frames["calibrated"], out / f"national_calibrated_cities_{span}.csv.gz")
    rec["seconds_total"] = round(time.perf_counter() - t0, 1)
    return rec, frames


def _census(data_dir: str | Path, rec: dict, frames: dict, window: Box | None) -> tuple[dict, pd.DataFrame]:
    """Prefectures (inside the window when one is run), associations, the Northeast."""
    census = C.read_census(data_dir)
    if window is not None:  # a prefecture cut by the window would be measured on a part of it
        census = census[census.geometry.within(shapely.box(*window))].reset_index(drop=True)
    p, mos = rec["params"], frames["mosaics"]
    before, after = mos[p["base_year"]], mos[p["target_year"]]
    # the batch engine keeps the resampled years (2012, 2022) in float64; with them beside the float32
    # years, detect_shrinking on the 369 large prefecture polygons peaked at 7 GB and took 105 s (25 s
    # and 0.9 GB on the base year's dtype); the counts were the same either way
    mos = {y: m.astype(before.dtype) for y, m in mos.items()}
    c, pref = C.census_check(
        census,
        {"before": before, "after": after, "after_corrected": frames["after_corrected"]},
        mos if "series" in rec else None,
        frames["cities"],
        decline=p["decline"],
        alpha=p["alpha"],
        dark_floor=p["prefecture_dark_floor"],
    )
    c["northeast"], c["seeds"] = C.northeast(pref, read_places(), census)
    c["window_prefectures"] = int(len(census))
    return c, pref
