"""How the counts move with each parameter chosen up front, one at a time around the study's.

China: variants of the DMSP-like study configurations run by the batch engine
(:func:`~.studies.variant`); Shanghai: the labeling pass's sums around :class:`Params`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.batch.config import BatchConfig
from nightlight.change.rule import classify_decline
from nightlight.cities.natural import extract_natural_cities
from nightlight.io.raster import open_mosaic
from nightlight.preprocess.steps import apply_steps
from nightlight.replication.china import counts, gain_normalised
from nightlight.replication.params import (
    CHINA_TARGET_YEAR,
    SHANGHAI_BASE_YEAR,
    SHANGHAI_PRODUCT,
    SHANGHAI_TARGET_YEAR,
    Params,
)
from nightlight.replication.studies import run_study, variant


@dataclass(frozen=True)
class Design:
    """What the sensitivity runs vary (written to ``results.json``, read by the report).

    China: extraction parameters on a pair on one grid (``china_extraction_base`` →
    2021); the resampling of the later year on the pairs across the grid change
    (``china_resampling_bases``).
    """

    china_extraction_base: int = 2020
    china_resampling_bases: tuple[int, ...] = (2018, 2019)
    china_alignments: tuple[str, ...] = ("nearest", "bilinear")
    china_lit_dn: tuple[int, ...] = (8, 12, 13, 15, 20)
    no_area_rule_km2: float = 1e-9  # "no area rule": any patch > 0 km²
    bigger_area_km2: float = 10.0
    connectivity: int = 4
    shanghai_lit: tuple[float, ...] = (5, 10, 20, 40)  # nW/cm²/sr
    shanghai_noise_floor: float = 0.6  # nW/cm²/sr, the VNL v2 step


DESIGN = Design()


def short_counts(c: dict) -> dict:
    """The columns of a sensitivity row, from :func:`.china.counts`."""
    row = {k: c[k] for k in ("cities", "classified", "shrinking", "share")}
    return row | {"median_change_pct": c["change_pct_p10_p25_p50_p75_p90"][2]}


def _area_variants(min_area_km2: float) -> list[tuple[str, dict]]:
    return [
        (f"no {min_area_km2:g} km² rule (> 0 km²)", {"min_area_km2": DESIGN.no_area_rule_km2}),
        (f"> {DESIGN.bigger_area_km2:g} km²", {"min_area_km2": DESIGN.bigger_area_km2}),
    ]


def china_sensitivity(configs: dict[int, BatchConfig], pairs: dict[int, gpd.GeoDataFrame], work: Path) -> pd.DataFrame:
    """How the China counts move with each parameter, one at a time, around the study configurations.

    Extraction parameters are varied on 2020 → 2021 (same grid, no resampling in
    play); the resampling of 2021 onto the base grid on 2018 → 2021 and 2019 → 2021.
    ``pairs``: the study runs (base year → per-city table, from ``china-<base>``);
    *gain-normalised* divides out the change of the window's total light
    (:func:`.china.gain_normalised`).
    """
    ext = DESIGN.china_extraction_base
    conn = DESIGN.connectivity
    p = configs[ext].params
    runs: list[tuple[str, int, dict | None]] = [("study parameters", ext, {})]
    runs += [(f"lit ≥ DN {t:g}", ext, {"lit_threshold": float(t)}) for t in DESIGN.china_lit_dn]
    runs += [(label, ext, change) for label, change in _area_variants(p.min_area_km2)]
    runs += [(f"{conn}-connectivity", ext, {"connectivity": conn}), ("gain-normalised (window total)", ext, None)]
    for y in DESIGN.china_resampling_bases:
        runs += [(f"study parameters (2021 {configs[y].params.align} on the base grid)", y, {})]
        runs += [(f"{a} for 2021", y, {"align": a}) for a in DESIGN.china_alignments]
        runs += [("gain-normalised (window total)", y, None)]
    rows = []
    for i, (label, base, change) in enumerate(runs):
        if change is None:
            c: dict[str, Any] = gain_normalised(configs[base], pairs[base])
        elif not change:
            c = counts(pairs[base])
        else:
            result, _ = run_study(variant(configs[base], **change), work, f"sensitivity-{base}-{i}")
            c = counts(result.pairs[CHINA_TARGET_YEAR])
        rows.append({"pair": f"{base}→{CHINA_TARGET_YEAR}", "variant": label, **short_counts(c)})
    return pd.DataFrame(rows)


def classify_change(cities: pd.DataFrame, *, decline: float, dark_floor: float) -> pd.DataFrame:
    """Per-city change from the labeling pass's own sums (``light`` = base, ``light_after`` = target).

    A city is ``no_data`` when any of its pixels has no target-year value (grid edge),
    ``too_dark`` when its mean base-year value < ``dark_floor``; only ``ok`` cities are classified.
    """
    out = cities.copy()
    out["light_before"] = out["light"]
    n_valid = [out[c] < out["n_pixels"] for c in ("n_valid_after", "n_valid_before") if c in out]
    out["change"], out["status"], out["shrinking"] = classify_decline(
        out["light_before"].to_numpy(),
        out["light_after"].to_numpy(),
        threshold=decline,
        too_dark=(out["light_before"] / out["n_pixels"]).to_numpy() < dark_floor,
        no_data=np.logical_or.reduce([m.to_numpy() for m in n_valid]) if n_valid else None,
    )
    return out


def shanghai_sensitivity(
    *,
    params: Params = Params(),
    base: int = SHANGHAI_BASE_YEAR,
    target: int = SHANGHAI_TARGET_YEAR,
) -> pd.DataFrame:
    """Counts for fixed radiance thresholds vs head/tail, 4- vs 8-connectivity, 5 km² on/off, noise floor on/off."""
    b0, a0 = (open_mosaic(f"{SHANGHAI_PRODUCT}:{y}", chunks=None) for y in (base, target))
    floor = DESIGN.shanghai_noise_floor
    variants: list[tuple[str, dict]] = [("study parameters", {})]
    variants += [(f"lit ≥ {t:g} nW/cm²/sr", {"viirs_threshold": float(t)}) for t in DESIGN.shanghai_lit]
    variants += [(f"{DESIGN.connectivity}-connectivity", {"connectivity": DESIGN.connectivity})]
    variants += _area_variants(params.min_area_km2)
    variants += [(f"noise floor {floor:g} nW/cm²/sr applied", {"noise": True})]
    rows = []
    for label, change in variants:
        p = replace(params, **{k: v for k, v in change.items() if k != "noise"})
        noise = "noise" in change  # both years with the producer's noise floor applied
        b, a = (apply_steps(m, [{"noise_floor": floor}], sensor="viirs")[0] if noise else m for m in (b0, a0))
        c = extract_natural_cities(
            b,
            lit_threshold=p.viirs_threshold,  # type: ignore[arg-type]  # "headtail" or a radiance
            min_area_km2=p.min_area_km2,
            connectivity=p.connectivity,
            values={"after": a},
            polygons=False,
        )
        r = classify_change(c, decline=p.decline, dark_floor=p.viirs_dark_floor)
        rows.append({"variant": label, "threshold": c.attrs["nightlight"]["threshold"], **short_counts(counts(r))})
    return pd.DataFrame(rows)
