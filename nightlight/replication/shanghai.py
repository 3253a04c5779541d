"""Shanghai, VIIRS-like 2013 → 2016 (the study's years): natural cities from light and from MGUP, districts.

Uses ``detect_shrinking`` (exact fractional coverage) with the yearly series
2000–2020 for the Theil–Sen / Mann–Kendall trend.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nightlight.change.decline import detect_shrinking
from nightlight.cities.natural import extract_natural_cities
from nightlight.grid import Grid, require_same_grid
from nightlight.replication.china import counts
from nightlight.replication.data import open_shanghai
from nightlight.replication.params import (
    M_PER_DEG_EQUATOR,
    SHANGHAI_BASE_YEAR,
    SHANGHAI_MGUP,
    SHANGHAI_MGUP_YEAR,
    SHANGHAI_TARGET_YEAR,
    SHANGHAI_VIIRS_ERA,
    Params,
)

#: Significance level of the Mann–Kendall trend test (``significant_decline``).
ALPHA = 0.05

#: Columns of the Shanghai tables (those present in a result are written).
TABLE_COLUMNS = tuple(
    (
        "city_id Name area_km2 light_before light_after change status shrinking trend_slope mk_p "
        "significant_decline shrink_pattern"
    ).split()
)


def shanghai_run(
    data_dir: str | Path,
    *,
    params: Params = Params(),
    base: int = SHANGHAI_BASE_YEAR,
    target: int = SHANGHAI_TARGET_YEAR,
) -> dict:
    """Shanghai VIIRS-like ``base`` → ``target``: natural cities from light and from MGUP, districts; series trend.

    Returns the result tables (``light``, ``mgup``, ``districts``, and ``*_2013_2020``
    for the VIIRS-era trend), the head/tail lit threshold, the whole box's yearly
    total light and facts about the grid the report quotes.
    """
    t0 = time.perf_counter()
    mos, mgup, districts = open_shanghai(data_dir)
    before, after = mos[base], mos[target]
    require_same_grid(before, mgup, names=(str(before.attrs.get("source", base)), SHANGHAI_MGUP))
    out: dict[str, Any] = {"base": base, "target": target}
    area, conn = params.min_area_km2, params.connectivity
    layers = {
        "light": extract_natural_cities(
            before,
            lit_threshold=params.viirs_threshold,  # type: ignore[arg-type]  # "headtail" or a radiance
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
            min_decline=params.decline,
            dark_floor=params.viirs_dark_floor,
            alpha=ALPHA,
            id_column=id_column,
            **kw,
        )

    # The VIIRS-like series is DMSP-derived before 2013 (Chen et al. 2021): the step at
    # 2012→2013 dominates a 2000–2020 trend, so the VIIRS-era trend is tested too.
    viirs_era = {y: m for y, m in mos.items() if y >= SHANGHAI_VIIRS_ERA}
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
        tab = pd.DataFrame(r[[c for c in TABLE_COLUMNS if c in r]])
        tab.to_csv(out / f"shanghai_{key}.csv", index=False, float_format="%.6g")
        rec[key] = {
            **counts(r),
            "significant_decline": int(r["significant_decline"].sum()),
            "table": tab.to_dict(orient="records"),
        }
        if key + "_2013_2020" in sh:
            r2 = sh[key + "_2013_2020"]
            rec[key]["significant_decline_2013_2020"] = int(r2["significant_decline"].sum())
            rec[key]["negative_trend_p05_2013_2020"] = int(((r2["trend_slope"] < 0) & (r2["mk_p"] < ALPHA)).sum())
    rec.update(grid=sh["grid"], mgup_year=SHANGHAI_MGUP_YEAR, viirs_era=SHANGHAI_VIIRS_ERA, alpha=ALPHA)
    return rec
