"""Zonal statistics of polygons over (big, chunked) mosaics: sum, mean, max, lit area.

How a pixel is counted (``method=``):

* ``"exact"`` (default): **exact fractional coverage**, as exactextract — each cell
  weighted by the share of its area inside the polygon, computed by signed-area
  scan conversion of the polygon's edges (numba kernel
  :func:`nightlight.kernels.zonal.accumulate_coverage`). Polygons smaller than a
  pixel or thinner than a pixel get their share of the cells they touch, never 0.
  Every polygon is measured on its own, so **overlapping polygons** each get
  their full sum.
* ``"centre"``: the pixel-centre rule of ``rasterio.features.rasterize``
  (``all_touched=False``, the rasterstats/GEE convention), a label image per
  *layer* of polygons whose interiors do not overlap (greedy colouring of the
  overlap graph, usually one layer), so overlapping polygons also each get their
  full sum. Polygons whose bounding box spans at most :data:`SMALL_CELLS` pixels
  fall back to exact coverage, so small and thin polygons are not lost.

The mosaic is processed one Dask block at a time (rasterize the polygons that meet
the block, accumulate per-id sums with a numba kernel) and the small per-id arrays
are scattered into per-polygon totals — the whole mosaic is never loaded, and a
block holds accumulators only for the polygons it meets. Several mosaics on one
grid (years of a series) share one rasterization per block.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
import xarray as xr
from affine import Affine

from nightlight._backend import IN_MEMORY_GDAL_LOCK, as_dask, is_dask
from nightlight.area import AreaMode, pixel_areas_km2, resolve_area
from nightlight.checkpoint import TREE, CheckpointStore, checkpointed, stage_of
from nightlight.errors import InvalidVectorError
from nightlight.grid import Grid, require_same_grid
from nightlight.hashing import wkb_token
from nightlight.kernels import zonal as kz

#: Polygons whose bounding box covers at most this many pixels use exact coverage.
SMALL_CELLS = 400

STAT_COLUMNS = ("sum", "mean", "max", "pixels", "valid_share", "inside_share", "lit_pixels", "lit_area_km2", "area_km2")


@dataclass
class _Plan:
    """Everything a block task needs, shipped once to the workers."""

    grid: Grid
    n: int
    layers: list[tuple[np.ndarray, np.ndarray, shapely.STRtree]]  # (geoms, ids, tree) without interior overlaps
    exact: tuple[np.ndarray, np.ndarray, shapely.STRtree] | None  # measured by exact coverage
    floor: float
    area: AreaMode  # the mode resolve_area returned: pixel areas follow nightlight.area's one rule


def overlap_layers(geoms: np.ndarray) -> np.ndarray:
    """Layer index per geometry such that no two interiors in a layer overlap.

    Greedy colouring of the graph "interiors intersect" (shapely STRtree, then
    ``intersects and not touches``), highest degree first.
    """
    n = len(geoms)
    layer = np.zeros(n, dtype=np.int64)
    if n < 2:
        return layer
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        overl = ~shapely.touches(geoms[a], geoms[b])
        a, b = a[overl], b[overl]
    if not len(a):
        return layer
    nbrs: dict[int, list[int]] = {}
    for i, j in zip(a.tolist(), b.tolist()):
        nbrs.setdefault(i, []).append(j)
        nbrs.setdefault(j, []).append(i)
    layer[:] = -1
    for i in sorted(nbrs, key=lambda k: -len(nbrs[k])):
        used = {layer[j] for j in nbrs[i] if layer[j] >= 0}
        c = 0
        while c in used:
            c += 1
        layer[i] = c
    layer[layer < 0] = 0
    return layer


def _make_plan(geoms: np.ndarray, grid: Grid, floor: float, method: str, area: AreaMode) -> _Plan:
    n = len(geoms)
    ok = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    if method == "exact":
        exact = ok
    else:
        res_x, res_y = grid.res
        b = shapely.bounds(geoms)
        cells = np.ceil((b[:, 2] - b[:, 0]) / res_x + 1) * np.ceil((b[:, 3] - b[:, 1]) / res_y + 1)
        exact = ok & (cells <= SMALL_CELLS)
    big = ok & ~exact
    ids_big = np.flatnonzero(big)
    layers = []
    if len(ids_big):
        lay = overlap_layers(geoms[ids_big])
        for k in range(int(lay.max()) + 1):
            ids = ids_big[lay == k]
            g = geoms[ids]
            layers.append((g, ids, shapely.STRtree(g)))
    ids_exact = np.flatnonzero(exact)
    ex = None
    if len(ids_exact):
        g = geoms[ids_exact]
        ex = (g, ids_exact, shapely.STRtree(g))
    return _Plan(grid=grid, n=n, layers=layers, exact=ex, floor=float(floor), area=area)


def _edges(geoms: np.ndarray, local: np.ndarray, t: Affine, h: int, w: int):
    """Ring edges of polygons in block pixel coordinates (the kernel clips them to the block).

    Returns ``(ex0, ey0, ex1, ey1, edge_start, poly_ids, win)`` for
    :func:`nightlight.kernels.zonal.accumulate_coverage`, or None when nothing is left.
    """
    # No GEOS clipping (clip_by_rect can return the complement, libgeos/geos#605; intersections cost
    # a tenth of the pass): the kernel clips each edge to the block exactly.
    parts, pidx = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, pidx = parts[keep], pidx[keep]
    if not len(parts):
        return None
    # exterior and holes oppositely oriented, so that holes cancel in the signed area
    parts = _orient(parts)
    rings, ridx = shapely.get_rings(parts, return_index=True)
    xy, cidx = shapely.get_coordinates(rings, return_index=True)
    inv = ~t
    col = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
    row = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
    same = cidx[:-1] == cidx[1:]  # consecutive vertices of one (closed) ring
    ex0, ey0, ex1, ey1 = col[:-1][same], row[:-1][same], col[1:][same], row[1:][same]
    epoly = pidx[ridx[cidx[:-1][same]]]  # index into `geoms` of each edge
    order = np.argsort(epoly, kind="stable")
    ex0, ey0, ex1, ey1, epoly = ex0[order], ey0[order], ex1[order], ey1[order], epoly[order]
    polys, first = np.unique(epoly, return_index=True)
    edge_start = np.append(first, len(epoly)).astype(np.int64)
    lo_c = np.minimum.reduceat(np.minimum(ex0, ex1), first)
    hi_c = np.maximum.reduceat(np.maximum(ex0, ex1), first)
    lo_r = np.minimum.reduceat(np.minimum(ey0, ey1), first)
    hi_r = np.maximum.reduceat(np.maximum(ey0, ey1), first)
    win = np.stack(
        [
            np.clip(np.floor(lo_r), 0, h),
            np.clip(np.ceil(hi_r), 0, h),
            np.clip(np.floor(lo_c), 0, w),
            np.clip(np.ceil(hi_c), 0, w),
        ],
        axis=1,
    ).astype(np.int64)
    return ex0, ey0, ex1, ey1, edge_start, local[polys].astype(np.int64), win


def _orient(parts: np.ndarray) -> np.ndarray:
    if hasattr(shapely, "orient_polygons"):  # shapely >= 2.1
        return shapely.orient_polygons(parts)
    from shapely.geometry.polygon import orient

    return np.array([orient(g) for g in parts], dtype=object)


def _block_stats(plan: _Plan, r0: int, c0: int, *blocks: np.ndarray):
    """Accumulators of every mosaic for the polygons meeting one block.

    Returns ``(ids, [(acc, vmax) per mosaic])`` for the ``k`` polygons the block
    meets only (local rows), so a block's memory scales with the polygons it
    touches, never with the whole polygon set.
    """
    h, w = blocks[0].shape
    win = (r0, r0 + h, c0, c0 + w)
    t = plan.grid.slice(win).transform
    areas = pixel_areas_km2(plan.grid, *win, area=plan.area)
    box = shapely.box(*plan.grid.window_bounds(win))
    hits = [(geoms, ids, tree.query(box, predicate="intersects")) for geoms, ids, tree in plan.layers]
    ex_hit = None  # (geoms, ids, hit) of the exact-coverage polygons, when there are any
    if plan.exact is not None:
        ex_geoms, ex_ids, ex_tree = plan.exact
        ex_hit = (ex_geoms, ex_ids, ex_tree.query(box, predicate="intersects"))
    touched = [ids[hit] for _, ids, hit in hits]
    if ex_hit is not None:
        touched.append(ex_hit[1][ex_hit[2]])
    gids = np.unique(np.concatenate(touched)) if touched else np.zeros(0, np.int64)
    out = [kz.new_accumulator(len(gids)) for _ in blocks]
    if not len(gids):
        return gids, out
    for geoms, ids, hit in hits:
        if not len(hit):
            continue
        local = np.searchsorted(gids, ids[hit])
        with IN_MEMORY_GDAL_LOCK:
            labels = rasterio.features.rasterize(
                zip(geoms[hit], (local + 1).tolist()),
                out_shape=(h, w),
                transform=t,
                fill=0,
                all_touched=False,
                dtype="int32",
            )
        _accumulate(kz.accumulate_labels, (labels,), blocks, out, areas, plan.floor)
    if ex_hit is not None and len(ex_hit[2]):
        geoms, ids, hit = ex_hit
        local = np.searchsorted(gids, ids[hit])
        edges = _edges(geoms[hit], local, t, h, w)
        if edges is not None:
            _accumulate(kz.accumulate_coverage, edges, blocks, out, areas, plan.floor)
    return gids, out


def _accumulate(kernel, args: tuple, blocks, out, areas: np.ndarray, floor: float) -> None:
    """``kernel(values, *args, row_area_km2, floor, acc, vmax)`` on every mosaic's block, with pixel areas.

    The kernels weight km² by row. Per-pixel areas (``area="pyproj"`` on a distorting
    projection, ``areas`` of shape (h, w)) are summed as *values* instead: a pass over
    the area map gives ``area_km2``, a pass over "area where lit, 0 where dark, NaN
    where nodata" gives ``lit_area_km2`` — the same sums the kernel would make.
    """

    def run(values, row_area, acc, vmax):
        kernel(values, *args, row_area, floor, acc, vmax)

    if areas.shape[1] == 1:
        for vals, (acc, vmax) in zip(blocks, out):
            run(vals, areas[:, 0], acc, vmax)
        return
    zero = np.zeros(areas.shape[0])
    n = len(out[0][1])
    total = kz.new_accumulator(n)
    run(areas, zero, *total)
    for vals, (acc, vmax) in zip(blocks, out):
        run(vals, zero, acc, vmax)
        lit = kz.new_accumulator(n)
        with np.errstate(invalid="ignore"):
            run(np.where(np.isnan(vals), np.nan, np.where(vals > floor, areas, 0.0)), zero, *lit)
        acc[:, kz.AREA_KM2] += total[0][:, kz.SUM]
        acc[:, kz.LIT_KM2] += lit[0][:, kz.SUM]


def _combine(n: int, *parts):
    """Scatter the per-block (sparse) accumulators into dense per-polygon arrays."""
    n_mosaics = len(parts[0][1])
    dense = [kz.new_accumulator(n) for _ in range(n_mosaics)]
    for gids, accs in parts:
        if not len(gids):
            continue
        for (acc, vmax), (a2, v2) in zip(dense, accs):
            acc[gids] += a2  # gids are unique within a block
            vmax[gids] = np.maximum(vmax[gids], v2)
    return dense


def stats_frame(acc: np.ndarray, vmax: np.ndarray, area_px: np.ndarray) -> pd.DataFrame:
    """The :data:`STAT_COLUMNS` table from per-polygon accumulators (layout of :mod:`nightlight.kernels.zonal`).

    ``area_px``: each polygon's area in pixels (for ``inside_share``).
    """
    s = acc[:, kz.SUM]
    valid = acc[:, kz.VALID_W]
    total = acc[:, kz.TOTAL_W]
    with np.errstate(invalid="ignore", divide="ignore"):
        df = pd.DataFrame(
            {
                "sum": np.where(valid > 0, s, np.nan),
                "mean": np.where(valid > 0, s / valid, np.nan),
                "max": np.where(np.isfinite(vmax), vmax, np.nan),
                "pixels": total,
                "valid_share": np.where(total > 0, valid / total, np.nan),
                "inside_share": np.where(area_px > 0, np.minimum(total / area_px, 1.0), np.nan),
                "lit_pixels": np.where(valid > 0, acc[:, kz.LIT_W], np.nan),
                "lit_area_km2": np.where(valid > 0, acc[:, kz.LIT_KM2], np.nan),
                "area_km2": acc[:, kz.AREA_KM2],
            }
        )
    return df


def zonal_stats_many(
    polygons: gpd.GeoDataFrame | gpd.GeoSeries,
    mosaics: Sequence[xr.DataArray],
    *,
    floor: float = 0.0,
    method: str = "exact",
    names: Sequence[str] | None = None,
    area: AreaMode = "exact",
    checkpoints: CheckpointStore | None = None,
) -> list[pd.DataFrame]:
    """Zonal statistics of the same polygons on several mosaics of one grid, in one pass.

    Parameters
    ----------
    polygons : GeoDataFrame or GeoSeries
        Already in the mosaics' CRS (see :func:`nightlight.io.vector.read_polygons`).
    mosaics : sequence of xarray.DataArray
        2-D (y, x) rasters on one grid (checked), numpy- or dask-backed.
    floor : float
        Lit threshold in mosaic units: a pixel is lit when its value is > floor.
    method : {"exact", "centre"}
        Exact fractional coverage (default) or the pixel-centre rule (module docstring).
    names : optional
        Names of the mosaics for error messages.
    area : {"exact", "pyproj", "nominal"}
        Pixel-area rule of the km² columns, the same as :func:`nightlight.extract_natural_cities`'s
        (:mod:`nightlight.area`): a CRS that distorts area is refused unless ``"pyproj"`` or ``"nominal"``.
    checkpoints : CheckpointStore, optional
        A batch job's resume store (:mod:`nightlight.checkpoint`); None (default): nothing is kept.

    Returns
    -------
    list of pandas.DataFrame
        One per mosaic, rows in polygon order, columns :data:`STAT_COLUMNS`:
        ``sum`` (mosaic units × pixels, e.g. nW/cm²/sr summed or DN summed), ``mean``
        (per valid pixel), ``max`` (brightest pixel touched), ``pixels`` (covered
        pixels inside the grid, fractional), ``valid_share``
        (non-NaN share of them), ``inside_share`` (share of the polygon's area
        inside the grid; exact with ``method="exact"``), ``lit_pixels`` / ``lit_area_km2`` (pixels above
        ``floor``), ``area_km2`` (covered ground area inside the grid). Polygons
        outside the grid get ``pixels == 0`` and NaN statistics.
    """
    names = list(names) if names is not None else [str(m.name or f"mosaic {i}") for i, m in enumerate(mosaics)]
    grid = Grid.of(mosaics[0], name=names[0])
    for m, nm in zip(mosaics[1:], names[1:]):
        require_same_grid(mosaics[0], m, names=(names[0], nm))
    area = resolve_area(grid, area, name=names[0])
    geoms = np.asarray(polygons.geometry.array if hasattr(polygons, "geometry") else polygons.array, dtype=object)
    if method not in ("exact", "centre"):
        raise ValueError(f"method={method!r}: use 'exact' (fractional coverage) or 'centre' (pixel-centre rule).")
    _require_valid(geoms)
    plan = _make_plan(geoms, grid, floor, method, area)
    # polygon area in pixels (CRS units): the share of it inside the grid flags partial coverage
    area_px = shapely.area(geoms) / abs(grid.transform.a * grid.transform.e)

    if not is_dask(*mosaics):
        res = _combine(plan.n, _block_stats(plan, 0, 0, *[np.asarray(m.data) for m in mosaics]))
        return [stats_frame(acc, vmax, area_px) for acc, vmax in res]

    # align chunking on the first dask array so blocks correspond
    ref = next(as_dask(m) for m in mosaics if is_dask(m))
    arrays = [as_dask(m, chunks=ref.chunks).rechunk(ref.chunks) for m in mosaics]
    # a name skips tokenizing the geometries (hashing 10⁴ polygons costs more than the sums)
    plan_d = dask.delayed(plan, name=f"nightlight-zonal-plan-{uuid.uuid4().hex}")
    delayed_blocks = [a.to_delayed() for a in arrays]
    stage = None  # the record hashes every polygon's WKB (a fifth of a 10⁴-polygon run): only for a store
    if checkpoints is not None:
        record = dict(inputs=[a.name for a in arrays], chunks=ref.chunks, polygons=wkb_token(geoms), floor=floor)
        stage = stage_of(checkpoints, "zonal", {**record, "method": method, "area": area}, TREE)
    parts = []
    for bi, bj, win in grid.blocks(ref.chunks):
        # skip blocks no polygon's bounding box meets (no GEOS predicate: serial; the task tests polygons)
        if not _any_hit(plan, shapely.box(*grid.window_bounds(win))):
            continue
        args = (plan_d, win.row0, win.col0, *[d[bi, bj] for d in delayed_blocks])
        parts.append(checkpointed(stage, f"{bi}-{bj}", _block_stats, *args))
    if not parts:
        empty = [kz.new_accumulator(plan.n) for _ in mosaics]
        return [stats_frame(acc, vmax, area_px) for acc, vmax in empty]
    res = dask.delayed(_combine)(plan.n, *parts).compute()
    return [stats_frame(acc, vmax, area_px) for acc, vmax in res]


def _require_valid(geoms: np.ndarray) -> None:
    live = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    # is_valid_reason, not is_valid: shapely.is_valid silences every warning of the process while it runs
    # (warnings.catch_warnings); run on a thread beside the driver, it swallowed a batch's CheckpointWarnings
    invalid = live & (shapely.is_valid_reason(geoms) != "Valid Geometry")
    if invalid.any():  # GEOS would fail mid-way with a bare GEOSException
        raise InvalidVectorError(
            f"zonal_stats: {int(invalid.sum())} invalid polygon(s) (rows {np.flatnonzero(invalid)[:10].tolist()}, "
            "e.g. self-intersections). Pass them through nightlight.read_polygons (it repairs them with "
            "shapely.make_valid and says which) or repair them yourself."
        )


def _any_hit(plan: _Plan, bbox: shapely.Geometry) -> bool:
    trees = [tr for _, _, tr in plan.layers] + ([plan.exact[2]] if plan.exact is not None else [])
    return any(len(tr.query(bbox)) for tr in trees)


def zonal_stats(
    polygons: gpd.GeoDataFrame | gpd.GeoSeries,
    mosaic: xr.DataArray,
    *,
    floor: float = 0.0,
    method: str = "exact",
    area: AreaMode = "exact",
) -> pd.DataFrame:
    """Zonal statistics of polygons on one mosaic (see :func:`zonal_stats_many`)."""
    return zonal_stats_many(polygons, [mosaic], floor=floor, method=method, area=area)[0]
