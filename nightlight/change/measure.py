"""Per-city measurement of a decline run: zonal statistics on the common valid pixels, the decline table.

One pass over the mosaics computes every year's sums on the pixels valid in every year
(:func:`nightlight.change.inputs.on_common_pixels`), the before/after validity of each
year on its own, and the per-city counts of negative (and, for DMSP, saturated) pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from nightlight.change.inputs import on_common_pixels
from nightlight.change.rule import DMSP_SATURATED_DN, SATURATION_DOMINATED, classify_decline
from nightlight.preprocess.inputs import Inputs
from nightlight.units import DN


def measure_on_common_pixels(
    inputs: Inputs,
    totals: pd.DataFrame,
    stats_of: Callable[[list[xr.DataArray], list[str]], list[pd.DataFrame]],
    *,
    units: str,
    negative_radiance: str,
) -> tuple[list[pd.DataFrame], list[pd.DataFrame], dict[str, np.ndarray], list[xr.DataArray]]:
    """Zonal statistics of every year on the common valid pixels, in one call of ``stats_of``.

    ``stats_of(layers, names)``: the zonal statistics of each layer — one exact-coverage pass over
    the mosaics (:func:`nightlight.change.zonal.zonal_stats_many`), or per-zone sums of the values
    gathered at pixel-traced zones (then ``inputs`` holds those values:
    :func:`nightlight.change.pixels.gathered_inputs`).

    Returns the per-year statistics, the before/after statistics on each year's own
    valid pixels (for ``valid_share_before/after``) and per-city pixel counts
    (``negative_pixels_*`` counted before the negative policy; ``saturated_pixels_*``
    at DN 63 for DMSP), and the mosaics on the common valid pixels (the patterns read
    them). Extra layers join the pass only when needed: own validity when the totals show
    nodata, negatives when there are any, saturation for DN mosaics.
    """
    counts: dict[str, xr.DataArray] = {}
    if (totals["negative_pixels"] > 0).any():
        for tag, m in zip(("before", "after"), inputs.mosaics[:2]):
            counts[f"negative_pixels_{tag}"] = (m < 0).astype(np.float32)
    if units == DN:
        for tag, m in zip(("before", "after"), inputs.mosaics[:2]):
            counts[f"saturated_pixels_{tag}"] = (m >= DMSP_SATURATED_DN).astype(np.float32)
    common = on_common_pixels(inputs, totals, negative_radiance)
    masked = any(c is not m for c, m in zip(common, inputs.mosaics))
    own_layers = inputs.mosaics[:2] if masked else []
    layers = common + own_layers + list(counts.values())
    names = inputs.names + [f"{n} (own valid pixels)" for n in inputs.names[: len(own_layers)]] + list(counts)
    stats = stats_of(layers, names)
    n, k = len(common), len(own_layers)
    per_year, own = stats[:n], (stats[n : n + k] if masked else stats[:2])
    extra = {f"negative_pixels_{tag}": np.zeros(len(per_year[0])) for tag in ("before", "after")}
    extra.update({name: s["sum"].fillna(0).to_numpy() for name, s in zip(counts, stats[n + k :])})
    return per_year, own, extra, common


def decline_table(
    cities: gpd.GeoDataFrame,
    sb: pd.DataFrame,
    sa: pd.DataFrame,
    own: list[pd.DataFrame],
    *,
    threshold: float,
    dark_floor: float,
    min_valid_share: float,
) -> pd.DataFrame:
    """Per-city light before/after (common pixels), change, status, shrinking and the zonal statistics."""
    common_share = sb["valid_share"].fillna(0).to_numpy()
    # Area outside the raster is missing data like a NaN pixel inside it: a city measured on
    # a sliver (Jiaxing 18 % inside the Shanghai raster) must not be classified.
    covered = common_share * sb["inside_share"].fillna(1.0).to_numpy()
    out = pd.DataFrame({"city_id": cities["city_id"].to_numpy()})
    out["light_before"] = sb["sum"].to_numpy()
    out["light_after"] = sa["sum"].to_numpy()
    change, status, shrinking = classify_decline(
        out["light_before"].to_numpy(),
        out["light_after"].to_numpy(),
        threshold=threshold,
        too_dark=~(sb["mean"].to_numpy() >= dark_floor),
        partial=covered < min_valid_share - 1e-9,  # 1e-9: a polygon traced from pixels covers 0.99999… of itself
        no_data=common_share == 0,
        outside=sb["pixels"].to_numpy() == 0,
        empty=cities.geometry.is_empty.to_numpy() | cities.geometry.isna().to_numpy(),
    )
    out["change"] = change
    out["shrinking"] = shrinking
    out["status"] = status
    for tag, s, s_own in (("before", sb, own[0]), ("after", sa, own[1])):
        out[f"mean_{tag}"] = s["mean"].to_numpy()
        out[f"max_{tag}"] = s["max"].to_numpy()
        out[f"lit_area_{tag}_km2"] = s["lit_area_km2"].to_numpy()
        out[f"valid_share_{tag}"] = s_own["valid_share"].to_numpy()
    out["valid_share"] = sb["valid_share"].to_numpy()
    out["inside_share"] = sb["inside_share"].to_numpy()
    out["pixels"] = sb["pixels"].to_numpy()
    out["area_km2"] = sb["area_km2"].to_numpy()
    return out


def add_pixel_counts(out: pd.DataFrame, counts: dict[str, np.ndarray]) -> None:
    """Negative and (DMSP) saturated pixel counts; the saturated share and its flag."""
    for name, values in counts.items():
        out[name] = values
    if "saturated_pixels_before" in counts:
        pixels = out["pixels"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(pixels > 0, counts["saturated_pixels_before"] / pixels, np.nan)
        out["saturated_share_before"] = share
        out["saturation_dominated"] = share >= SATURATION_DOMINATED
