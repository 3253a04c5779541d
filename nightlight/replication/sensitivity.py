"""How the counts move with each parameter chosen up front, one at a time around the study's.

China: variants of the DMSP-like study configurations run by the batch engine
(:func:`~.studies.variant`); Shanghai: the labeling pass's sums around its parameters
(``[shanghai.params]`` of ``catalog/studies/replication.toml``).
"""

from __future__ import annotations

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
from nightlight.replication.params import FIXED
from nightlight.replication.studies import run_study, variant

#: What the sensitivity runs vary (``[sensitivity]`` of ``replication.toml``; in ``results.json``).
DESIGN: dict[str, Any] = FIXED["sensitivity"]
_SH, _TARGET = FIXED["shanghai"], FIXED["china"]["target_year"]


def short_counts(c: dict) -> dict:
    """The columns of a sensitivity row, from :func:`.china.counts`."""
    row = {k: c[k] for k in ("cities", "classified", "shrinking", "share")}
    return row | {"median_change_pct": c["change_pct_p10_p25_p50_p75_p90"][2]}


def _area_variants(min_area_km2: float) -> list[tuple[str, dict]]:
    return [
        (f"no {min_area_km2:g} km² rule (> 0 km²)", {"min_area_km2": DESIGN["no_area_rule_km2"]}),
        (f"> {DESIGN['bigger_area_km2']:g} km²", {"min_area_km2": DESIGN["bigger_area_km2"]}),
    ]


def china_sensitivity(configs: dict[int, BatchConfig], pairs: dict[int, gpd.GeoDataFrame], work: Path) -> pd.DataFrame:
    """How the China counts move with each parameter, one at a time, around the study configurations.

    Extraction parameters are varied on 2020 → 2021 (same grid, no resampling in
    play); the resampling of 2021 onto the base grid on 2018 → 2021 and 2019 → 2021.
    ``pairs``: the study runs (base year → per-city table, from ``china-<base>``);
    *gain-normalised* divides out the change of the window's total light
    (:func:`.china.gain_normalised`).
    """
    ext = DESIGN["china_extraction_base"]
    conn = DESIGN["connectivity"]
    p = configs[ext].params
    runs: list[tuple[str, int, dict | None]] = [("study parameters", ext, {})]
    runs += [(f"lit ≥ DN {t:g}", ext, {"lit_threshold": float(t)}) for t in DESIGN["china_lit_dn"]]
    runs += [(label, ext, change) for label, change in _area_variants(p.min_area_km2)]
    runs += [(f"{conn}-connectivity", ext, {"connectivity": conn}), ("gain-normalised (window total)", ext, None)]
    for y in DESIGN["china_resampling_bases"]:
        runs += [(f"study parameters (2021 {configs[y].params.align} on the base grid)", y, {})]
        runs += [(f"{a} for 2021", y, {"align": a}) for a in DESIGN["china_alignments"]]
        runs += [("gain-normalised (window total)", y, None)]
    rows = []
    for i, (label, base, change) in enumerate(runs):
        if change is None:
            c: dict[str, Any] = gain_normalised(configs[base], pairs[base])
        elif not change:
            c = counts(pairs[base])
        else:
            result, _ = run_study(variant(configs[base], **change), work, f"sensitivity-{base}-{i}")
            c = counts(result.pairs[_TARGET])
        rows.append({"pair": f"{base}→{_TARGET}", "variant": label, **short_counts(c)})
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


def shanghai_sensitivity(*, base: int = _SH["base_year"], target: int = _SH["target_year"]) -> pd.DataFrame:
    """Counts for fixed radiance thresholds vs head/tail, 4- vs 8-connectivity, 5 km² on/off, noise floor on/off."""
    b0, a0 = (open_mosaic(f"{_SH['product']}:{y}", chunks=None) for y in (base, target))
    floor, study = DESIGN["shanghai_noise_floor"], _SH["params"]
    variants: list[tuple[str, dict]] = [("study parameters", {})]
    variants += [(f"lit ≥ {t:g} nW/cm²/sr", {"viirs_threshold": float(t)}) for t in DESIGN["shanghai_lit"]]
    variants += [(f"{DESIGN['connectivity']}-connectivity", {"connectivity": DESIGN["connectivity"]})]
    variants += _area_variants(study["min_area_km2"])
    variants += [(f"noise floor {floor:g} nW/cm²/sr applied", {"noise": True})]
    rows = []
    for label, change in variants:
        p = study | change
        noise = "noise" in change  # both years with the producer's noise floor applied
        b, a = (apply_steps(m, [{"noise_floor": floor}], sensor="viirs")[0] if noise else m for m in (b0, a0))
        c = extract_natural_cities(
            b,
            lit_threshold=p["viirs_threshold"],
            min_area_km2=p["min_area_km2"],
            connectivity=p["connectivity"],
            values={"after": a},
            polygons=False,
        )
        r = classify_change(c, decline=p["decline"], dark_floor=p["viirs_dark_floor"])
        rows.append({"variant": label, "threshold": c.attrs["nightlight"]["threshold"], **short_counts(counts(r))})
    return pd.DataFrame(rows)
