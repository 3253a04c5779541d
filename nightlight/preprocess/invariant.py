"""Pseudo-invariant pixel candidates for :mod:`nightlight.preprocess.normalise`: exclusion mask and sample.

* :func:`exclusion_mask` — the pixels never to use (the cities under test), from a
  boolean/label raster or from polygons, dilated by a few pixels; lazy per block.
* :func:`candidates` — one pass over both mosaics, block by block: the pixels lit in
  the reference (``before ≥ level``), valid in both years and outside the mask, as a
  seeded sample that does not depend on the chunking. Each block keeps its
  candidates with the smallest values of a 64-bit hash of (seed, global pixel index),
  at most ``sample``; the ``sample`` smallest overall are then a uniform sample of all
  candidates, identical for NumPy input and any dask chunking (the same pixels in the
  same order, so the same fit).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine

from nightlight._backend import IN_MEMORY_GDAL_LOCK, ArrayLike, is_dask
from nightlight.errors import GridMismatchError, ParameterError
from nightlight.grid import GRID_TOLERANCE_PX, Grid, require_same_grid
from nightlight.io.zones import zone_pixels
from nightlight.kernels import pixel as KP
from nightlight.preprocess.calibration import aligned_blocks

_RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".nc")


# --------------------------------------------------------------------------- hashing
def splitmix64(z: Any) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014): a well-mixed 64-bit hash, vectorised."""
    with np.errstate(over="ignore"):  # modular 64-bit arithmetic is the point
        z = np.asarray(z, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(h: np.ndarray, stream: int) -> np.ndarray:
    """A uniform [0, 1) number per hash, independent for each ``stream`` (53-bit mantissa)."""
    return (splitmix64(h ^ splitmix64(np.uint64(stream))) >> np.uint64(11)).astype(np.float64) * 2.0**-53


# --------------------------------------------------------------------------- the exclusion mask
def exclusion_mask(exclude: Any, like: ArrayLike, *, buffer: int = 0) -> ArrayLike | None:
    """Boolean mask (True = excluded) on ``like``'s grid and chunks, dilated by ``buffer`` px; lazy for dask.

    ``exclude``: None; a boolean or label DataArray/ndarray (nonzero, non-NaN =
    excluded) or a raster path on ``like``'s grid; or polygons (GeoDataFrame,
    GeoSeries, vector or CSV path, or :func:`exclusion_zones`' array), reprojected to the
    grid, every pixel they touch excluded. The dilation is a (2·buffer + 1)² square.
    """
    if exclude is None:
        return None
    like_data: Any = like.data if isinstance(like, xr.DataArray) else like
    lazy = is_dask(like_data)
    if isinstance(exclude, (str, os.PathLike)) and os.fspath(exclude).lower().endswith(_RASTER_SUFFIXES):
        from nightlight.io.raster import open_mosaic

        exclude = open_mosaic(exclude, chunks=like_data.chunksize if lazy else None)
    polygons = exclude.dtype == object if isinstance(exclude, np.ndarray) else not isinstance(exclude, xr.DataArray)
    if polygons:  # an array of them: read by exclusion_zones
        zones = exclude if isinstance(exclude, np.ndarray) else exclusion_zones(exclude, like)
        return _polygon_mask(zones, like, lazy, buffer)
    if isinstance(exclude, xr.DataArray) and isinstance(like, xr.DataArray) and exclude.rio.crs is not None:
        require_same_grid(like, exclude, names=("mosaic", "exclude mask"), tolerance_px=GRID_TOLERANCE_PX)
    if np.shape(exclude) != np.shape(like):
        raise GridMismatchError(
            f"exclude: mask shape {np.shape(exclude)} differs from the mosaic's {np.shape(like)}; put it on the "
            "mosaic's grid first (nightlight.align_to(mask, mosaic, resampling='nearest'))."
        )
    data: Any = exclude.data if isinstance(exclude, xr.DataArray) else exclude
    if lazy:
        import dask.array as dsa

        data = dsa.asarray(data).rechunk(like_data.chunks)
    flag = (data != 0) & ~np.isnan(data) if np.issubdtype(data.dtype, np.floating) else data != 0
    if buffer == 0:
        return flag
    if lazy:
        return flag.map_overlap(_dilate, depth=buffer, boundary="none", dtype=bool, r=buffer)
    return _dilate(np.asarray(flag), buffer)


def _dilate(block: np.ndarray, r: int) -> np.ndarray:
    from scipy.ndimage import maximum_filter

    return maximum_filter(np.asarray(block, dtype=np.uint8), size=2 * r + 1, mode="constant").astype(bool)


def exclusion_zones(exclude: Any, like: ArrayLike) -> np.ndarray | None:
    """The polygons of ``exclude`` in ``like``'s CRS, empty ones dropped (None when ``exclude`` is a raster/array)."""
    import shapely

    from nightlight.io.vector import read_polygons

    if exclude is None or isinstance(exclude, (xr.DataArray, np.ndarray)):
        return None
    if isinstance(exclude, (str, os.PathLike)) and os.fspath(exclude).lower().endswith(_RASTER_SUFFIXES):
        return None
    geoms = read_polygons(exclude, target_crs=_grid_for_polygons(like).crs).geometry.to_numpy()
    return geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]


def _grid_for_polygons(like: ArrayLike) -> Grid:
    if not isinstance(like, xr.DataArray):
        raise ParameterError(
            "exclude: polygons need a georeferenced mosaic (a DataArray with a CRS); with plain arrays pass a "
            "boolean mask of the same shape."
        )
    return Grid.of(like, name="mosaic")


def _polygon_mask(geoms: Any, like: ArrayLike, is_dask: bool, buffer: int) -> Any:
    """Polygons rasterized per block (pixels touched count), dilated by ``buffer`` px within each block's halo."""
    import shapely
    from rasterio.features import rasterize

    grid = _grid_for_polygons(like)
    tree = shapely.STRtree(geoms)
    # pixel-traced polygons (the natural cities under test) touch exactly their own pixels
    pixels = zone_pixels(geoms, grid)

    def block(block_info: Any = None) -> np.ndarray:
        (r0, r1), (c0, c1) = (
            block_info[None]["array-location"] if block_info else ((0, grid.shape[0]), (0, grid.shape[1]))
        )
        # rasterize the block plus a halo of `buffer` px, dilate, crop: no neighbouring block is needed
        shape = (r1 - r0 + 2 * buffer, c1 - c0 + 2 * buffer)
        if pixels is not None:
            _, row, col = pixels  # row-major: the halo's rows are one slice
            lo, hi = np.searchsorted(row, [r0 - buffer, r1 + buffer])
            rr, cc = row[lo:hi] - (r0 - buffer), col[lo:hi] - (c0 - buffer)
            keep = (cc >= 0) & (cc < shape[1])
            rr, cc = rr[keep], cc[keep]
            out = np.zeros(shape, bool)
            if len(rr):  # dilate only around the cities: nothing farther than `buffer` from them changes
                box = np.s_[
                    max(int(rr.min()) - buffer, 0) : int(rr.max()) + buffer + 1,
                    max(int(cc.min()) - buffer, 0) : int(cc.max()) + buffer + 1,
                ]
                out[rr, cc] = True
                out[box] = _dilate(out[box], buffer) if buffer > 0 else out[box]
            return out[buffer : buffer + r1 - r0, buffer : buffer + c1 - c0]
        t = grid.transform @ Affine.translation(c0 - buffer, r0 - buffer)
        (x0, y0), (x1, y1) = t @ (0, 0), t @ (shape[1], shape[0])
        hit = tree.query(shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        if hit.size == 0:
            return np.zeros((r1 - r0, c1 - c0), bool)
        with IN_MEMORY_GDAL_LOCK:
            out = rasterize(geoms[hit], out_shape=shape, transform=t, all_touched=True, dtype="uint8")
        out = _dilate(out, buffer) if buffer > 0 else out.astype(bool)
        return out[buffer : buffer + r1 - r0, buffer : buffer + c1 - c0]

    if is_dask:
        import dask.array as dsa

        data: Any = like.data
        # a name skips tokenizing ``block``: dask pickles the closure, every polygon with it (0.04 s for 1,807 cities)
        name = f"nightlight-exclusion-mask-{uuid.uuid4().hex}"
        return dsa.map_blocks(block, dtype=bool, chunks=data.chunks, meta=np.array((), dtype=bool), name=name)
    return block()


# --------------------------------------------------------------------------- the sample
def _block_candidates(x, y, m, r0: int, c0: int, width: int, level: float, cap: int, seed: int, also) -> tuple:
    x, y = np.asarray(x), np.asarray(y)
    extra = None if also is None else also(r0, c0, x, y)
    # the level in the block's float type: NumPy's ``x >= level`` compares a float32 block in float32
    lvl = x.dtype.type(level) if np.issubdtype(x.dtype, np.floating) else float(level)
    mask = None if m is None else np.asarray(m, dtype=bool)
    idx, xv, yv, n_excluded = KP.lit_pairs(x, y, mask, lvl, r0, c0, width)
    h = splitmix64(idx.astype(np.uint64) ^ splitmix64(np.uint64(seed)))
    n_cand = int(h.size)
    if h.size > cap:  # the block's `cap` smallest hashes: a superset of its share of the global sample
        sel = np.argpartition(h, cap - 1)[:cap]
        idx, h, xv, yv = idx[sel], h[sel], xv[sel], yv[sel]
    return h, idx, xv, yv, n_cand, int(n_excluded), extra


def candidates(
    before: ArrayLike,
    after: ArrayLike,
    mask: Any,
    *,
    level: float,
    sample: int,
    seed: int,
    also: Callable | None = None,
) -> dict:
    """The sampled candidate pixels, sorted by hash, and the whole-mosaic counts.

    ``also``: ``also(row0, col0, before_block, after_block)`` runs in the same block tasks (each
    block is read once for both); its results, row-major, are returned as ``also``.

    Returns
    -------
    dict
        ``hash`` (uint64), ``index`` (global row-major pixel index), ``before``,
        ``after`` (float64 values), ``n_candidates`` (all candidates in the mosaic),
        ``n_excluded`` (reference-lit, valid pixels inside the mask), ``also``.
    """
    if isinstance(before, xr.DataArray) and isinstance(after, xr.DataArray) and before.rio.crs is not None:
        # the sample is taken by pixel position: grids within the snap tolerance are the same pixels
        require_same_grid(before, after, names=("before (reference)", "after"), tolerance_px=GRID_TOLERANCE_PX)
    if np.shape(before) != np.shape(after) or len(np.shape(before)) != 2:
        raise GridMismatchError(
            f"fit_normalisation: before has shape {np.shape(before)} and after {np.shape(after)}; they must be "
            "the same 2-D pixels. Resample one onto the other first (nightlight.align_to)."
        )
    width = int(np.shape(before)[1])
    raw: list[Any] = [v.data if isinstance(v, xr.DataArray) else v for v in (before, after)]
    if is_dask(*raw):
        import dask

        args = (width, level, sample, seed)
        tasks = [
            dask.delayed(_block_candidates)(*blocks, r0, c0, *args, also)
            for blocks, r0, c0 in aligned_blocks(raw[0], raw[1], mask)
        ]
        parts = dask.compute(*tasks)
    else:
        arr = lambda v: None if v is None else np.asarray(v.data if isinstance(v, xr.DataArray) else v)  # noqa: E731
        parts = [_block_candidates(arr(before), arr(after), arr(mask), 0, 0, width, level, sample, seed, also)]
    h, idx, x, y = (np.concatenate([p[q] for p in parts]) for q in range(4))
    order = np.lexsort((idx, h))[:sample]
    return {
        "hash": h[order],
        "index": idx[order],
        "before": x[order],
        "after": y[order],
        "n_candidates": sum(p[4] for p in parts),
        "n_excluded": sum(p[5] for p in parts),
        "also": [p[6] for p in parts],
    }
