"""Pixel-traced zones measured pixel by pixel: one pass per mosaic for totals, zonal statistics and patterns.

Natural cities (:func:`nightlight.extract_natural_cities`) are unions of whole pixels: every
edge of their polygons runs along pixel edges. For such zones the fixed extent of Jiang et
al. (2020) *is* a set of pixels — exact fractional coverage and the pixel-centre rule both
give weight 1 inside and 0 outside — so a decline run needs only the zones' pixels:

* one pass over each mosaic (:mod:`nightlight.io.zones`) reads the values of the zones'
  pixels with the whole-mosaic totals (the figures of :func:`nightlight.change.inputs.mosaic_totals`);
  values read by an earlier pass over the same arrays are not read again (the brightness fit
  reads both years for its sample, the corrected decline reuses the base year);
* the zonal statistics are per-zone sums of the gathered values (``np.bincount``), the
  shrinkage patterns are classified from the same pixels
  (:func:`nightlight.change.patterns.zone_patterns`).

Zones that are not pixel-traced (admin polygons), overlap, or come with ``area="pyproj"``
per-pixel areas go through the exact-coverage pass of :mod:`nightlight.change.zonal`, and their
patterns through :func:`nightlight.change.patterns.shrinkage_patterns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import pandas as pd
import shapely

from nightlight.area import AreaMode, pixel_areas_km2, resolve_area
from nightlight.change.inputs import apply_negative_policy, on_common_pixels
from nightlight.change.rule import DMSP_SATURATED_DN
from nightlight.change.zonal import stats_frame
from nightlight.checkpoint import TREE, CheckpointStore, stage_of
from nightlight.io.zones import zone_pixels, zone_read
from nightlight.kernels import zonal as kz
from nightlight.preprocess.inputs import Inputs
from nightlight.units import DN


@dataclass
class ZonePixels:
    """The zones' pixels and, per distinct mosaic of the run, their values and the mosaic's totals.

    ``zone``, ``row``, ``col``, ``area_km2``: one entry per pixel (zone index into the
    polygons, global pixel position, ground area); ``values``: per distinct mosaic, the
    values at those pixels (NaN = nodata); ``totals``: per distinct mosaic
    ``(total, valid, lit, negative)`` (:func:`nightlight.io.zones.add_up_totals`).
    ``area_px``: each polygon's area in pixels.
    """

    zone: np.ndarray
    row: np.ndarray
    col: np.ndarray
    area_km2: np.ndarray
    values: list[np.ndarray]
    totals: list[tuple[float, ...]]
    area_px: np.ndarray


def gather_zone_pixels(
    geoms: np.ndarray, inputs: Inputs, *, area: AreaMode, checkpoints: CheckpointStore | None = None
) -> ZonePixels | None:
    """The zones' pixels and every distinct mosaic's values at them, in one pass; None when not pixel-traced.

    ``area``: the pixel-area rule (:mod:`nightlight.area`). ``checkpoints``: a batch job's resume
    store (:mod:`nightlight.checkpoint`); without one, values read by an earlier pass over the same
    arrays (the brightness fit, the raw decline) are taken from :func:`nightlight.io.zones.memo_of`.
    """
    grid = inputs.grid
    pixels = zone_pixels(geoms, grid)
    if pixels is None:
        return None
    area = resolve_area(grid, area, name=inputs.names[0])
    # per-pixel areas (two columns: one would always look like a row-only rule): the zonal pass weights them
    if pixel_areas_km2(grid, 0, 1, 0, min(2, grid.shape[1]), area=area).shape[1] != 1:
        return None
    distinct = [da for _, da in inputs.distinct()]
    read = zone_read(geoms, pixels, distinct, grid, remember=checkpoints is None)
    # a batch job: a mosaic's values are kept under its dask name and the zones (the store's key holds the
    # inputs' checksums), so the base year is read once for all the pairs it is compared in
    stage = stage_of(checkpoints, "zone pixels", {"key": "dask name of the mosaic and the zones"}, TREE, shared=True)
    got = read.keep(dask.compute(*read.tasks(stage)))
    zone, row, col = pixels
    rows_km2 = pixel_areas_km2(grid, 0, grid.shape[0], 0, 1, area=area)[:, 0]
    return ZonePixels(
        zone=zone,
        row=row,
        col=col,
        area_km2=rows_km2[row],
        values=[v for v, _ in got],
        totals=[t for _, t in got],
        area_px=shapely.area(geoms) / abs(grid.transform.a * grid.transform.e),
    )


def zone_stats(pix: ZonePixels, values: np.ndarray, valid: np.ndarray, *, floor: float) -> pd.DataFrame:
    """The columns of :func:`nightlight.change.zonal.zonal_stats` from the zones' pixel values.

    ``valid``: the pixels that count (non-NaN in this mosaic, or in every mosaic of the run).
    """
    n = len(pix.area_px)
    zone, v = pix.zone, values.astype(np.float64)
    lit = valid & (v > floor)
    acc = np.zeros((n, kz.N_STATS))
    acc[:, kz.SUM] = np.bincount(zone[valid], v[valid], n)
    acc[:, kz.VALID_W] = np.bincount(zone[valid], None, n)
    acc[:, kz.TOTAL_W] = np.bincount(zone, None, n)
    acc[:, kz.LIT_W] = np.bincount(zone[lit], None, n)
    acc[:, kz.LIT_KM2] = np.bincount(zone[lit], pix.area_km2[lit], n)
    acc[:, kz.AREA_KM2] = np.bincount(zone, pix.area_km2, n)
    vmax = np.full(n, -np.inf)
    np.maximum.at(vmax, zone[valid], v[valid])
    return stats_frame(acc, vmax, pix.area_px)


def common_valid(values: list[np.ndarray]) -> np.ndarray:
    """Pixels valid (non-NaN) in every mosaic."""
    ok = np.ones(values[0].shape, bool)
    for v in values:
        ok &= ~np.isnan(v)
    return ok


def as_values(pix: ZonePixels, inputs: Inputs) -> list[np.ndarray]:
    """The gathered values of every mosaic of the run, in ``inputs.mosaics`` order (repeats share arrays)."""
    index = {id(da): k for k, (_, da) in enumerate(inputs.distinct())}
    return [pix.values[index[id(da)]] for da in inputs.mosaics]


def measure_zone_pixels(
    pix: ZonePixels, inputs: Inputs, totals: pd.DataFrame, *, units: str, negative_radiance: str, lit_floor: float
) -> tuple[list[pd.DataFrame], list[pd.DataFrame], dict[str, np.ndarray], list[Any], list[np.ndarray]]:
    """:func:`~nightlight.change.measure.zonal_on_common_pixels` from the zones' gathered pixels.

    Returns the same four results (per-year statistics on the common valid pixels, the
    before/after statistics on each year's own valid pixels, the per-zone negative and
    saturated pixel counts, the lazy mosaics on the common pixels) and, fifth, every
    mosaic's gathered values on the common pixels (NaN elsewhere) for the patterns.
    """
    n = len(pix.area_px)
    raw = as_values(pix, inputs)
    negatives = bool((totals["negative_pixels"] > 0).any())
    counts: dict[str, np.ndarray] = {f"negative_pixels_{t}": np.zeros(n) for t in ("before", "after")}
    for tag, v in zip(("before", "after"), raw[:2]):
        if negatives:
            counts[f"negative_pixels_{tag}"] = np.bincount(pix.zone, v < 0, n)
        if units == DN:
            counts[f"saturated_pixels_{tag}"] = np.bincount(pix.zone, v >= DMSP_SATURATED_DN, n)
    apply_negative_policy(inputs, negative_radiance, totals)  # the lazy mosaics, for the run's metadata
    nan_policy = negatives and negative_radiance == "nan"
    common = on_common_pixels(inputs, None if nan_policy else totals)
    if negatives and negative_radiance != "keep":
        raw = [np.where(v < 0, 0.0 if negative_radiance == "zero" else np.nan, v) for v in raw]
    ok = common_valid(raw)
    stats = [zone_stats(pix, v, ok, floor=lit_floor) for v in raw]
    masked = any(c is not m for c, m in zip(common, inputs.mosaics))
    own = [zone_stats(pix, v, ~np.isnan(v), floor=lit_floor) for v in raw[:2]] if masked else stats[:2]
    return stats, own, counts, common, [np.where(ok, v, np.nan) for v in raw[:2]]
