"""Put one mosaic on another's pixel grid, explicitly and lazily.

Never done silently: :func:`nightlight.grid.require_same_grid` refuses two-date
arithmetic on different grids and points here. Each output block is warped by
``rasterio.warp.reproject`` from only the source window that covers it (plus a
margin for the resampling kernel), so a global mosaic aligns in bounded memory.
"""

from __future__ import annotations

import os

import dask
import dask.array as dsa
import numpy as np
import rasterio.errors
import rasterio.warp
import xarray as xr
from rasterio.enums import Resampling

from nightlight._backend import IN_MEMORY_GDAL_LOCK, as_dask, float_dtype
from nightlight.grid import Grid, PixelWindow
from nightlight.io.raster import open_mosaic, write_geotiff

#: Source pixels added around each block's footprint: enough for cubic/lanczos kernels.
MARGIN = 3


def _warp_block(src_block, src_transform, src_crs, dst_shape, dst_transform, dst_crs, resampling, dtype):
    out = np.full(dst_shape, np.nan, dtype=np.float64)
    if not src_block.size:
        return out.astype(dtype)
    with IN_MEMORY_GDAL_LOCK:
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
        ``"average"`` preserves a region's total light best for sub-pixel shifts.

    Returns
    -------
    xarray.DataArray
        On ``like``'s grid and chunks, in ``like``'s working dtype (float32, or float64
        when ``like`` is float64 — what :func:`nightlight.open_mosaic` gives); NaN where
        ``source`` has no data. Overlap weights are applied in float64; float32 keeps
        ~7 digits per pixel, and the zonal sums accumulate in float64.
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
    dtype = float_dtype(dst.dtype)  # the base's working dtype: float32 unless it is float64
    rows: list[list[dsa.Array]] = []
    for i, j, win in dg.blocks(as_dask(dst, chunks=-1).chunks):  # a NumPy `like` is one block
        if j == 0:
            rows.append([])
        swin = _source_window(sg, dg, win)
        block = dask.delayed(_warp_block)(
            src_data[swin.slices],
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
    write_geotiff(path, da, nodata=float("nan"), tiled=True, blockxsize=256, blockysize=256, compress="lzw")
    units = da.attrs.get("units")
    out = open_mosaic(str(path), nodata="file", units=None if units in (None, "unknown") else str(units))
    out.attrs.update({k: v for k, v in da.attrs.items() if k in ("aligned_to", "resampling", "value_scale")})
    out.attrs["resampled_from"] = str(da.attrs.get("source", da.name))
    return out
