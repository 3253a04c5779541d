"""How the counts move with each parameter chosen up front, one at a time around :class:`Params`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from nightlight.cities.natural import extract_natural_cities
from nightlight.io.raster import open_mosaic
from nightlight.preprocess.steps import apply_steps
from nightlight.replication.china import china_change, classify_change, counts, short_counts
from nightlight.replication.data import Box, shanghai_paths
from nightlight.replication.params import (
    CHINA_TARGET_YEAR,
    SHANGHAI_BASE_YEAR,
    SHANGHAI_TARGET_YEAR,
    Params,
)


@dataclass(frozen=True)
class Design:
    """What the sensitivity runs vary (written to ``results.json``, read by the report).

    China: extraction parameters on a pair on one grid (``china_extraction_base`` →
    2021); resampling on the pairs across the grid change (``china_resampling_bases``).
    """

    china_extraction_base: int = 2020
    china_resampling_bases: tuple[int, ...] = (2018, 2019)
    china_lit_dn: tuple[int, ...] = (8, 12, 13, 15, 20)
    no_area_rule_km2: float = 1e-9  # "no area rule": any patch > 0 km²
    bigger_area_km2: float = 10.0
    connectivity: int = 4
    shanghai_lit: tuple[float, ...] = (5, 10, 20, 40)  # nW/cm²/sr
    shanghai_noise_floor: float = 0.6  # nW/cm²/sr, the VNL v2 step


DESIGN = Design()


def _area_variants(params: Params) -> list[tuple[str, dict]]:
    return [
        (f"no {params.min_area_km2:g} km² rule (> 0 km²)", {"min_area_km2": DESIGN.no_area_rule_km2}),
        (f"> {DESIGN.bigger_area_km2:g} km²", {"min_area_km2": DESIGN.bigger_area_km2}),
    ]


def china_sensitivity(
    data_dir: str | Path,
    *,
    params: Params = Params(),
    window: Box | str | None = None,
) -> pd.DataFrame:
    """How the China counts move with each parameter, one at a time, around :class:`Params`.

    Extraction parameters are varied on 2020 → 2021 (same grid, no resampling in
    play); the resampling choice on 2018 → 2021 and 2019 → 2021. ``normalise`` divides
    out the change of the whole window's total light (a crude sensor/product-gain
    correction; it also removes real national growth, so it bounds the effect of a gain shift).
    """
    ext = DESIGN.china_extraction_base
    conn = DESIGN.connectivity
    runs: list[tuple[str, int, dict]] = [("study parameters", ext, {})]
    runs += [(f"lit ≥ DN {t:g}", ext, {"lit_dn": float(t)}) for t in DESIGN.china_lit_dn]
    runs += [(label, ext, change) for label, change in _area_variants(params)]
    runs += [
        (f"{conn}-connectivity", ext, {"connectivity": conn}),
        ("gain-normalised (window total)", ext, {"normalise": True}),
    ]
    for y in DESIGN.china_resampling_bases:
        runs += [
            ("study parameters (mask nearest, light average)", y, {}),
            ("nearest for mask and light", y, {"light_resampling": "nearest"}),
            ("average for mask and light", y, {"mask_resampling": "average"}),
            ("bilinear for mask and light", y, {"mask_resampling": "bilinear", "light_resampling": "bilinear"}),
            ("gain-normalised (window total)", y, {"normalise": True}),
        ]
    rows = []
    for label, base_year, change in runs:
        p = replace(params, **change)
        _, rec = china_change(data_dir, base_year, CHINA_TARGET_YEAR, params=p, window=window)
        rows.append({"pair": f"{base_year}→{CHINA_TARGET_YEAR}", "variant": label, **short_counts(rec)})
    return pd.DataFrame(rows)


def shanghai_sensitivity(
    data_dir: str | Path,
    *,
    params: Params = Params(),
    base: int = SHANGHAI_BASE_YEAR,
    target: int = SHANGHAI_TARGET_YEAR,
) -> pd.DataFrame:
    """Counts for fixed radiance thresholds vs head/tail, 4- vs 8-connectivity, 5 km² on/off, noise floor on/off."""
    paths = shanghai_paths(data_dir)
    b0 = open_mosaic(paths[base], chunks=None)
    a0 = open_mosaic(paths[target], chunks=None)
    floor = DESIGN.shanghai_noise_floor
    variants: list[tuple[str, dict]] = [("study parameters", {})]
    variants += [(f"lit ≥ {t:g} nW/cm²/sr", {"viirs_threshold": float(t)}) for t in DESIGN.shanghai_lit]
    variants += [(f"{DESIGN.connectivity}-connectivity", {"connectivity": DESIGN.connectivity})]
    variants += _area_variants(params)
    variants += [(f"noise floor {floor:g} nW/cm²/sr applied", {"noise": True})]
    rows = []
    for label, change in variants:
        change = dict(change)
        noise = change.pop("noise", False)
        p = replace(params, **change)
        b, a = b0, a0
        if noise:
            b, _ = apply_steps(b0, [{"noise_floor": floor}], sensor="viirs")
            a, _ = apply_steps(a0, [{"noise_floor": floor}], sensor="viirs")
        c = extract_natural_cities(
            b,
            threshold=p.viirs_threshold,  # type: ignore[arg-type]  # "headtail" or a radiance
            min_area_km2=p.min_area_km2,
            connectivity=p.connectivity,
            values={"after": a},
            polygons=False,
        )
        r = classify_change(c, decline=p.decline, dark_floor=p.viirs_dark_floor)
        rows.append({"variant": label, "threshold": c.attrs["nightlight"]["threshold"], **short_counts(counts(r))})
    return pd.DataFrame(rows)
