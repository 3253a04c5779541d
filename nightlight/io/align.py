"""Put one mosaic on another's pixel grid, explicitly and lazily.

Never done silently: :func:`nightlight.grid.require_same_grid` refuses two-date
arithmetic on different grids and points here. Each output block is computed from
only the source window that covers it, so a global mosaic aligns in bounded memory:

* ``"average"`` between grids that differ by a translation (same CRS and pixel size,
  e.g. the China VIIRS-like 2012/2022 grids 0.22 px north of 2013): every target pixel
  overlaps at most 2 × 2 source pixels, and GDAL's overlap-weighted average is the
  numba stencil :func:`nightlight.kernels.shift.shift_average` — ~65× faster than GDAL's
  warp of a 2048² block, and GDAL's values up to its float noise (it derives the weights
  from CRS coordinates, up to ~3e-10 px off: ``tests/io/test_align.py``);
* everything else: ``rasterio.warp.reproject`` with a margin for the resampling kernel.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import rasterio.errors
import rasterio.warp
import xarray as xr
from rasterio.enums import Resampling

from nightlight._backend import as_dask, float_dtype
from nightlight.grid import Grid, PixelWindow, chunk_edges
from nightlight.io.raster import open_mosaic
from nightlight.kernels.shift import shift_average

#: Source pixels added around each block's footprint: enough for cubic/lanczos kernels.
MARGIN = 3
#: Overlaps up to this many source pixels are float noise and count as none (GDAL's own cut, 1e-10 px).
#: Where a target pixel meets the source only along its top or left edge, GDAL gives it the edge
#: pixel's value (its window clamped to the source); it overlaps nothing, and the stencil gives NaN.
SLIVER = 1e-10


def _warp_block(src_block, src_transform, src_crs, dst_shape, dst_transform, dst_crs, resampling, dtype):
    out = np.full(dst_shape, np.nan, dtype=np.float64)
    if not src_block.size:
        return out.astype(dtype)
    with warnings.catch_warnings():
        # GDAL's in-memory datasets for plain arrays trip rasterio's "no geotransform"
        # check even though both transforms are passed explicitly.
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        rasterio.warp.reproject(
            np.asarray(src_block, dtype=np.float64),
            out,
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=np.nan,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan,
            resampling=resampling,
        )
    # warped in float64 (the kernel's weights), returned in the working dtype: a float32
    # year beside float32 years instead of doubling a series' memory
    return out.astype(dtype, copy=False)


def _shift_block(window, wy, wx, dtype):
    return shift_average(window, wy, wx, np.empty((len(wy), len(wx)), dtype=dtype))


def _gather(shape, dtype, places, *pieces):
    """A source window (NaN beyond the source) from the chunks that hold it (``places``: where each goes)."""
    out = np.empty(shape, dtype=dtype)
    if sum((a.stop - a.start) * (b.stop - b.start) for (a, b), _ in places) < out.size:
        out.fill(np.nan)  # part of the window lies beyond the source
    for (into, take), piece in zip(places, pieces):
        out[into] = piece[take]
    return out


def _window(blocks: np.ndarray, chunks: tuple, win: PixelWindow, dtype: np.dtype) -> Any:
    """The delayed pixels of ``win`` (rows/cols may lie beyond the source) from the source's delayed chunks.

    The chunks are passed as the array's own keys: every block that needs a chunk shares one read
    (a dask array sliced into ``dask.delayed`` is a private copy of its graph, read once per block).
    """
    rows, cols = chunk_edges(chunks)
    places, pieces = [], []
    for bi in range(len(rows) - 1):
        r0, r1 = max(rows[bi], win.row0), min(rows[bi + 1], win.row1)
        for bj in range(len(cols) - 1):
            c0, c1 = max(cols[bj], win.col0), min(cols[bj + 1], win.col1)
            if r0 < r1 and c0 < c1:
                into = slice(r0 - win.row0, r1 - win.row0), slice(c0 - win.col0, c1 - win.col0)
                places.append((into, (slice(r0 - rows[bi], r1 - rows[bi]), slice(c0 - cols[bj], c1 - cols[bj]))))
                pieces.append(blocks[bi, bj])
    return dask.delayed(_gather)(win.shape, dtype, places, *pieces)


def _overlaps(dst0: float, dst_step: float, src0: float, src_step: float, n: int) -> tuple[int, np.ndarray] | None:
    """Along one axis: ``(k, w)`` with target pixel ``i`` overlapping source pixels ``i + k`` by ``w[i, 0]``
    and ``i + k + 1`` by ``w[i, 1]`` (in source pixels), or None when a target pixel covers more than two
    source pixels or ``k`` is not the same for all (another pixel size: GDAL's case).
    """
    edges = (dst0 - src0 + np.arange(n + 1) * dst_step) / src_step  # target pixel edges in source pixels
    lo, hi = edges[:-1], edges[1:]
    first = np.floor(lo + SLIVER)
    k = first - np.arange(n)
    if n == 0 or np.any(k != k[0]) or np.any(hi > first + 2 + SLIVER):
        return None
    w = np.stack([np.minimum(hi, first + 1) - lo, hi - (first + 1)], axis=1)
    return int(k[0]), np.where(w > SLIVER, w, 0.0)


def _shift(src: Grid, dst: Grid) -> tuple[tuple[int, np.ndarray], tuple[int, np.ndarray]] | None:
    """Row and column :func:`_overlaps` when ``dst`` is ``src`` translated (same CRS and axes), else None."""
    s, d = src.transform, dst.transform
    if src.crs != dst.crs or s.b or s.d or d.b or d.d or s.a * d.a <= 0 or s.e * d.e <= 0:
        return None
    rows, cols = _overlaps(d.f, d.e, s.f, s.e, dst.shape[0]), _overlaps(d.c, d.a, s.c, s.a, dst.shape[1])
    return None if rows is None or cols is None else (rows, cols)


def _source_window(src: Grid, dst: Grid, block: PixelWindow) -> PixelWindow:
    """The window of ``src`` under a block of ``dst``, plus :data:`MARGIN` pixels, clipped to ``src``."""
    win = src.window(dst.window_bounds(block), crs=dst.crs)
    h, w = src.shape
    r0, c0 = max(0, win.row0 - MARGIN), max(0, win.col0 - MARGIN)
    return PixelWindow(r0, max(r0, min(h, win.row1 + MARGIN)), c0, max(c0, min(w, win.col1 + MARGIN)))


#: Resampling methods the CLI and batch configurations accept (rasterio.enums.Resampling names that make sense here).
ALIGN_METHODS = ("nearest", "bilinear", "cubic", "average", "mode", "max", "min", "med", "sum")


def align_to(source: xr.DataArray | str, like: xr.DataArray | str, *, resampling: str = "nearest") -> xr.DataArray:
    """Resample ``source`` onto the pixel grid of ``like`` (lazily, block by block).

    Parameters
    ----------
    source : DataArray or path
        The mosaic to move.
    like : DataArray or path
        The mosaic whose grid (CRS, transform, shape, chunks) the result takes.
    resampling : str
        A ``rasterio.enums.Resampling`` name: ``"nearest"`` keeps original values
        (DN stay integers), ``"average"`` / ``"bilinear"`` weight by overlap —
        ``"average"`` preserves a region's total light best for sub-pixel shifts
        (and is the fast stencil when the grids differ by a translation; module docstring).

    Returns
    -------
    xarray.DataArray
        On ``like``'s grid and chunks, in ``like``'s working dtype (float32, or float64
        when ``like`` is float64 — what :func:`nightlight.open_mosaic` gives); NaN where
        ``source`` has no data. Overlap weights are applied in float64; float32 keeps
        ~7 digits per pixel, and the zonal sums accumulate in float64.
        ``attrs["aligned_by"]``: ``"stencil"`` (a translation, ``"average"``) or ``"gdal"``.
    """
    try:
        method = Resampling[resampling]
    except KeyError:
        raise ValueError(
            f"resampling={resampling!r} is not a rasterio resampling; use one of "
            f"{', '.join(r.name for r in Resampling if r.value < 14)}."
        ) from None
    src = open_mosaic(source)
    dst = open_mosaic(like)
    sg, dg = Grid.of(src, name="source"), Grid.of(dst, name="like")
    src_data = as_dask(src)
    src_blocks, src_dtype = src_data.to_delayed(), float_dtype(src_data.dtype)
    dtype = float_dtype(dst.dtype)  # the base's working dtype: float32 unless it is float64
    shift = _shift(sg, dg) if method is Resampling.average else None
    rows: list[list[dsa.Array]] = []
    for i, j, win in dg.blocks(as_dask(dst, chunks=-1).chunks):  # a NumPy `like` is one block
        if j == 0:
            rows.append([])
        if shift is not None:  # the source rows i + ky and i + ky + 1 of every target row i (columns alike)
            (ky, wy), (kx, wx) = shift
            swin = PixelWindow(win.row0 + ky, win.row1 + ky + 1, win.col0 + kx, win.col1 + kx + 1)
            pixels = _window(src_blocks, src_data.chunks, swin, src_dtype)
            wys, wxs = wy[win.row0 : win.row1], wx[win.col0 : win.col1]
            block = dask.delayed(_shift_block)(pixels, wys, wxs, dtype)
        else:
            swin = _source_window(sg, dg, win)
            block = dask.delayed(_warp_block)(
                _window(src_blocks, src_data.chunks, swin, src_dtype),
                sg.slice(swin).transform,
                sg.crs,
                win.shape,
                dg.slice(win).transform,
                dg.crs,
                method,
                dtype,
            )
        rows[i].append(dsa.from_delayed(block, shape=win.shape, dtype=dtype))
    out = xr.DataArray(dsa.block(rows), dims=dst.dims, coords=dst.coords, name=src.name, attrs=dict(src.attrs))
    out.attrs["aligned_to"] = str(dst.attrs.get("source", dst.name))
    out.attrs["resampling"] = resampling
    out.attrs["aligned_by"] = "gdal" if shift is None else "stencil"
    return dg.georeference(out)


def materialise(da: xr.DataArray, path: str | os.PathLike) -> xr.DataArray:
    """Compute a lazy mosaic once into a GeoTIFF (block by block, atomically) and open it again, lazily.

    For resampled years: ``align_to`` warps every block from its source window, which
    is the slow part of a series pass; summed in several passes or fed with ten other
    years into one zonal pass, the warps are redone and their source blocks held —
    here they are computed once, in bounded memory (one block at a time).

    Parameters
    ----------
    da : DataArray
        A lazy mosaic (e.g. the output of :func:`align_to`).
    path : path
        The GeoTIFF to write (tiled, LZW). Written under a temporary name and renamed,
        so a file at ``path`` is always whole (a killed job leaves none). Stored in
        ``da``'s dtype, which keeps :func:`align_to`'s values exactly.

    Returns
    -------
    DataArray
        The file, opened lazily with :func:`nightlight.open_mosaic` (NaN = nodata).
    """
    path = Path(path)
    g = Grid.of(da)
    h, w = g.shape
    dt = np.dtype(da.dtype)
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": dt.name,
        "crs": g.crs,
        "transform": g.transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "lzw",
    }
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    data = as_dask(da)
    rows: dict[int, list] = {}
    for i, _, win in g.blocks(data.chunks):
        rows.setdefault(i, []).append(win)
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            # A row of blocks at a time, written here: the open file stays in this process (a
            # dask.distributed worker cannot write to it), and memory holds one row of blocks.
            for i, wins in rows.items():
                values = dask.compute(*[data.blocks[i, j] for j in range(len(wins))])
                for win, block in zip(wins, values):
                    dst.write(np.asarray(block, dtype=dt), 1, window=win.to_rasterio())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    units = da.attrs.get("units")
    out = open_mosaic(str(path), nodata="file", units=None if units in (None, "unknown") else str(units))
    out.attrs.update({k: v for k, v in da.attrs.items() if k in ("aligned_to", "resampling", "value_scale")})
    out.attrs["resampled_from"] = str(da.attrs.get("source", da.name))
    return out
