"""Georeferenced test rasters: in memory (:func:`georeferenced`) and as GeoTIFF files (:func:`write_geotiff`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as dsa
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from nightlight.grid import Grid
from nightlight.io import raster

#: A chunk specification: one edge for every dimension, one entry per dimension
#: (an int, or a tuple of block sizes), or ``{dim: chunks}``.
Chunks = int | tuple | Mapping


def _transform(res: float | tuple[float, float], origin: tuple[float, float]) -> Affine:
    rx, ry = (float(res[0]), float(res[1])) if isinstance(res, tuple | list) else (float(res), float(res))
    if rx <= 0 or ry <= 0:
        raise ValueError(f"res={res!r}: pixel sizes must be positive (north-up grid); pass transform= for others.")
    return Affine(rx, 0.0, float(origin[0]), 0.0, -ry, float(origin[1]))


def chunk_dict(chunks: Chunks, dims: Sequence[Any]) -> dict:
    """``{dim: chunks}`` for ``DataArray.chunk``; a 2-tuple on N-D data chunks the last two dims."""
    if isinstance(chunks, Mapping):
        return dict(chunks)
    if isinstance(chunks, int):
        return {d: chunks for d in dims}
    chunks = tuple(chunks)
    if len(chunks) == len(dims):
        return dict(zip(dims, chunks))
    if len(chunks) == 2:
        return {**{d: -1 for d in dims[:-2]}, dims[-2]: chunks[0], dims[-1]: chunks[1]}
    raise ValueError(f"chunks={chunks!r}: give one entry per dimension {tuple(dims)}, or (rows, cols).")


def georeferenced(
    values: Any,
    *,
    crs: Any = "EPSG:4326",
    res: float | tuple[float, float] = 1 / 240,
    origin: tuple[float, float] = (0.0, 0.0),
    transform: Affine | None = None,
    chunks: Chunks | None = None,
    nodata: float | None = None,
    units: str | None = None,
    name: str | None = None,
    dims: tuple[str, ...] = ("y", "x"),
) -> xr.DataArray:
    """A georeferenced DataArray laid out as :func:`nightlight.open_mosaic` lays one out.

    Parameters
    ----------
    values : array-like or dask array, at least 2-D
        Pixel values, row 0 at the top (north). Kept as given (dtype, NaN included).
    crs : CRS-like or None
        Written with ``rio.write_crs``; ``None`` leaves the array without a CRS (to
        test :class:`~nightlight.errors.MissingCRSError`).
    res : float or (float, float)
        Pixel size (x, y) in CRS units, positive; default 15″ (1/240°, VIIRS).
    origin : (float, float)
        CRS coordinates of the upper-left corner of pixel (0, 0), e.g. (lon, lat).
    transform : affine.Affine, optional
        Full pixel-corner transform; replaces ``res`` and ``origin``. Not rotated.
    chunks : int, tuple or dict, optional
        Dask chunks (see :data:`Chunks`); ``None`` keeps the array in memory.
    nodata : float, optional
        Recorded with ``rio.write_nodata`` (values are not changed).
    units : str, optional
        ``attrs["units"]``, e.g. ``"nW/cm2/sr"`` or ``"DN"``.
    name : str, optional
        The DataArray's name.
    dims : tuple of str
        Dimension names; the last two are the rows and columns of the grid.

    Returns
    -------
    xarray.DataArray
        Coordinates at pixel centres (``y`` decreasing for a north-up grid), CRS and
        ``GeoTransform`` set, so :meth:`nightlight.Grid.of` reads back ``transform``.
    """
    arr: Any = values if isinstance(values, dsa.Array) else np.asarray(values)
    if arr.ndim < 2 or arr.ndim != len(dims):
        raise ValueError(f"values of shape {arr.shape} do not match dims={dims}: give a (y, x) array or matching dims.")
    t = _transform(res, origin) if transform is None else transform
    if t.b != 0 or t.d != 0:
        raise ValueError(f"transform={t!r} is rotated; nightlight grids are axis-aligned.")
    # Grid.coords: the coordinates open_mosaic gives a file of this grid, to the last bit
    # (the CRS plays no part in them, so a CRS-less array uses the same rule)
    centres = Grid(crs=None, transform=t, shape=tuple(arr.shape[-2:])).coords()
    da = xr.DataArray(arr, dims=dims, coords={dims[-2]: centres["y"], dims[-1]: centres["x"]}, name=name)
    if crs is not None:
        da = da.rio.write_crs(crs)
    da = da.rio.write_transform(t)
    if nodata is not None:
        da = da.rio.write_nodata(nodata, encoded=False)
    if units is not None:
        da.attrs["units"] = units
    return da if chunks is None else da.chunk(chunk_dict(chunks, dims))


def write_geotiff(
    path: str | os.PathLike,
    data: Any,
    *,
    crs: Any = "EPSG:4326",
    res: float | tuple[float, float] = 1 / 240,
    origin: tuple[float, float] = (0.0, 0.0),
    transform: Affine | None = None,
    nodata: float | None = None,
    dtype: Any = None,
    tags: Mapping[str, Any] | None = None,
    **creation_options: Any,
) -> Path:
    """Write a one-band GeoTIFF (plain, untiled, uncompressed unless told) and return its path.

    A georeferenced DataArray brings its own CRS, transform and nodata (the keywords fill
    in what it lacks); a plain 2-D array is laid out by ``crs``, ``res``, ``origin`` or
    ``transform`` as :func:`georeferenced` does (``crs=None``: a file without a CRS). The
    writing, ``dtype``, ``tags`` and ``**creation_options`` are those of
    :func:`nightlight.io.raster.write_geotiff`.
    """
    if not isinstance(data, xr.DataArray):
        if np.ndim(data) != 2:
            raise ValueError(f"write_geotiff({os.fspath(path)!r}): expected a 2-D raster, got shape {np.shape(data)}.")
        data = georeferenced(data, crs=None, res=res, origin=origin, transform=transform)
    return raster.write_geotiff(
        path, data, crs=crs, nodata=nodata, dtype=dtype, tags=dict(tags or {}), **creation_options
    )
