"""Pixel-traced zones measured pixel by pixel: one pass per mosaic for totals, zonal statistics and patterns.

Natural cities (:func:`nightlight.extract_natural_cities`) are unions of whole pixels: every
edge of their polygons runs along pixel edges. For such zones the fixed extent of Jiang et
al. (2020) *is* a set of pixels — exact fractional coverage and the pixel-centre rule both
give weight 1 inside and 0 outside — so a decline run needs only the zones' pixels:

* one pass over each mosaic, block by block, gathers the values of the zones' pixels
  (pixel-centre rasterisation, exact for these polygons) together with the block's
  whole-mosaic totals (:func:`nightlight.kernels.totals.block_totals`, the figures of
  :func:`nightlight.change.inputs.mosaic_totals`);
* the zonal statistics are per-zone sums of the gathered values (``np.bincount``), the
  shrinkage patterns are classified from the same pixels — no second read of any window;
* the gathered values of a mosaic are kept with its dask array
  (:func:`nightlight.change.inputs.memo_of`): a second run on the same base year (the
  corrected decline after the raw one) reads only the corrected year.

Zones that are not pixel-traced (admin polygons), overlap, or come with ``area="pyproj"``
per-pixel areas go through the exact-coverage pass of :mod:`nightlight.change.zonal`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import pandas as pd
import rasterio.features
import shapely

from nightlight._backend import as_dask
from nightlight.area import AreaMode, pixel_areas_km2, resolve_area
from nightlight.change.inputs import add_up_totals, apply_negative_policy, memo_of, on_common_pixels
from nightlight.change.patterns import classify_pattern
from nightlight.change.rule import DMSP_SATURATED_DN
from nightlight.change.zonal import overlap_layers, stats_frame
from nightlight.checkpoint import TREE, CheckpointStore, checkpointed, stage_of
from nightlight.grid import Grid
from nightlight.hashing import wkb_token
from nightlight.kernels import totals as KT
from nightlight.kernels import zonal as kz
from nightlight.preprocess.inputs import Inputs
from nightlight.units import DN

#: Vertices within this many pixels of a pixel corner count as on it (float noise of the CRS transform).
CORNER_TOLERANCE_PX = 1e-6


@dataclass
class ZonePixels:
    """The zones' pixels and, per distinct mosaic of the run, their values and the mosaic's totals.

    ``zone``, ``row``, ``col``, ``area_km2``: one entry per pixel (zone index into the
    polygons, global pixel position, ground area); ``values``: per distinct mosaic, the
    values at those pixels (NaN = nodata); ``totals``: per distinct mosaic
    ``(total, valid, lit, negative)`` as :func:`~nightlight.change.inputs.add_up_totals`.
    ``area_px``: each polygon's area in pixels.
    """

    zone: np.ndarray
    row: np.ndarray
    col: np.ndarray
    area_km2: np.ndarray
    values: list[np.ndarray]
    totals: list[tuple[float, ...]]
    area_px: np.ndarray


def pixel_traced(geoms: np.ndarray, grid: Grid) -> bool:
    """True when every polygon is a union of whole pixels of ``grid`` and no two interiors overlap.

    Every vertex must lie on a pixel corner (within :data:`CORNER_TOLERANCE_PX`) and
    every edge run along a row or a column of pixel edges.
    """
    live = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
    if not len(live) or not set(shapely.get_type_id(live).tolist()) <= {3, 6}:  # (multi)polygons only
        return False
    rings = shapely.get_rings(shapely.get_parts(live))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    inv = ~grid.transform
    col = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
    row = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
    col_i, row_i = np.round(col), np.round(row)
    if not (np.abs(col - col_i).max() <= CORNER_TOLERANCE_PX and np.abs(row - row_i).max() <= CORNER_TOLERANCE_PX):
        return False
    same = ring[:-1] == ring[1:]
    straight = (col_i[:-1] == col_i[1:]) | (row_i[:-1] == row_i[1:])
    return bool(straight[same].all()) and int(overlap_layers(live).max()) == 0


@dataclass
class _Plan:
    """What a block task needs: the polygons, their tree, the grid and the area rule."""

    geoms: np.ndarray
    tree: shapely.STRtree
    grid: Grid
    area: AreaMode


def _block_pixels(plan: _Plan, r0: int, c0: int, h: int, w: int, *blocks: np.ndarray) -> tuple:
    """One block: the zones' pixels (zone, row, col, km²), each block's values at them and each block's totals."""
    win = (r0, r0 + h, c0, c0 + w)
    hit = plan.tree.query(shapely.box(*plan.grid.window_bounds(win)), predicate="intersects")
    if len(hit):
        labels = rasterio.features.rasterize(
            zip(plan.geoms[hit], (hit + 1).tolist()),
            out_shape=(h, w),
            transform=plan.grid.slice(win).transform,
            fill=0,
            all_touched=False,
            dtype="int32",
        ).ravel()
        flat = np.flatnonzero(labels)
    else:
        labels, flat = np.zeros(0, np.int32), np.zeros(0, np.int64)
    rr, cc = np.divmod(flat, w)
    areas = np.broadcast_to(pixel_areas_km2(plan.grid, *win, area=plan.area), (h, w))
    where = (
        (labels[flat] - 1).astype(np.int64),
        (rr + r0).astype(np.int32),
        (cc + c0).astype(np.int32),
        areas[rr, cc].astype(np.float64),
    )
    values = tuple(np.asarray(b).ravel()[flat] for b in blocks)
    totals = tuple((np.float64(t), c) for t, c in (KT.block_totals(np.asarray(b)) for b in blocks))
    return where, values, totals


def gather_zone_pixels(
    geoms: np.ndarray, inputs: Inputs, *, area: AreaMode, checkpoints: CheckpointStore | None = None
) -> ZonePixels | None:
    """The zones' pixels and every distinct mosaic's values at them, in one pass; None when not pixel-traced.

    ``area``: the pixel-area rule (:mod:`nightlight.area`). ``checkpoints``: a batch
    job's resume store (:mod:`nightlight.checkpoint`); without one, each mosaic's values and
    totals are kept with its dask array for later runs in this process.
    """
    grid = inputs.grid
    if not pixel_traced(geoms, grid):
        return None
    area = resolve_area(grid, area, name=inputs.names[0])
    if pixel_areas_km2(grid, 0, 1, 0, 1, area=area).shape[1] != 1:  # per-pixel areas: the zonal pass weights them
        return None
    distinct = [da for _, da in inputs.distinct()]
    arrays = [as_dask(da) for da in distinct]
    chunks = arrays[0].chunks
    arrays = [a.rechunk(chunks) for a in arrays]
    token = f"zone pixels {wkb_token(geoms)} {chunks} {area}"
    memos = [memo_of(da) if checkpoints is None else None for da in distinct]
    known = {i: m[token] for i, m in enumerate(memos) if m is not None and token in m}
    todo = [i for i in range(len(arrays)) if i not in known]
    live = np.flatnonzero(~(shapely.is_empty(geoms) | shapely.is_missing(geoms)))
    plan = _Plan(geoms[live], shapely.STRtree(geoms[live]), grid, area)  # zone numbers: rows of `live`
    plan_d = dask.delayed(plan, name=f"nightlight-zone-pixels-plan-{uuid.uuid4().hex}")
    record = {"inputs": [arrays[i].name for i in todo], "chunks": chunks, "polygons": wkb_token(geoms), "area": area}
    stage = stage_of(checkpoints, "zone pixels", record, TREE)
    delayed = [arrays[i].to_delayed() for i in todo]
    tasks = [
        checkpointed(
            stage, f"{bi}-{bj}", _block_pixels, plan_d, r0, c0, r1 - r0, c1 - c0, *(d[bi, bj] for d in delayed)
        )
        for bi, bj, (r0, r1, c0, c1) in grid.blocks(chunks)
    ]
    parts = dask.compute(*tasks)
    zone, row, col, km2 = (np.concatenate([p[0][q] for p in parts]) for q in range(4))
    for k, i in enumerate(todo):
        got = known[i] = (np.concatenate([p[1][k] for p in parts]), add_up_totals(*(p[2][k] for p in parts)))
        if (memo := memos[i]) is not None:
            memo[token], memo["totals"] = got, got[1]
    return ZonePixels(
        zone=live[zone],
        row=row,
        col=col,
        area_km2=km2,
        values=[known[i][0] for i in range(len(distinct))],
        totals=[known[i][1] for i in range(len(distinct))],
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


def zone_patterns(
    pix: ZonePixels, before: np.ndarray, after: np.ndarray, zones: np.ndarray, *, threshold: float, floor: float
) -> list[str]:
    """:func:`~nightlight.change.patterns.classify_pattern` of each zone in ``zones`` from its pixels.

    The window is the zone's pixel bounding box, as :func:`~nightlight.change.patterns.shrinkage_patterns`
    reads it for the polygon; only the zone's own pixels enter the features.
    """
    order = np.argsort(pix.zone, kind="stable")
    starts = np.searchsorted(pix.zone[order], np.arange(len(pix.area_px) + 1))
    out = []
    for z in zones.tolist():
        own = order[starts[z] : starts[z + 1]]
        r, c = pix.row[own] - pix.row[own].min(), pix.col[own] - pix.col[own].min()
        shape = (int(r.max()) + 1, int(c.max()) + 1)
        inside = np.zeros(shape, bool)
        b, a = np.full(shape, np.nan), np.full(shape, np.nan)
        inside[r, c], b[r, c], a[r, c] = True, before[own], after[own]
        out.append(classify_pattern(b, a, inside, threshold=threshold, floor=floor))
    return out


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
