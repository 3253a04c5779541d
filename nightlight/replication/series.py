"""The 11-year series 2012–2022 per natural city (and per prefecture): Theil–Sen, Mann–Kendall, FDR.

One ``detect_shrinking`` call with ``series=`` sums every year inside the fixed 2013
extents (all years on the 2013 grid, :func:`.viirs.viirs_years`), adds the Theil–Sen
slope, the Mann–Kendall p and its Benjamini–Hochberg q over all cities (``mk_q``).
The producers simulate 2012 from DMSP-OLS (Chen et al. 2021), so the same test is also
run on the VIIRS-era years 2013–2022 alone (:func:`trend_counts` on the light columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.change.trend import benjamini_hochberg, trend_test
from nightlight.replication.data import Box
from nightlight.replication.national import zonal_decline
from nightlight.replication.params import VIIRS_ERA, VIIRS_YEARS, NationalParams
from nightlight.replication.timing import Phases
from nightlight.replication.viirs import viirs_years


def series_run(
    units: gpd.GeoDataFrame,
    mosaics: dict[int, Any],
    params: NationalParams,
    *,
    id_column: str,
    dark_floor: float | None = None,
) -> gpd.GeoDataFrame:
    """``detect_shrinking`` of ``base → target`` with the whole series for the trend (raw light)."""
    return zonal_decline(
        units,
        mosaics[params.base_year],
        mosaics[params.target_year],
        params,
        id_column=id_column,
        dark_floor=dark_floor,
        series=mosaics,
    )


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


def national_series(
    data_dir: str | Path,
    cities: gpd.GeoDataFrame,
    params: NationalParams,
    *,
    window: Box | str | None = None,
    shrinking: np.ndarray | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[dict, gpd.GeoDataFrame, dict[int, Any]]:
    """The series test for every natural city; counts for 2012–2022 and for the VIIRS era 2013–2022.

    ``shrinking``: the headline's 2013 → 2016 classification (after the brightness
    correction) to set beside the trend; the raw one is counted too. ``cache_dir``:
    where the resampled years are computed once (:func:`.viirs.materialise`).

    Returns
    -------
    (record, result, mosaics)
        ``mosaics``: every year on the 2013 grid (reused for the prefectures).
    """
    ph = Phases()
    with ph("open_and_resample"):  # align_to of 2012 and 2022, computed once
        mos, grids = viirs_years(
            data_dir,
            VIIRS_YEARS,
            base_year=params.base_year,
            window=window,
            resampling=params.align_resampling,
            cache_dir=cache_dir,
        )
    with ph("zonal_and_trend"):
        res = series_run(cities[["city_id", "geometry"]], mos, params, id_column="city_id")
    all_years = list(VIIRS_YEARS)
    era = [y for y in all_years if y >= VIIRS_ERA]
    head = res["shrinking"].to_numpy(bool) if shrinking is None else np.asarray(shrinking, bool)
    meta = res.attrs["nightlight"]
    record = {
        "grids": grids,
        "grid_snapped_px_detect": meta.get("grid_snapped_px"),
        "all": trend_counts(res, all_years, alpha=params.alpha, shrinking=head),
        "all_raw": trend_counts(res, all_years, alpha=params.alpha),
        "era": trend_counts(res, era, alpha=params.alpha, shrinking=head),
        "library_columns": {  # the columns detect_shrinking wrote itself (2012–2022, raw 2013 → 2016 drop)
            "significant_decline": int(res["significant_decline"].sum()),
            "significant_decline_fdr": int(res["significant_decline_fdr"].sum()),
        },
        "totals": {str(int(r["year"])): float(r["total"]) for r in meta["mosaic_totals"] if r.get("year") is not None},
        "timing": ph.record(),
    }
    res["rel_slope"] = relative_slope(res, all_years)
    return record, res, mos
