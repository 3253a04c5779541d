"""Does the national 2013 → 2016 count survive a check? Variants, year-to-year scatter, the robust rerun, Kenya.

Issue 22: the report explained its high shrinking share by the 8-bit quantisation and
small cities. This module measures it on the national run's own mosaics (every year on
the 2013 grid, :func:`.national.run_national`) and lit level: :func:`variants` (dithered
values, extents of another year, other pairs of years), :func:`year_record` (how much a
city's light moves from one year to the next), :func:`robust_rerun` (multi-year means,
``shrinking_significant`` of :mod:`nightlight.change.significance`, the census
relation); :func:`kenya` runs the method on float Black Marble radiance. The variants
and years are ``[robust]`` of ``catalog/studies/replication.toml``.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

import nightlight
from nightlight.cities.threshold import headtail_breaks
from nightlight.params import Params
from nightlight.pipeline import decline
from nightlight.replication import census as C
from nightlight.replication.national import correct_brightness, summarise
from nightlight.replication.params import FIXED, NationalParams

#: The variant table, the robust rerun's years and extents, Kenya (``[robust]`` of ``replication.toml``).
ROBUST: dict[str, Any] = FIXED["robust"]


def dither(mosaic: xr.DataArray, seed: int) -> xr.DataArray:
    """``mosaic`` + U[0, 1) per pixel (float32, lazy): each whole 8-bit value spread over its own unit.

    A value v stands for a radiance in [v, v + 1) units, so the dithered values are an
    unbiased guess of the unquantised ones; a rerun on them shows what quantisation does.
    """
    data = mosaic.data if isinstance(mosaic.data, da.Array) else da.from_array(mosaic.data)
    noise = da.random.RandomState(seed).random_sample(data.shape, chunks=data.chunks).astype(np.float32)
    return mosaic.copy(data=data.astype(np.float32) + noise)


def pair_changes(light: pd.DataFrame) -> list[dict[str, Any]]:
    """Per consecutive pair of columns (years): median, quartiles and share ≤ −10 % of the cities' relative change.

    ``light``: one row per city, one column per year (total light). Cities without a
    positive value in the earlier year are left out of that pair.
    """
    years = sorted(light.columns)
    rows = []
    for a, b in zip(years[:-1], years[1:]):
        x, y = light[a].to_numpy(float), light[b].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
        ch = y[ok] / x[ok] - 1
        q25, q50, q75 = np.percentile(ch, [25, 50, 75]) if ch.size else [np.nan] * 3
        share = float(np.mean(ch <= -0.10)) if ch.size else np.nan
        rows.append({"pair": f"{a} → {b}", "n": int(ok.sum()), "median": q50, "p25": q25, "p75": q75})
        rows[-1]["share_10"] = share
    return rows


def year_record(mosaics: dict[int, xr.DataArray], cities: pd.DataFrame, lit: float) -> dict[str, Any]:
    """Whole-mosaic total and pixels ≥ ``lit`` per year (on the base grid); the consecutive-pair changes."""
    sums = {y: (m.sum(), (m >= lit).sum()) for y, m in mosaics.items()}
    (done,) = dask.compute(sums)
    totals = [{"year": str(y), "total": float(t) / 1e6, "lit_pixels": int(n)} for y, (t, n) in sorted(done.items())]
    light = cities[[c for c in cities.columns if c.startswith("light_20")]]
    light.columns = [int(c.removeprefix("light_")) for c in light.columns]
    return {"totals": totals, "pairs": pair_changes(light)}


def _compact(s: dict) -> dict[str, Any]:
    """What the variant table quotes of a :func:`.national.summarise` record."""
    return {k: s[k] for k in ("cities", "shrinking", "share")} | {"small_share": s["by_size"][0]["share"]}


def variants(mosaics: dict[int, xr.DataArray], study: dict, p: Params, params: NationalParams) -> list[dict[str, Any]]:
    """The 10 % rule under each variant of :data:`ROBUST`, uncorrected and corrected; the as-in-report row first."""
    rows = [{"variant": "as in the report", "extent": 2013, "years": "2013 → 2016"}]
    rows[0] |= {"raw": _compact(study["raw"]), "corrected": _compact(study["corrected"])}
    lit, extents = study["threshold"], {}
    for v in ROBUST["variants"]:
        label, ext, b, a, seed = v["label"], v["extent"], v["before"], v["after"], v.get("seed")
        if ext not in extents:
            extents[ext] = nightlight.extract_natural_cities(
                mosaics[ext], lit_threshold=lit, min_area_km2=p.min_area_km2, connectivity=p.connectivity
            )
        cities = extents[ext]
        before, after = mosaics[b], mosaics[a]
        if seed is not None:  # both years, independent noise
            before, after = dither(before, seed), dither(after, seed + 100)
        raw = decline(cities, before, after, p, patterns=False)
        after_c, _ = correct_brightness(before, after, cities, level=lit, params=params)
        cor = decline(cities, before, after_c, p, patterns=False)
        row = {"variant": label, "extent": ext, "years": f"{b} → {a}"}
        rows.append(row | {"raw": _compact(summarise(raw, cities)), "corrected": _compact(summarise(cor, cities))})
    return rows


def robust_rerun(
    mosaics: dict[int, xr.DataArray], study: dict, p: Params, census: gpd.GeoDataFrame | None
) -> list[dict[str, Any]]:
    """Means of the ``base_years`` vs the ``compare_years`` of :data:`ROBUST`, on its ``extents``; the series test.

    Census: each city gets its prefecture's population change (as in :mod:`.census`);
    ρ and the odds ratio of the 10 % rule, and the odds ratio of ``shrinking_significant``.
    """
    before, after = ROBUST["base_years"], ROBUST["compare_years"]
    rp = p.replace(base_years=tuple(before), compare_years=tuple(after))
    rows = []
    for ext in ROBUST["extents"]:
        cities = nightlight.extract_natural_cities(
            mosaics[ext], lit_threshold=study["threshold"], min_area_km2=p.min_area_km2, connectivity=p.connectivity
        )
        res = decline(cities, mosaics[before[0]], mosaics[after[-1]], rp, series=mosaics, patterns=False)
        ok, sig = (res["status"] == "ok").to_numpy(), res["shrinking_significant"].to_numpy(bool)
        row: dict[str, Any] = {"extent": ext, **_tested(res)}
        row |= {"share": row["shrinking"] / ok.sum(), "significant_share": sig.sum() / ok.sum()}
        if census is not None:
            code = C.assign_prefecture(cities, census).reindex(res["city_id"]).to_numpy()
            pop = census.set_index("city_code")["pop_change"].reindex(code).to_numpy()
            change = np.where(ok, res["change"].to_numpy(float), np.nan)
            row["census"] = C.association(change, pop, decline=p.min_decline)
            # the 2 × 2 table of the significant flag: a stand-in change below the line for the flagged cities
            flag = C.association(np.where(ok, np.where(sig, -1.0, 0.0), np.nan), pop, decline=p.min_decline)
            row["census_significant"] = {k: flag[k] for k in ("table", "odds_ratio", "fisher_p")}
        rows.append(row)
    return rows


def kenya(min_decline: float = 0.10) -> dict[str, Any]:
    """Natural cities of the first year (head/tail), change to the last, the series test (catalog ``kenya``)."""
    name, years = ROBUST["kenya"], ROBUST["kenya_years"]
    inputs = nightlight.prepare_inputs({y: f"{name}:{y}" for y in years})
    mosaics = dict(zip(inputs.keys, inputs.mosaics))
    lit = float(headtail_breaks(mosaics[years[0]], max_levels=1)[0])
    cities = nightlight.extract_natural_cities(mosaics[years[0]], lit_threshold=lit)
    res = nightlight.detect_shrinking(cities, series=mosaics, min_decline=min_decline, patterns=False)
    rec = {"catalog": name, "years": f"{years[0]} → {years[-1]}", "lit": lit, **_tested(res)}
    rec["area_km2"] = float(cities["area_km2"].sum())
    return rec | {"growing_10pct": int((res.loc[res["status"] == "ok", "change"] >= 0.10).sum())}


def _tested(res: pd.DataFrame) -> dict[str, Any]:
    """Cities, classified, shrinking, ``shrinking_significant`` and the median change of one series run."""
    ok = (res["status"] == "ok").to_numpy()
    c = {"cities": int(len(res)), "classified": int(ok.sum()), "shrinking": int(res["shrinking"].sum())}
    c["significant"] = int(res["shrinking_significant"].sum())
    return c | {"median_change": float(np.nanmedian(res.loc[ok, "change"]))}


def robustness(
    frames: dict[str, Any], study: dict, p: Params, census: gpd.GeoDataFrame | None, *, params: NationalParams
) -> dict[str, Any]:
    """Everything above but Kenya for the national run (``frames`` and ``study`` of :func:`.national.run_national`)."""
    mos = frames["mosaics"]
    lit_eff = float(np.ceil(study["threshold"]))
    return {
        "variants": variants(mos, study, p, params),
        "years": year_record(mos, frames["cities"], lit_eff),
        "robust": robust_rerun(mos, study, p, census),
        "lit_effective": lit_eff,
    }
