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

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import shapely
import xarray as xr

from nightlight.area import AreaMode, pixel_areas_km2, resolve_area
from nightlight.change.zonal import stats_frame
from nightlight.checkpoint import CheckpointStore
from nightlight.io.zones import read_zones, zone_pixels
from nightlight.kernels import zonal as kz
from nightlight.preprocess.inputs import Inputs


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
    got = read_zones(geoms, pixels, [da for _, da in inputs.distinct()], grid, checkpoints)
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


def zone_stats(pix: ZonePixels, values: np.ndarray, *, floor: float) -> pd.DataFrame:
    """The columns of :func:`nightlight.change.zonal.zonal_stats_many` from the zones' pixel values (NaN: nodata)."""
    n = len(pix.area_px)
    zone, v = pix.zone, np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(v)
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


def gathered_inputs(pix: ZonePixels, inputs: Inputs) -> Inputs:
    """``inputs`` with each mosaic replaced by its values at the zones' pixels (1-D; repeats share one array)."""
    index = {id(da): k for k, (_, da) in enumerate(inputs.distinct())}
    values = [xr.DataArray(v) for v in pix.values]
    return replace(inputs, mosaics=[values[index[id(da)]] for da in inputs.mosaics])
