"""Put one mosaic on another's pixel grid, explicitly and lazily.

Never done silently: :func:`nightlight.grid.require_same_grid` refuses two-date
arithmetic on different grids and points here. Each output block is warped by
``rasterio.warp.reproject`` from only the source window that covers it (plus a
margin for the resampling kernel), so a global mosaic aligns in bounded memory.
"""

from __future__ import annotations

import math
import warnings

import dask
import dask.array as dsa
import numpy as np
import rasterio.errors
import rasterio.warp
import xarray as xr
from affine import Affine
from rasterio.enums import Resampling

from nightlight.grid import Grid
from nightlight.io.raster import open_mosaic

#: Source pixels added around each block's footprint: enough for cubic/lanczos kernels.
MARGIN = 3


def _warp_block(src_block, src_transform, src_crs, dst_shape, dst_transform, dst_crs, resampling):
    out = np.full(dst_shape, np.nan, dtype=np.float64)
    if not src_block.size:
        return out
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
    return out


def _source_window(src: Grid, dst: Grid, row0: int, row1: int, col0: int, col1: int) -> tuple[int, int, int, int]:
    t = dst.transform
    left, top = t @ (col0, row0)
    right, bottom = t @ (col1, row1)
    bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    if src.crs != dst.crs:
        bounds = rasterio.warp.transform_bounds(dst.crs, src.crs, *bounds, densify_pts=21)
    inv = ~src.transform
    xs, ys = zip(*(inv @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])))
    h, w = src.shape
    r0 = max(0, int(math.floor(min(ys))) - MARGIN)
    r1 = min(h, int(math.ceil(max(ys))) + MARGIN)
    c0 = max(0, int(math.floor(min(xs))) - MARGIN)
    c1 = min(w, int(math.ceil(max(xs))) + MARGIN)
    return r0, max(r0, r1), c0, max(c0, c1)


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
        float64, on ``like``'s grid and chunks; NaN where ``source`` has no data.
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
    if dst.chunks is None:
        dst = dst.chunk()
    row_edges = np.concatenate([[0], np.cumsum(dst.chunks[0])])
    col_edges = np.concatenate([[0], np.cumsum(dst.chunks[1])])
    src_data = src.data if isinstance(src.data, dsa.Array) else dsa.from_array(src.data)
    rows = []
    for i in range(len(row_edges) - 1):
        row = []
        for j in range(len(col_edges) - 1):
            r0, r1, c0, c1 = int(row_edges[i]), int(row_edges[i + 1]), int(col_edges[j]), int(col_edges[j + 1])
            sr0, sr1, sc0, sc1 = _source_window(sg, dg, r0, r1, c0, c1)
            block = dask.delayed(_warp_block)(
                src_data[sr0:sr1, sc0:sc1],
                sg.transform @ Affine.translation(sc0, sr0),
                sg.crs,
                (r1 - r0, c1 - c0),
                dg.transform @ Affine.translation(c0, r0),
                dg.crs,
                method,
            )
            row.append(dsa.from_delayed(block, shape=(r1 - r0, c1 - c0), dtype=np.float64))
        rows.append(row)
    out = xr.DataArray(dsa.block(rows), dims=dst.dims, coords=dst.coords, name=src.name, attrs=dict(src.attrs))
    out.attrs["aligned_to"] = str(dst.attrs.get("source", dst.name))
    out.attrs["resampling"] = resampling
    return out.rio.write_crs(dg.crs).rio.write_transform(dg.transform)
