"""Read the pixels of pixel-traced zones, block by block, with each mosaic's totals; keep them with the array.

Natural cities (:func:`nightlight.extract_natural_cities`) are unions of whole pixels: every
edge of their polygons runs along pixel edges. Their pixels are filled between the polygons'
edges (:func:`zone_pixels`, exact, no rasterisation), and one pass over a
mosaic reads the values at them together with the block's whole-mosaic totals
(:func:`nightlight.kernels.totals.block_totals`). The result is kept with the mosaic's dask
array (:func:`memo_of`), so a pass made for one stage serves the next: the brightness fit
(:func:`nightlight.preprocess.normalise.fit_normalisation`, whose exclusion zones are the
cities under test) reads the base and later year once for its sample *and* the decline test
(:mod:`nightlight.change.pixels`), and the corrected decline reads only the corrected year.

Any other polygons have pixels by the pixel-centre rule (:func:`centre_pixels`), and
:func:`gather` reads the values at them: the shrinkage patterns of admin units are classified
from those pixels as the natural cities' are from theirs.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import rasterio.features
import shapely
import xarray as xr
from affine import Affine

from nightlight._backend import as_dask
from nightlight.checkpoint import TREE, CheckpointStore, Stage, checkpointed, stage_of
from nightlight.grid import Grid, PixelWindow
from nightlight.hashing import fingerprint, wkb_token
from nightlight.kernels import totals as KT

#: Vertices within this many pixels of a pixel corner count as on it (float noise of the CRS transform).
CORNER_TOLERANCE_PX = 1e-6
#: Zones with more pixels are measured by the zonal pass (their pixel lists would not be compact: 16 bytes a pixel).
MAX_PIXELS = 20_000_000

#: Polygon sets whose pixels :func:`zone_pixels` keeps.
KEPT_ZONES = 2

_MEMOS: dict[str, tuple[weakref.ref, dict[str, Any]]] = {}
_PIXELS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}


def memo_of(da: xr.DataArray) -> dict[str, Any] | None:
    """A scratch dict kept with ``da``'s dask array in this process (None for NumPy data).

    The national study fits the brightness correction and runs the decline twice on one base
    year (raw, then corrected): the zones' pixel values and the totals are kept
    here. Keyed by dask name *and* array object: an array opened again (a rewritten file keeps
    its dask name) starts empty.
    """
    for gone in [n for n, (ref, _) in _MEMOS.items() if ref() is None]:
        _MEMOS.pop(gone, None)  # another thread may have dropped it
    data = da.data
    name = getattr(data, "name", None)
    if not isinstance(name, str):
        return None
    hit = _MEMOS.get(name)
    if hit is None or hit[0]() is not data:
        hit = _MEMOS[name] = (weakref.ref(data), {})
    return hit[1]


def add_up_totals(*blocks: tuple[float, np.ndarray]) -> tuple[float, ...]:
    """(total, valid, lit, negative) of a mosaic from its blocks' (float64 sum, int64 counts), in block order."""
    counts = np.zeros(3, np.int64)
    for _, c in blocks:
        counts += c
    return (float(sum(t for t, _ in blocks)), *(float(c) for c in counts.tolist()))


def zone_pixels(geoms: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(zone, row, col)`` of every pixel of pixel-traced polygons inside the grid, row-major; else None.

    The last :data:`KEPT_ZONES` answers are kept (read-only arrays): the fit's exclusion mask, its
    pass and both decline runs of the national study ask for the same cities.

    Pixel-traced: every vertex lies on a pixel corner (within :data:`CORNER_TOLERANCE_PX`), every
    edge runs along a row or a column of pixel edges, and no two polygons share a pixel
    (overlapping zones each need their full sum, which one zone per pixel cannot give). The
    pixels are filled row by row between the polygons' vertical edges (even–odd rule, so holes
    stay out): exact, with no rasterisation. None also above :data:`MAX_PIXELS`.
    """
    key = f"{wkb_token(geoms)} {tuple(grid.transform)[:6]} {grid.shape}"
    if key not in _PIXELS:
        while len(_PIXELS) >= KEPT_ZONES:
            _PIXELS.pop(next(iter(_PIXELS)), None)
        got = _PIXELS[key] = _trace(geoms, grid)
        for a in got or ():
            a.flags.writeable = False
    return _PIXELS.get(key)


def pixel_windows(geoms: np.ndarray, grid: Grid) -> dict[int, PixelWindow]:
    """The pixel window (:meth:`Grid.window` of its bounds) of each geometry that has one on the grid, by index."""
    out = {}
    for i, g in enumerate(geoms):
        if g is not None and not shapely.is_empty(g):
            win = grid.window(g.bounds)
            if win.row0 < win.row1 and win.col0 < win.col1:
                out[i] = win
    return out


def centre_pixels(geoms: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(zone, row, col)`` of the grid pixels whose centre lies inside each polygon (any polygons; may overlap).

    The pixel-centre rule of ``rasterio.features.geometry_mask`` (``all_touched=False``) on the
    polygon's :func:`pixel_windows` window: the pixels a pixel-traced zone's :func:`zone_pixels`
    are, for any other polygon. Zones in input order, each row-major.
    """
    parts = [(np.zeros(0, np.int64),) * 3]
    with rasterio.Env():  # one GDAL environment: rasterio otherwise sets one up per call (~15 % of its cost)
        for i, win in pixel_windows(geoms, grid).items():
            t = grid.transform @ Affine.translation(win.col0, win.row0)
            inside = rasterio.features.geometry_mask([geoms[i]], out_shape=win.shape, transform=t, invert=True)
            r, c = np.nonzero(inside)
            parts.append((np.full(len(r), i), r + win.row0, c + win.col0))
    zone, row, col = (np.concatenate(p) for p in zip(*parts))
    return zone, row, col


def gather(mosaics: Sequence[xr.DataArray], row: np.ndarray, col: np.ndarray) -> list[np.ndarray]:
    """Each mosaic's values at the pixels ``(row, col)``, in one compute that reads only the chunks holding them.

    The mosaics are on one grid (dask or NumPy; chunked as the first).
    """
    arrays = [as_dask(m) for m in mosaics]
    chunks = arrays[0].chunks
    order, local = by_block(Grid.of(mosaics[0]), chunks, row, col)
    take = dask.delayed(_take)  # not pure: hashing the index arrays costs more than the reads
    # unoptimised: mosaics computed from the same arrays (the years on their common pixels) share their reads
    delayed = [a.rechunk(chunks).to_delayed(optimize_graph=False) for a in arrays]
    tasks = [[take(local[(i, j)], d[i, j]) for i, j in local] for d in delayed]
    out = [np.empty(len(order), a.dtype) for a in arrays]
    for values, parts in zip(out, dask.compute(*tasks)):
        values[order] = np.concatenate(parts) if parts else values
    return out


def _take(local: np.ndarray, block: np.ndarray) -> np.ndarray:
    return np.asarray(block).ravel()[local]


def by_block(
    grid: Grid, chunks: Sequence[Sequence[int]], row: np.ndarray, col: np.ndarray
) -> tuple[np.ndarray, dict[tuple[int, int], np.ndarray]]:
    """The pixels ``(row, col)`` by block of a dask chunking: ``order`` (the pixels in block order: row-major
    blocks, each in the pixels' order) and, per block ``(i, j)`` holding any, their flat indices in it."""
    rows, cols = grid.chunk_edges(chunks)
    nbx = len(cols) - 1
    block = (np.searchsorted(rows, row, side="right") - 1) * nbx + np.searchsorted(cols, col, side="right") - 1
    order = np.argsort(block, kind="stable")
    starts = np.searchsorted(block[order], np.arange((len(rows) - 1) * nbx + 1))
    local = {}
    for k in np.flatnonzero(np.diff(starts)).tolist():
        i, j = divmod(k, nbx)
        mine = order[starts[k] : starts[k + 1]]
        local[(i, j)] = (row[mine] - rows[i]).astype(np.int64) * (cols[j + 1] - cols[j]) + (col[mine] - cols[j])
    return order, local


def _trace(geoms: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    live = np.flatnonzero(~(shapely.is_empty(geoms) | shapely.is_missing(geoms)))
    if not len(live) or not set(shapely.get_type_id(geoms[live]).tolist()) <= {3, 6}:  # (multi)polygons only
        return None
    parts, part_of = shapely.get_parts(geoms[live], return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
    inv = ~grid.transform
    col = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
    row = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
    ci, ri = np.round(col).astype(np.int64), np.round(row).astype(np.int64)
    if max(np.abs(col - ci).max(), np.abs(row - ri).max()) > CORNER_TOLERANCE_PX:
        return None
    same = vertex_of[:-1] == vertex_of[1:]  # consecutive vertices of one ring: an edge
    if not ((ci[:-1] == ci[1:]) | (ri[:-1] == ri[1:]))[same].all():
        return None
    vertical = np.flatnonzero(same & (ri[:-1] != ri[1:]))
    lo, hi = np.minimum(ri[vertical], ri[vertical + 1]), np.maximum(ri[vertical], ri[vertical + 1])
    n = hi - lo
    if int(n.sum()) > 2 * MAX_PIXELS:
        return None
    # each vertical edge crosses the rows lo..hi-1 at its column; pairs of crossings bound the runs
    first = np.repeat(np.cumsum(n) - n, n)
    x_row = np.repeat(lo, n) + np.arange(int(n.sum())) - first
    x_col = np.repeat(ci[vertical], n)
    x_zone = np.repeat(live[part_of[ring_of[vertex_of[vertical]]]], n)
    order = np.lexsort((x_col, x_row, x_zone))
    x_zone, x_row, x_col = x_zone[order], x_row[order], x_col[order]
    start, stop = x_col[0::2], x_col[1::2]
    runs = stop - start
    total = int(runs.sum())
    if total > MAX_PIXELS:
        return None
    offset = np.repeat(np.cumsum(runs) - runs, runs)
    p_zone, p_row = np.repeat(x_zone[0::2], runs), np.repeat(x_row[0::2], runs)
    p_col = np.repeat(start, runs) + np.arange(total) - offset
    h, w = grid.shape
    inside = (p_row >= 0) & (p_row < h) & (p_col >= 0) & (p_col < w)
    p_zone, p_row, p_col = p_zone[inside], p_row[inside], p_col[inside]
    flat = p_row * w + p_col
    order = np.argsort(flat, kind="stable")
    if (np.diff(flat[order]) == 0).any():  # a pixel in two zones: they overlap
        return None
    return p_zone[order], p_row[order].astype(np.int32), p_col[order].astype(np.int32)


def block_values(local: np.ndarray, block: np.ndarray) -> tuple[np.ndarray, tuple[np.float64, np.ndarray]]:
    """One block of one mosaic: the values at the zones' pixels (``local``: flat indices in it) and its totals."""
    t, counts = KT.block_totals(np.asarray(block))
    return np.asarray(block).ravel()[local], (np.float64(t), counts)


def assemble(order: np.ndarray, *parts: tuple) -> tuple[np.ndarray, tuple[float, ...]]:
    """One mosaic's ``(values at the pixels in row-major order, totals)`` from its blocks' :func:`block_values`."""
    values = np.empty(len(order), np.result_type(*(p[0].dtype for p in parts)))
    values[order] = np.concatenate([p[0] for p in parts])
    return values, add_up_totals(*(p[1] for p in parts))


@dataclass
class ZoneRead:
    """The pass that reads the zones' pixels from the mosaics not read yet, and what keeps them.

    Compute :meth:`tasks` (one per mosaic), or call :meth:`block` inside another pass's block
    task (each block is then read once for both) and hand its results, in row-major block
    order, to :meth:`keep`. Either way :meth:`keep` returns, per mosaic, ``(values, totals)``:
    the values at the pixels :func:`zone_read` was given (``zone``, ``row``, ``col``, row-major), the totals as
    :func:`add_up_totals`.
    """

    key: str
    mosaics: list[xr.DataArray]
    todo: list[int]
    local: dict[tuple[int, int], np.ndarray]  # block origin -> flat indices of its zone pixels
    order: np.ndarray  # the pixels in block order (row-major blocks, row-major inside)
    blocks: list[list[Any]]  # per mosaic to read: its block tasks
    remember: bool

    def block(self, r0: int, c0: int, *blocks: np.ndarray) -> tuple:
        """:func:`block_values` of one block of every mosaic not read yet, given the blocks of all of them."""
        return tuple(block_values(self.local[(r0, c0)], blocks[i]) for i in self.todo)

    def tasks(self, stage: Stage | None = None) -> list[Any]:
        """One delayed ``(values, totals)`` per mosaic to read; with a batch job's checkpoint ``stage``
        (shared, keyed by the mosaic's dask name and the zones), a mosaic read for an earlier pair is loaded."""
        out = []
        for i, parts in zip(self.todo, self.blocks):
            name = as_dask(self.mosaics[i]).name
            key = fingerprint({"dask_name": name, "zones": self.key})[:32]  # a safe file name
            out.append(checkpointed(stage, key, assemble, self.order, *parts))
        return out

    def keep(self, got: Sequence[Any], *, by_block: bool = False) -> list[tuple[np.ndarray, tuple]]:
        """Every mosaic's ``(values, totals)``: computed ones (``got``: :meth:`tasks`' results, or :meth:`block`'s
        per block with ``by_block``) stored with their arrays, the others taken from them."""
        if by_block:
            got = [assemble(self.order, *(b[k] for b in got)) for k in range(len(self.todo))]
        out: list[Any] = [None] * len(self.mosaics)
        for i, result in zip(self.todo, got):
            out[i] = result
            if self.remember and (memo := memo_of(self.mosaics[i])) is not None:
                memo[self.key], memo["totals"] = result, result[1]
        return [(memo_of(m) or {})[self.key] if r is None else r for m, r in zip(self.mosaics, out)]


def zone_read(
    geoms: np.ndarray,
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    mosaics: Sequence[xr.DataArray],
    grid: Grid,
    *,
    remember: bool = True,
) -> ZoneRead:
    """The block tasks reading the zones' pixels of every mosaic whose values are not kept yet.

    ``geoms``: pixel-traced polygons in the grid's CRS and ``pixels`` their :func:`zone_pixels`;
    ``mosaics``: on ``grid``, dask-backed, one chunking. ``remember=False`` (a batch job with a
    checkpoint store): nothing is read from or kept with the arrays.
    """
    arrays = [as_dask(m) for m in mosaics]
    chunks = arrays[0].chunks
    key = f"zone pixels {wkb_token(geoms)} {chunks}"
    memos = [memo_of(m) if remember else None for m in mosaics]
    for memo in memos if not len(pixels[0]) else ():  # no pixels: the totals of any earlier pass serve
        if memo is not None and "totals" in memo:
            memo.setdefault(key, (np.zeros(0, np.float32), memo["totals"]))
    todo = [i for i, memo in enumerate(memos) if memo is None or key not in memo]
    order, held = by_block(grid, chunks, *pixels[1:])  # row-major inside each block
    none = np.zeros(0, np.int64)  # every block is read: its totals count
    local = {(w.row0, w.col0): held.get((i, j), none) for i, j, w in grid.blocks(chunks)}
    delayed = [arrays[k].rechunk(chunks).to_delayed() for k in todo]
    task = dask.delayed(block_values, pure=True)
    blocks = [[task(local[(w.row0, w.col0)], d[i, j]) for i, j, w in grid.blocks(chunks)] for d in delayed]
    return ZoneRead(key, list(mosaics), todo, local, order, blocks, remember)


def read_zones(
    geoms: np.ndarray,
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    mosaics: Sequence[xr.DataArray],
    grid: Grid,
    checkpoints: CheckpointStore | None = None,
) -> list[tuple[np.ndarray, tuple[float, ...]]]:
    """Every mosaic's ``(values at the zones' pixels, totals)`` (:class:`ZoneRead`), in one compute.

    No pixels: the whole-mosaic totals alone. ``checkpoints``: a batch job's resume store
    (:mod:`nightlight.checkpoint`): a mosaic's values and totals are kept under its dask name and
    the zones (the store's key holds the inputs' checksums), so the base year is read once for all
    the pairs it is compared in. Without one they are kept with the array (:func:`memo_of`).
    """
    read = zone_read(geoms, pixels, mosaics, grid, remember=checkpoints is None)
    stage = stage_of(checkpoints, "zone pixels", {"key": "dask name of the mosaic and the zones"}, TREE, shared=True)
    return read.keep(dask.compute(*read.tasks(stage)))
