"""Open night-light mosaics lazily as Dask-chunked, georeferenced DataArrays.

Local paths, ``file://``, ``http(s)://`` and ``s3://`` URLs go through rasterio/GDAL
(remote COGs are read by range requests through GDAL's ``/vsicurl/``), so the same
call reads a laptop file and a cloud mosaic. Nothing is read but the header until a
chunk is computed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import rasterio
import rasterio.errors
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from nightlight._backend import is_dask
from nightlight.errors import InvalidRasterError, MissingCRSError
from nightlight.grid import Grid, chunk_edges

#: Default chunk edge in pixels: ~16 MiB of float32 per chunk, small enough that
#: (chunks × workers) stays far below a laptop's memory, large enough to amortize
#: Dask's per-task overhead (ARCHITECTURE.md, "Scale").
DEFAULT_CHUNK = 2048

Source = str | os.PathLike | xr.DataArray


def open_mosaic(
    source: Source,
    *,
    chunks: int | tuple[int, int] | dict | None = DEFAULT_CHUNK,
    band: int = 1,
    crs: Any = None,
    name: str | None = None,
) -> xr.DataArray:
    """Open a night-light mosaic lazily.

    Parameters
    ----------
    source : str, path-like or xarray.DataArray
        A GeoTIFF/COG path or URL (``https://…``, ``s3://…``, ``/vsicurl/…``), or a
        DataArray that is returned checked (and chunked if it is not yet).
    chunks : int, (int, int), dict or None
        Dask chunk edge in pixels (default 2048). ``None`` reads eagerly (small rasters).
    band : int
        1-based band to read.
    crs : optional
        CRS to assume **only** when the file has none (e.g. ``"EPSG:4326"``).
    name : str, optional
        Name of the returned DataArray (default: file stem).

    Returns
    -------
    xarray.DataArray
        2-D ``(y, x)`` float32 (float64 if the file is float64), with nodata as NaN,
        CRS and transform set (rioxarray), ``attrs["source"]`` the path/URL.

    Raises
    ------
    InvalidRasterError
        Not a raster, truncated or corrupt file; the band does not exist.
    MissingCRSError
        The file has no CRS and ``crs`` was not given.
    """
    if isinstance(source, xr.DataArray):
        return _checked_dataarray(source, chunks=chunks, crs=crs)
    path = os.fspath(source)
    gdal_path = _gdal_path(path)
    header = _read_header(path, gdal_path, band)
    _check_crs(path, header, crs)
    da = _open_band(path, gdal_path, band, chunks, None if header.crs is not None else crs)
    values = _mask_nodata(da, header)
    values.name = name or Path(path).stem
    values.attrs.update({"source": path, "source_dtype": str(header.dtype), "source_nodata": header.nodata})
    return values


class _Header(NamedTuple):
    """What open_mosaic needs from the file's header (read without touching pixels)."""

    n_bands: int
    crs: Any
    nodata: float | None
    dtype: str | None


def _checked_dataarray(da: xr.DataArray, *, chunks: Any, crs: Any) -> xr.DataArray:
    """A DataArray passed in: one band, 2-D, a CRS (``crs`` assumed only when it has none), chunked."""
    label = str(da.attrs.get("source", da.name or "DataArray"))
    if da.ndim == 3 and da.sizes.get("band", 0) == 1:
        da = da.squeeze("band", drop=True)
    if da.ndim != 2:
        raise InvalidRasterError(
            f"{label}: expected a 2-D (y, x) raster, got dims {da.dims}. Select one band/year first."
        )
    if da.rio.crs is None:
        if crs is None:
            raise MissingCRSError(
                f"{label}: CRS not found. Set it with `da.rio.write_crs(...)` or pass `crs=` to open_mosaic."
            )
        da = da.rio.write_crs(crs)
    if chunks is not None and not is_dask(da):
        da = da.chunk(_chunk_dict(chunks, da.dims))
    return da


def _read_header(label: str, gdal_path: str, band: int) -> _Header:
    """Band count, CRS, nodata and dtype of the band, from the header only."""
    try:
        with rasterio.open(gdal_path) as src:
            header = _Header(src.count, src.crs, src.nodata, src.dtypes[band - 1] if band <= src.count else None)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidRasterError(
            f"{label}: cannot be opened as a raster ({exc}). Check that the path/URL is right and the file "
            "is a complete GeoTIFF/COG (a truncated download fails here: download it again)."
        ) from exc
    if band < 1 or band > header.n_bands:
        raise InvalidRasterError(f"{label}: has {header.n_bands} band(s); band={band} does not exist.")
    return header


def _check_crs(label: str, header: _Header, crs: Any) -> None:
    if header.crs is None and crs is None:
        raise MissingCRSError(
            f"{label}: the file has no CRS. Pass `crs=` (e.g. crs='EPSG:4326' for a lat/lon mosaic) "
            "or fix the file with `gdal_edit.py -a_srs EPSG:4326 FILE`."
        )


def _open_band(label: str, gdal_path: str, band: int, chunks: Any, assume_crs: Any) -> xr.DataArray:
    """The band as a (lazily chunked) DataArray in the file's dtype; ``assume_crs`` written when the file has none."""
    rio_chunks = None if chunks is None else {"band": 1, **_chunk_dict(chunks, ("y", "x"))}
    try:
        da = rioxarray.open_rasterio(gdal_path, chunks=rio_chunks, masked=False, lock=False, cache=False)
    except Exception as exc:  # rioxarray re-raises GDAL errors under several types
        raise InvalidRasterError(f"{label}: cannot be read as a raster ({exc}).") from exc
    da = da.isel(band=band - 1, drop=True)
    return da if assume_crs is None else da.rio.write_crs(assume_crs)


def _mask_nodata(da: xr.DataArray, header: _Header) -> xr.DataArray:
    """float32 (float64 kept) with the file's nodata as NaN, georeferenced on the file's own grid."""
    out_dtype = np.float64 if np.dtype(header.dtype) == np.float64 else np.float32
    values = da.astype(out_dtype)
    if header.nodata is not None and not np.isnan(header.nodata):
        values = values.where(da != header.nodata)
    values = values.rio.write_nodata(np.nan, encoded=False)
    # the transform the file states (recalc=False), not one re-derived from coordinates
    return Grid(da.rio.crs, da.rio.transform(), tuple(da.shape)).georeference(values)


def _chunk_dict(chunks: int | tuple[int, int] | dict, dims: tuple) -> dict:
    if isinstance(chunks, dict):
        return chunks
    if isinstance(chunks, int):
        chunks = (chunks, chunks)
    return dict(zip(dims[-2:], chunks))


def _gdal_path(path: str) -> str:
    """Turn URLs into GDAL virtual paths; local paths are returned as they are."""
    if path.startswith(("http://", "https://")):
        return "/vsicurl/" + path
    if path.startswith("s3://"):
        return "/vsis3/" + path[len("s3://") :]
    if path.startswith("gs://"):
        return "/vsigs/" + path[len("gs://") :]
    if path.startswith("file://"):
        return path[len("file://") :]
    return path


def verify_readable(da: xr.DataArray) -> None:
    """Read every chunk once (and discard it) to catch truncated files before long work.

    A truncated GeoTIFF opens fine (header intact) and fails only at the missing
    strips; callers that must not half-write outputs call this first.
    """
    try:
        da.isnull().sum().compute()
    except Exception as exc:
        raise InvalidRasterError(
            f"{da.attrs.get('source', da.name)}: the header opens but pixel data cannot be read ({exc}). "
            "The file is truncated or corrupt: download or write it again."
        ) from exc


class WindowReader:
    """Read many small pixel windows of a (dask-backed) mosaic, each chunk computed once.

    Slicing a dask array per window builds and optimises one graph per window, and
    re-reads a chunk for every window that touches it; this keeps the last
    ``max_blocks`` computed chunks (LRU) instead. Memory: ``max_blocks`` chunks.
    Visit windows in row-major order of their position for the best reuse.
    """

    def __init__(self, da: xr.DataArray, *, max_blocks: int = 16):
        self._data = da.data
        self._max = max_blocks
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        # NumPy data is sliced directly; dask data is read through the chunk cache
        self._edges = chunk_edges(self._data.chunks) if is_dask(self._data) else None

    def _block(self, i: int, j: int) -> np.ndarray:
        if (i, j) in self._cache:
            self._cache.move_to_end((i, j))
            return self._cache[(i, j)]
        block = np.asarray(self._data.blocks[i, j].compute())
        self._cache[(i, j)] = block
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return block

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` as a NumPy array."""
        if self._edges is None:
            return np.asarray(self._data[r0:r1, c0:c1])
        rows, cols = self._edges
        out = np.empty((r1 - r0, c1 - c0), dtype=self._data.dtype)
        bi0, bi1 = np.searchsorted(rows, r0, "right") - 1, np.searchsorted(rows, r1, "left")
        bj0, bj1 = np.searchsorted(cols, c0, "right") - 1, np.searchsorted(cols, c1, "left")
        for i in range(bi0, bi1):
            for j in range(bj0, bj1):
                br0, bc0 = rows[i], cols[j]
                rr0, rr1 = max(r0, br0), min(r1, rows[i + 1])
                cc0, cc1 = max(c0, bc0), min(c1, cols[j + 1])
                out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = self._block(i, j)[
                    rr0 - br0 : rr1 - br0, cc0 - bc0 : cc1 - bc0
                ]
        return out
