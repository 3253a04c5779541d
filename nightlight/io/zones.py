"""Read the pixels of pixel-traced zones, block by block, with each mosaic's totals; keep them with the array.

Natural cities (:func:`nightlight.extract_natural_cities`) are unions of whole pixels: every
edge of their polygons runs along pixel edges (:func:`pixel_traced`). Their pixels are found
per block by pixel-centre rasterisation (exact for such polygons), and one pass over a
mosaic reads the values at them together with the block's whole-mosaic totals
(:func:`nightlight.kernels.totals.block_totals`). The result is kept with the mosaic's dask
array (:func:`memo_of`), so a pass made for one stage serves the next: the brightness fit
(:func:`nightlight.preprocess.normalise.fit_normalisation`, whose exclusion zones are the
cities under test) reads the base and later year once for its sample *and* the decline test
(:mod:`nightlight.change.pixels`), and the corrected decline reads only the corrected year.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import rasterio.features
import shapely
import xarray as xr

from nightlight._backend import as_dask
from nightlight.checkpoint import Stage, checkpointed
from nightlight.grid import Grid
from nightlight.hashing import wkb_token
from nightlight.kernels import totals as KT

#: Vertices within this many pixels of a pixel corner count as on it (float noise of the CRS transform).
CORNER_TOLERANCE_PX = 1e-6

_MEMOS: dict[str, tuple[weakref.ref, dict[str, Any]]] = {}


def memo_of(da: xr.DataArray) -> dict[str, Any] | None:
    """A scratch dict kept with ``da``'s dask array in this process (None for NumPy data).

    The national study fits the brightness correction and runs the decline twice on one base
    year (raw, then corrected): the zones' pixel values, the totals and pattern windows are kept
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


def pixel_traced(geoms: np.ndarray, grid: Grid) -> bool:
    """True when every polygon is a union of whole pixels of ``grid`` and no two interiors overlap.

    Every vertex must lie on a pixel corner (within :data:`CORNER_TOLERANCE_PX`) and every edge
    run along a row or a column of pixel edges; overlapping zones each need their full sum, which
    one label per pixel cannot give.
    """
    live = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
    if not len(live) or not set(shapely.get_type_id(live).tolist()) <= {3, 6}:  # (multi)polygons only
        return False
    xy, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(live)), return_index=True)
    inv = ~grid.transform
    col = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
    row = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
    col_i, row_i = np.round(col), np.round(row)
    if not (np.abs(col - col_i).max() <= CORNER_TOLERANCE_PX and np.abs(row - row_i).max() <= CORNER_TOLERANCE_PX):
        return False
    same = ring[:-1] == ring[1:]
    if not ((col_i[:-1] == col_i[1:]) | (row_i[:-1] == row_i[1:]))[same].all():
        return False
    a, b = shapely.STRtree(live).query(live, predicate="intersects")
    pairs = a < b
    return not (~shapely.touches(live[a[pairs]], live[b[pairs]])).any()


@dataclass
class _Plan:
    """What a block task needs: the live polygons, their tree and the grid."""

    geoms: np.ndarray
    tree: shapely.STRtree
    grid: Grid


def block_pixels(plan: _Plan, r0: int, c0: int, h: int, w: int, *blocks: np.ndarray) -> tuple:
    """One block: ``((zone, row, col), values per block, (total, counts) per block)``; zones index ``plan.geoms``."""
    win = (r0, r0 + h, c0, c0 + w)
    hit = plan.tree.query(shapely.box(*plan.grid.window_bounds(win)), predicate="intersects")
    labels = np.zeros(0, np.int32)
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
    rr, cc = np.divmod(flat, w)
    where = ((labels[flat] - 1).astype(np.int64), (rr + r0).astype(np.int32), (cc + c0).astype(np.int32))
    values = tuple(np.asarray(b).ravel()[flat] for b in blocks)
    totals = tuple((np.float64(t), c) for t, c in (KT.block_totals(np.asarray(b)) for b in blocks))
    return where, values, totals


@dataclass
class ZoneRead:
    """The pass that reads the zones' pixels from the mosaics not read yet: its block tasks and what keeps them.

    Compute :meth:`tasks`, or call :meth:`block` inside another pass's block task (each block is
    then read once for both), then hand the per-block results, in row-major block order, to
    :meth:`keep`, which returns ``(zone, row, col)`` and, per mosaic, ``(values, totals)``.
    """

    key: str
    live: np.ndarray
    mosaics: list[xr.DataArray]
    todo: list[int]
    plan: _Plan
    blocks: list[tuple[str, tuple]]
    remember: bool

    def block(self, r0: int, c0: int, *blocks: np.ndarray) -> tuple:
        """:func:`block_pixels` of one block, given the blocks of every mosaic (those not read yet are used)."""
        h, w = np.shape(blocks[0])
        return block_pixels(self.plan, r0, c0, h, w, *(blocks[i] for i in self.todo))

    def tasks(self, stage: Stage | None = None) -> list[Any]:
        """One delayed per block (through a batch job's checkpoint ``stage`` when given)."""
        return [checkpointed(stage, key, block_pixels, *args) for key, args in self.blocks]

    def keep(self, parts: Sequence[tuple]) -> tuple[tuple[np.ndarray, ...], list[tuple[np.ndarray, tuple]]]:
        """Assemble the computed block results; store each new mosaic's values and totals with its array."""
        zone, row, col = (np.concatenate([p[0][q] for p in parts]) for q in range(3))
        got: list[Any] = [None] * len(self.mosaics)
        for k, i in enumerate(self.todo):
            got[i] = (np.concatenate([p[1][k] for p in parts]), add_up_totals(*(p[2][k] for p in parts)))
            if self.remember and (memo := memo_of(self.mosaics[i])) is not None:
                memo[self.key], memo["totals"] = got[i], got[i][1]
        for i, m in enumerate(self.mosaics):
            if got[i] is None:
                got[i] = (memo_of(m) or {})[self.key]
        return (self.live[zone], row, col), got


def zone_read(geoms: np.ndarray, mosaics: Sequence[xr.DataArray], grid: Grid, *, remember: bool = True) -> ZoneRead:
    """The block tasks reading the zones' pixels of every mosaic whose values are not kept yet.

    ``geoms``: pixel-traced polygons in the grid's CRS (:func:`pixel_traced`); ``mosaics``: on
    ``grid``, dask-backed, one chunking. ``remember=False`` (a batch job with a checkpoint
    store): nothing is read from or kept with the arrays.
    """
    arrays = [as_dask(m) for m in mosaics]
    chunks = arrays[0].chunks
    key = f"zone pixels {wkb_token(geoms)} {chunks}"
    memos = [memo_of(m) if remember else None for m in mosaics]
    todo = [i for i, memo in enumerate(memos) if memo is None or key not in memo]
    live = np.flatnonzero(~(shapely.is_empty(geoms) | shapely.is_missing(geoms)))
    plan = _Plan(geoms[live], shapely.STRtree(geoms[live]), grid)
    plan_d = dask.delayed(plan, name=f"zones-{uuid.uuid4().hex}")  # named: tokenizing the polygons is slow
    delayed = [arrays[i].rechunk(chunks).to_delayed() for i in todo]
    blocks = [
        (f"{bi}-{bj}", (plan_d, r0, c0, r1 - r0, c1 - c0, *(d[bi, bj] for d in delayed)))
        for bi, bj, (r0, r1, c0, c1) in grid.blocks(chunks)
    ]
    return ZoneRead(key, live, list(mosaics), todo, plan, blocks, remember)
