"""The series test of the national run: how many natural cities (or prefectures) trend down or up.

The study configuration's trend years (2012–2022) give every city's light per year, the
Theil–Sen slope, the Mann–Kendall p and its Benjamini–Hochberg q (``detect_shrinking``
with ``series=``, run by the batch engine). The producers simulate 2012 from DMSP-OLS
(Chen et al. 2021), so the same test is also counted on the VIIRS-era years alone.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.change.trend import benjamini_hochberg, trend_test
from nightlight.replication.params import VIIRS_ERA

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


def series_record(rec: dict, table: gpd.GeoDataFrame, alpha: float) -> dict:
    """The series counts from the study's trend table (all years, the VIIRS era); its columns into ``table``.

    ``rec``: the study record holding the batch run's trend table (``_trend``) and its timing.
    """
    res = rec.pop("_trend")
    meta = res.attrs.get("nightlight", {})
    years = sorted(int(c[6:]) for c in res.columns if c.startswith("light_") and c[6:].isdigit())
    era = [y for y in years if y >= VIIRS_ERA]
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
        "timing": rec.pop("_series_timing"),
    }
