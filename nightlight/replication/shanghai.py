"""Shanghai, VIIRS-like 2013 → 2016 (the study's years): natural cities from light and from MGUP, districts.

Uses ``detect_shrinking`` (exact fractional coverage) with the yearly series
2000–2020 for the Theil–Sen / Mann–Kendall trend.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.change.decline import detect_shrinking
from nightlight.cities.natural import extract_natural_cities
from nightlight.grid import Grid, require_same_grid
from nightlight.io.raster import open_mosaic
from nightlight.replication.china import counts
from nightlight.replication.params import FIXED, M_PER_DEG_EQUATOR, write_table

_SH = FIXED["shanghai"]
ALPHA: float = _SH["alpha"]

#: Columns of the Shanghai tables (those present in a result are written).
TABLE_COLUMNS = (
    "city_id Name area_km2 light_before light_after change status shrinking trend_slope mk_p "
    "significant_decline shrink_pattern"
).split()


def shanghai_run(data_dir: str | Path, *, base: int = _SH["base_year"], target: int = _SH["target_year"]) -> dict:
    """Shanghai VIIRS-like ``base`` → ``target``: natural cities from light and from MGUP, districts; series trend.

    Returns the result tables (``light``, ``mgup``, ``districts``, and ``*_2013_2020``
    for the VIIRS-era trend), the head/tail lit threshold, the whole box's yearly
    total light and facts about the grid the report quotes.
    """
    t0 = time.perf_counter()
    # every year from the catalog (in memory: the box is small); the mask and the districts from data_dir
    first, last = _SH["years"]
    mos = {y: open_mosaic(f"{_SH['product']}:{y}", chunks=None) for y in range(first, last + 1)}
    mgup = open_mosaic(str(Path(data_dir) / _SH["mgup"]), chunks=None)
    districts = gpd.read_file(Path(data_dir) / _SH["districts"])
    before, after = mos[base], mos[target]
    require_same_grid(before, mgup, names=(str(before.attrs.get("source", base)), _SH["mgup"]))
    out: dict[str, Any] = {"base": base, "target": target}
    p = _SH["params"]  # fixed in replication.toml
    area, conn = p["min_area_km2"], p["connectivity"]
    layers = {
        "light": extract_natural_cities(
            before,
            lit_threshold=p["viirs_threshold"],
            min_area_km2=area,
            connectivity=conn,
        ),
        "mgup": extract_natural_cities(before, mask=mgup, min_area_km2=area, connectivity=conn),
    }
    out["lit_threshold"] = layers["light"].attrs["nightlight"]["threshold"]

    def shrink(units: Any, series: dict, id_column: str, **kw: Any) -> pd.DataFrame:
        return detect_shrinking(
            units,
            before,
            after,
            series=series,
            min_decline=p["decline"],
            dark_floor=p["viirs_dark_floor"],
            alpha=ALPHA,
            id_column=id_column,
            **kw,
        )

    # The VIIRS-like series is DMSP-derived before 2013 (Chen et al. 2021): the step at
    # 2012→2013 dominates a 2000–2020 trend, so the VIIRS-era trend is tested too.
    viirs_era = {y: m for y, m in mos.items() if y >= _SH["viirs_era"]}
    for key, cities in layers.items():
        shapes = cities[["city_id", "area_km2", "geometry"]]
        out[key] = shrink(shapes, mos, "city_id")
        out[key + "_2013_2020"] = shrink(shapes, viirs_era, "city_id", patterns=False)
    out["districts"] = shrink(districts, mos, "AdCode")
    out["series_total"] = {y: float(np.nansum(np.asarray(m))) for y, m in mos.items()}
    b = np.asarray(before)
    out["grid"] = {
        "pixel_deg": float(Grid.of(before).transform.a),
        "pixel_m_at_equator": float(Grid.of(before).transform.a * M_PER_DEG_EQUATOR),
        # the smallest non-zero value of the base year: what the producer already zeroed below
        "min_positive_base": float(np.nanmin(b[b > 0])) if np.any(b > 0) else float("nan"),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def shanghai_record(sh: dict, out: Path) -> dict:
    """The Shanghai numbers of ``results.json``; writes ``shanghai_{light,mgup,districts}.csv`` to ``out``."""
    rec: dict[str, Any] = {k: sh[k] for k in ("base", "target", "seconds", "lit_threshold", "series_total")}
    for key in ("light", "mgup", "districts"):
        r = sh[key]
        table = write_table(r, out / f"shanghai_{key}.csv", TABLE_COLUMNS, floats="%.6g")
        rec[key] = {**counts(r), "significant_decline": int(r["significant_decline"].sum()), "table": table}
        if key + "_2013_2020" in sh:
            r2 = sh[key + "_2013_2020"]
            rec[key]["significant_decline_2013_2020"] = int(r2["significant_decline"].sum())
            rec[key]["negative_trend_p05_2013_2020"] = int(((r2["trend_slope"] < 0) & (r2["mk_p"] < ALPHA)).sum())
    rec.update(grid=sh["grid"], mgup_year=_SH["mgup_year"], viirs_era=_SH["viirs_era"], alpha=ALPHA)
    return rec
