"""Open night-light mosaics lazily as Dask-chunked, georeferenced DataArrays.

Local paths, ``file://``, ``http(s)://`` and ``s3://`` URLs go through rasterio/GDAL
(remote COGs are read by range requests through GDAL's ``/vsicurl/``), so the same
call reads a laptop file and a cloud mosaic. Nothing is read but the header until a
chunk is computed. :func:`write_geotiff` is the way back: a DataArray to a GeoTIFF, written
atomically (:func:`nightlight.checkpoint.write_atomic`: a temp name, then a rename; also the tables and figures).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import dask
import numpy as np
import rasterio
import rasterio.crs
import rasterio.errors
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from nightlight._backend import float_dtype, is_dask
from nightlight.checkpoint import write_atomic
from nightlight.errors import InvalidRasterError, MissingCRSError, ParameterError
from nightlight.grid import Grid
from nightlight.io.blocks import BandSource, band_array, source_options
from nightlight.io.remote import gdal_path, timed_out
from nightlight.units import UNKNOWN, canonical_units, resolve_units

#: Default chunk edge in pixels: ~16 MiB of float32 per chunk, small enough that
#: (chunks × workers) stays far below a laptop's memory, large enough to amortize
#: Dask's per-task overhead (docs/architecture.md, "Scale").
DEFAULT_CHUNK = 2048

Source = str | os.PathLike | xr.DataArray


#: A chunking that makes more blocks than this is refused (each block is a task with
#: ~1 ms of scheduler overhead: 250,000 tasks are minutes of pure overhead).
MAX_BLOCKS = 250_000
#: Above this many blocks, chunks under :data:`SMALL_CHUNK` px get a warning.
MANY_BLOCKS = 10_000
SMALL_CHUNK = 256

#: ``nodata="file"`` (default): use the nodata value the file declares.
FILE_NODATA = "file"


def open_mosaic(
    source: Source,
    *,
    chunks: int | tuple[int, int] | dict | None = DEFAULT_CHUNK,
    band: int | None = None,
    crs: Any = None,
    name: str | None = None,
    nodata: float | str | None = FILE_NODATA,
    units: str | None = None,
    gdal_options: dict[str, Any] | None = None,
    region: tuple[float, float, float, float] | None = None,
) -> xr.DataArray:
    """Open a night-light mosaic lazily.

    Parameters
    ----------
    source : str, path-like or xarray.DataArray
        A GeoTIFF/COG path or URL (``https://…``, ``s3://…``, ``/vsicurl/…``), a catalog
        name ``NAME:KEY`` (``"viirs-vnl-v2.1:2016"``, ``nightlight catalog list``; found
        locally or fetched by :func:`nightlight.io.resolve.resolve`, its units and nodata
        from the catalog unless given here), or a DataArray that is returned checked (and
        chunked if it is not yet).
    chunks : int, (int, int), dict or None
        Dask chunk edge in pixels (default 2048). ``None`` reads eagerly (small rasters).
        Chunkings of more than :data:`MAX_BLOCKS` blocks are refused.
    band : int, optional
        1-based band to read. Default 1, with a warning naming the band read when the
        file has several (``attrs["band"]`` records it).
    crs : optional
        CRS to assume **only** when the file has none (e.g. ``"EPSG:4326"``).
    name : str, optional
        Name of the returned DataArray (default: file stem).
    nodata : float, None or "file"
        Which value means "no data" (→ NaN): ``"file"`` (default) the value the file
        declares; a number overrides it (undeclared −999, 65535 …); ``None`` means
        the file has no nodata — every value is data (e.g. a 0 declared nodata that
        really means *dark*, as in the China VIIRS-like 8-bit copies).
    units : str, optional
        ``"nW/cm2/sr"`` (VIIRS radiance) or ``"DN"`` (DMSP-OLS); default from the file's
        metadata, else inferred with a warning (:mod:`nightlight.units`).
        ``attrs["units"]`` carries the result; every chunk is checked against the
        plausible range of its units when it is read.
    gdal_options : dict, optional
        GDAL configuration for the reads (HTTP timeouts, retries…), over
        :data:`nightlight.io.remote.GDAL_DEFAULTS`.
    region : (west, south, east, north), optional
        Crop to this lon/lat box (degrees, EPSG:4326), lazily: every pixel the box
        overlaps (:meth:`nightlight.grid.Grid.window`).

    Returns
    -------
    xarray.DataArray
        2-D ``(y, x)`` float32 (float64 if the file is float64), with nodata as NaN,
        CRS and transform set (rioxarray), ``attrs["source"]`` the path/URL,
        ``attrs["units"]``.

    Raises
    ------
    InvalidRasterError
        Not a raster, truncated or corrupt file (also when a chunk is computed later:
        the message names the file and the pixel block); the band does not exist.
    ImplausibleValueError
        A chunk holds values no night-light product produces (undeclared nodata).
        Also raised up front: a complex-valued band; a rotated or sheared geotransform
        (:class:`InvalidRasterError`, naming the file).
    MissingCRSError
        The file has no CRS and ``crs`` was not given.
    ParameterError
        ``source`` is not a path, URL or DataArray; unusable ``chunks``.
    """
    if isinstance(source, xr.DataArray):
        return _checked_dataarray(source, chunks=chunks, crs=crs, units=units, nodata=nodata)
    if not isinstance(source, (str, os.PathLike)):
        raise ParameterError(
            f"open_mosaic: source={source!r} ({type(source).__name__}) is not a path, URL or DataArray. "
            "Pass e.g. 'VNL_2016.tif', 'https://…/VNL_2016.tif' or an xarray.DataArray."
        )
    path = os.fspath(source)
    catalog_attrs: dict[str, Any] = {}
    if (entry := _catalog_entry(source, path, region)) is not None:
        # a catalog name, or a catalog product's own file by its path: read as the catalog reads it (same numbers)
        named, by_name = entry
        units = units if units is not None else named.units
        nodata = named.nodata if nodata == FILE_NODATA else nodata
        catalog_attrs = {"product": f"{named.product.name}:{named.key}", "scale_factor": named.product.scale_factor}
        if by_name:
            path, name = named.path, name or path.replace(":", "_")
            catalog_attrs.update(product=source, found=named.found)
    options = source_options(gdal_options)
    vsi_path = gdal_path(path)
    header = _read_header(path, vsi_path, band or 1, options)
    band = _check_header(path, header, band, crs)
    grid = Grid(
        header.crs if header.crs is not None else rasterio.crs.CRS.from_user_input(crs), header.transform, header.shape
    )
    edge = chunk_pair(chunks, grid.shape, label=path)
    unit, how = resolve_units(units, header.units, Path(path).name, header.dtype)
    src = BandSource(
        label=path,
        gdal_path=vsi_path,
        band=band,
        out_dtype=float_dtype(header.dtype).name,
        nodata=_nodata_value(nodata, header.nodata, path),
        units=unit,
        gdal_options=options,
    )
    attrs = {
        "source": path,
        "source_dtype": str(header.dtype),
        "source_nodata": header.nodata,
        "nodata_used": src.nodata,
        "units": unit,
        "units_from": how,
        "band": band,
        **catalog_attrs,
    }
    da = grid.wrap(band_array(src, grid, edge), name=name or Path(path).stem, attrs=attrs)
    if region is not None:  # cut lazily to every pixel the lon/lat box overlaps
        window = grid.region_window(region, label=path)
        da = grid.slice(window).georeference(da.isel(y=window.slices[0], x=window.slices[1]))
    return da.rio.write_nodata(np.nan, encoded=False)


def _catalog_entry(source: Source, path: str, region: Any) -> tuple[Any, bool] | None:
    """(:class:`~nightlight.io.resolve.Resolved`, True) of a catalog name; (…, False) of the catalog product
    whose local file ``path`` is; None for any other path or URL."""
    from nightlight.io.catalog import split_source  # the catalog is read only for NAME:KEY strings
    from nightlight.io.resolve import catalog_name_of, resolve

    if isinstance(source, str) and split_source(source) is not None:
        # region: a tiled product (Black Marble) resolves to the mosaic of the tiles it needs
        return resolve(source, region=region), True
    if "://" in path or path.startswith("/vsi") or not (name := catalog_name_of(path)):
        return None
    return resolve(name, fetch=False), False


class _Header(NamedTuple):
    """What open_mosaic needs from the file's header (read without touching pixels)."""

    n_bands: int
    crs: Any
    nodata: float | None
    dtype: str
    transform: Any
    shape: tuple[int, int]
    units: str | None
    description: str | None = None


def _nodata_value(nodata: float | str | None, declared: float | None, label: str) -> float | None:
    if nodata == FILE_NODATA:
        return None if declared is None else float(declared)
    if nodata is None:
        return None
    if isinstance(nodata, (str, bytes, bool)):
        raise ParameterError(f"{label}: nodata={nodata!r}: pass a number, None (no nodata) or 'file'.")
    return float(nodata)


def chunk_pair(chunks: Any, shape: tuple[int, int], *, label: str) -> tuple[int, int] | None:
    """(rows, cols) chunk edge from the accepted forms (an edge, a pair, ``{"y": …, "x": …}``; None stays None),
    checked for a sane number of tasks on a grid of ``shape``."""
    if chunks is None:
        return None
    if isinstance(chunks, dict):
        chunks = (chunks.get("y", DEFAULT_CHUNK), chunks.get("x", DEFAULT_CHUNK))
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks), int(chunks))
    try:
        ch, cw = (int(c) for c in chunks)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{label}: chunks={chunks!r}: pass an edge in pixels (e.g. 2048) or (rows, cols)."
        ) from None
    if ch < 1 or cw < 1:
        raise ParameterError(f"{label}: chunks={chunks!r}: chunk edges must be ≥ 1 pixel (use e.g. 2048).")
    _check_block_count(shape, (ch, cw), label)
    return ch, cw


def _check_block_count(shape: tuple[int, int], edge: tuple[int, int], label: str) -> None:
    n = math.ceil(shape[0] / edge[0]) * math.ceil(shape[1] / edge[1])
    # the advice is an edge that fits: never the one just refused (chunks=2048 refused, "use chunks=2048")
    fits = max(DEFAULT_CHUNK, SMALL_CHUNK * math.ceil(math.sqrt(shape[0] * shape[1] / MAX_BLOCKS) / SMALL_CHUNK))
    while math.ceil(shape[0] / fits) * math.ceil(shape[1] / fits) > MAX_BLOCKS:
        fits += SMALL_CHUNK
    advice = (
        f"use chunks={DEFAULT_CHUNK} (the default) or at least {SMALL_CHUNK}"
        if fits == DEFAULT_CHUNK
        else f"use chunks={fits} or larger, or region= (CLI --region) to work on a part"
    )
    if n > MAX_BLOCKS:
        raise ParameterError(
            f"{label}: chunks={edge} on a {shape[0]} x {shape[1]} raster make {n:,} blocks (> {MAX_BLOCKS:,}): "
            f"the run would be scheduler overhead for minutes. {advice[0].upper() + advice[1:]}."
        )
    if n > MANY_BLOCKS and min(edge) < SMALL_CHUNK:
        warnings.warn(f"{label}: chunks={edge} make {n:,} small blocks; {advice}.", UserWarning, stacklevel=4)


def source_label(src: Any, fallback: str = "DataArray") -> str:
    """How to call a mosaic in messages and metadata: its path, its ``source`` attribute, or ``fallback``."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, xr.DataArray):
        return str(src.attrs.get("source", src.name or fallback))
    return fallback


def source_identity(src: Any) -> Any:
    """What makes two sources the same input: the object, or the real path of a local file."""
    if isinstance(src, (str, os.PathLike)):
        text = os.fspath(src)
        return ("path", os.path.realpath(text)) if os.path.exists(text) else ("name", text)
    return ("object", id(src))


def _checked_dataarray(
    da: xr.DataArray, *, chunks: Any, crs: Any, units: str | None, nodata: float | str | None
) -> xr.DataArray:
    """A DataArray passed in: one band, 2-D, a CRS (``crs`` assumed only when it has none), units, chunked."""
    label = source_label(da)
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
    fill = _nodata_value(nodata, None, label)  # None for nodata=None and for "file" (an in-memory array declares none)
    if fill is not None:
        da = da.where(da != fill)
    if units is not None or "units" not in da.attrs:
        # an in-memory array without units stays "unknown" (no warning: nothing to infer from)
        da = da.copy(deep=False)
        da.attrs["units"] = canonical_units(units) if units is not None else UNKNOWN
    if chunks is not None and not is_dask(da):
        edge = chunk_pair(chunks, (da.shape[0], da.shape[1]), label=label)
        da = da.chunk(dict(zip(da.dims, edge)))  # type: ignore[arg-type]
    elif is_dask(da):
        row_chunks, col_chunks = da.data.chunks  # 2-D, checked above
        _check_block_count((da.shape[0], da.shape[1]), (max(row_chunks), max(col_chunks)), label)
    return da


def _read_header(label: str, gdal_path: str, band: int, options: tuple[tuple[str, str], ...]) -> _Header:
    """Band count, CRS, nodata, dtype, grid and units metadata of the band, from the header only."""
    started = time.monotonic()
    try:
        with rasterio.Env(**dict(options)), rasterio.open(gdal_path) as src:
            ok = 1 <= band <= src.count
            meta_units = (src.units[band - 1] if ok else None) or src.tags(band if ok else 0).get("units")
            header = _Header(
                src.count,
                src.crs,
                src.nodata,
                src.dtypes[band - 1] if ok else "float32",
                src.transform,
                (src.height, src.width),
                meta_units or src.tags().get("units"),
                src.descriptions[band - 1] if ok else None,
            )
    except rasterio.errors.RasterioIOError as exc:
        if why := timed_out(gdal_path, started, options):
            raise InvalidRasterError(f"{label}: cannot be opened: {why}.") from exc
        raise InvalidRasterError(
            f"{label}: cannot be opened as a raster ({exc}). Check that the path/URL is right and the file "
            "is a complete GeoTIFF/COG (a truncated download fails here: download it again)."
        ) from exc
    if band < 1 or band > header.n_bands:
        raise InvalidRasterError(f"{label}: has {header.n_bands} band(s); band={band} does not exist.")
    return header


#: Above this many pixels a raster gets a warning up front (a global 15″ mosaic has 2.9e9).
LARGE_PIXELS = 10**10


def _check_header(label: str, header: _Header, band: int | None, crs: Any) -> int:
    """The band to read, after refusing what nightlight cannot read right and warning of what it guesses."""
    if header.crs is None and crs is None:
        raise MissingCRSError(
            f"{label}: the file has no CRS. Pass `crs=` (e.g. crs='EPSG:4326' for a lat/lon mosaic) "
            "or fix the file with `gdal_edit.py -a_srs EPSG:4326 FILE`."
        )
    if np.dtype(header.dtype).kind == "c":
        raise InvalidRasterError(
            f"{label}: band {band or 1} holds complex numbers ({header.dtype}); night light is a real radiance or "
            "DN. Write its real part (or amplitude) to a new file first, e.g. `gdal_translate -ot Float32`."
        )
    t = header.transform
    if t.b or t.d:
        raise InvalidRasterError(
            f"{label}: its geotransform is rotated or sheared (b={t.b:g}, d={t.d:g}); nightlight reads north-up "
            "grids. Warp it to a north-up grid first, e.g. `gdalwarp IN.tif OUT.tif` (or `rio.reproject`)."
        )
    rows, cols = header.shape
    if rows * cols > LARGE_PIXELS:
        size_gb = rows * cols * 4 / 1e9
        warnings.warn(
            f"{label}: {rows:,} x {cols:,} pixels ({size_gb:,.0f} GB as float32, "
            f"{rows * cols / 2.9e9:,.0f}x a global 15″ mosaic): every step reads all of it. Pass region= "
            "(CLI --region) to work on a part.",
            UserWarning,
            stacklevel=4,
        )
    if band is None:
        if header.n_bands > 1:
            what = f" ({header.description!r})" if header.description else ""
            warnings.warn(
                f"{label}: {header.n_bands} bands; reading band 1{what}. Pass band= to read another.",
                UserWarning,
                stacklevel=4,
            )
        band = 1
    return band


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


def write_geotiff(
    path: str | os.PathLike,
    data: xr.DataArray,
    *,
    crs: Any = None,
    nodata: float | None = None,
    dtype: Any = None,
    tags: dict[str, Any] | None = None,
    **creation_options: Any,
) -> Path:
    """Write a ``(y, x)`` DataArray as a one-band GeoTIFF, one dask chunk at a time, atomically; its path.

    Parameters
    ----------
    path : path-like
        File to write (replaced only once the new one is whole: :func:`~nightlight.checkpoint.write_atomic`).
    data : DataArray
        Brings its CRS (``crs`` only when it has none; neither: a file without a CRS),
        transform and nodata (``nodata`` only when it has none). Dask data is computed
        and written chunk by chunk (rasterio windows): peak memory is about one chunk.
    dtype : optional
        On-disk data type (default: the array's).
    tags : mapping, optional
        Dataset metadata tags, e.g. ``{"units": "nW/cm2/sr"}`` (how a file declares its units).
    **creation_options
        Extra rasterio/GDAL profile entries, e.g. ``tiled=True, compress="deflate"``.
    """
    if data.ndim != 2:
        raise ValueError(f"write_geotiff({os.fspath(path)!r}): expected a 2-D raster, got shape {data.shape}.")
    # The coordinates decide (a GeoTransform cached on a parent survives slicing), but the
    # written transform is kept when it describes them: one recomputed from the coordinates
    # is a few ulps off, and so would be the coordinates open_mosaic reads from the file.
    shape = (int(data.shape[0]), int(data.shape[1]))
    from_coords = Grid(None, data.rio.transform(recalc=True), shape)
    written = Grid(None, data.rio.transform(), shape)
    crs = data.rio.crs if data.rio.crs is not None else crs
    profile: dict[str, Any] = dict(
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=np.dtype(dtype or data.dtype).name,
        transform=(written if written.same_as(from_coords) else from_coords).transform,
        nodata=data.rio.nodata if nodata is None else nodata,
        **creation_options,
        **({} if crs is None else {"crs": crs}),
    )

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            if tags:
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
            if not is_dask(data):
                dst.write(np.asarray(data.values).astype(profile["dtype"], copy=False), 1)
                return
            # a row of blocks per compute, written here: the open file stays in this process (a
            # dask.distributed worker cannot write to it), and memory holds one row of blocks
            rows: dict[int, list] = {}
            for i, j, win in written.blocks(data.data.chunks):
                rows.setdefault(i, []).append((j, win))
            for i, wins in rows.items():
                values = dask.compute(*[data.data.blocks[i, j] for j, _ in wins])
                for (_, win), block in zip(wins, values):
                    dst.write(np.asarray(block).astype(profile["dtype"], copy=False), 1, window=win.to_rasterio())

    return write_atomic(Path(path), write)
