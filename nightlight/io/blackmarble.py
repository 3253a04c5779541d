"""NASA Black Marble VNP46A3/A4 HDF5 tiles mosaicked lazily onto the 15″ global lat/lon grid.

Black Marble comes as 10° × 10° tiles ``hHHvVV`` of 2400 × 2400 cells at 15″ on a plain
lat/lon grid (no sinusoidal projection): tile ``h00v00`` has its upper-left corner at
180° W, 90° N, ``h`` counts 36 columns eastwards and ``v`` 18 rows southwards (e.g. the
public STAC item of ``VNP46A2.A2022097.h11v05`` has its origin at (−70°, 40°) and shape
2400 × 2400). Each layer is an HDF5 dataset in ``HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields``
(VNP46A3/A4; A1/A2 use ``VNP_Grid_DNB``), e.g. ``NearNadir_Composite_Snow_Free``; collection 1
(archive set 5000) stores uint16 with ``scale_factor`` 0.1 and ``_FillValue`` 65535, in
nW/cm²/sr — see worldbank/blackmarblepy ``src/blackmarble/raster.py`` (``data_field_key``,
``_remove_fill_value``, ``VARIABLE_DEFAULT``) and the Black Marble User Guide v1.2, Table 9.
GDAL's HDF5 driver names the group with ``_`` for the space:
``HDF5:"FILE"://HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data_Fields/LAYER``.

:func:`mosaic_vrt` writes a GDAL VRT that places every tile by its ``hHHvVV`` (never by
georeferencing the file may or may not carry), turns the fill value into NaN and applies
the scale factor and offset (the file's own attributes when it declares them, else the
catalog's), as Float32. :func:`open_tiles` opens it as a dask-backed DataArray through
the same chunk reader as :func:`nightlight.open_mosaic` (nodata, plausibility check,
errors naming the file), cut to a region; ``open_mosaic("blackmarble-vnp46a4:2016",
region=…)`` gets the same pixels through the catalog (:mod:`nightlight.io.resolve`).
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.errors
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from nightlight.errors import InvalidRasterError, ParameterError
from nightlight.grid import Grid
from nightlight.hashing import fingerprint
from nightlight.io.blocks import BandSource, band_array, source_options
from nightlight.io.remote import cache_dir
from nightlight.units import RADIANCE

TILE_DEG = 10.0
TILE_PX = 2400
RES = TILE_DEG / TILE_PX  # 15″ = 1/240°
N_H, N_V = 36, 18
GRID_GROUP = "HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields"
DEFAULT_BAND = "NearNadir_Composite_Snow_Free"
SCALE_FACTOR = 0.1
FILL_VALUE = 65535.0
DEFAULT_CHUNK = TILE_PX  # one tile per chunk: every read opens one HDF5 file
_TILE = re.compile(r"(?:^|[._])h(\d{2})v(\d{2})(?:[._]|$)")
_DATE = re.compile(r"\.(A\d{7})\.")


def global_grid() -> Grid:
    """The 15″ global grid of the Black Marble tiles: 43,200 × 86,400 px, origin (−180°, 90°), EPSG:4326."""
    return Grid(CRS.from_epsg(4326), Affine(RES, 0.0, -180.0, 0.0, -RES, 90.0), (N_V * TILE_PX, N_H * TILE_PX))


def parse_tile(text: str) -> tuple[int, int]:
    """``"h30v05"`` (or a file name holding it) → (h, v); :class:`ParameterError` if none or off the grid."""
    m = _TILE.search(Path(text).name)
    if not m:
        raise ParameterError(f"{text!r}: no Black Marble tile id hHHvVV in the name (e.g. 'h30v05').")
    h, v = int(m.group(1)), int(m.group(2))
    if not (0 <= h < N_H and 0 <= v < N_V):
        raise ParameterError(f"{text!r}: tile h{h:02d}v{v:02d} is off the grid (h00–h35, v00–v17).")
    return h, v


def tile_id(h: int, v: int) -> str:
    return f"h{h:02d}v{v:02d}"


def tiles_for_region(region: Sequence[float]) -> list[str]:
    """The tiles holding a pixel of the lon/lat box ``(west, south, east, north)``, row by row.

    The same pixels as :meth:`nightlight.grid.Grid.window` takes (every pixel the box
    overlaps), so a box ending on a tile edge does not pull in the next tile.
    """
    r0, r1, c0, c1 = global_grid().region_window(region, label="Black Marble tiles")
    return [
        tile_id(h, v)
        for v in range(r0 // TILE_PX, (r1 - 1) // TILE_PX + 1)
        for h in range(c0 // TILE_PX, (c1 - 1) // TILE_PX + 1)
    ]


def subdataset(path: str | os.PathLike, band: str) -> str:
    """The GDAL name of layer ``band`` in a tile file (``HDF5:"FILE"://HDFEOS/…/Data_Fields/BAND``)."""
    text = os.fspath(path)
    if '"' in text:
        raise ParameterError(f"{text!r}: GDAL cannot open a tile path holding a double quote; rename it.")
    return f'HDF5:"{text}"://{GRID_GROUP.replace(" ", "_")}/{band}'


def _float(value: str | float | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _tile_encoding(path: str, band: str, scale: float, fill: float | None) -> tuple[float, float, float | None]:
    """(scale, offset, fill) of one tile's layer: the file's attributes when present, else the given ones.

    Opening the layer here (header only) also proves the file is there, is HDF5 and holds
    a 2400 × 2400 ``band``: a bad tile fails now, named, not deep in a compute.
    """
    name = subdataset(path, band)
    fix = "Download it again (delete it: nightlight fetches it anew) or remove it from the set."
    if not Path(path).is_file():
        raise InvalidRasterError(f"{path}: no such Black Marble tile file. {fix}")
    try:
        with warnings.catch_warnings(), rasterio.Env(**dict(source_options())):
            # the layer carries no GeoTransform GDAL understands: tiles are placed by their hHHvVV
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(name) as src:
                shape, tags = (src.height, src.width), src.tags(1)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidRasterError(
            f"{path}: layer {band!r} of this Black Marble tile cannot be opened ({exc}). Either the file is "
            f"truncated or not a VNP46A3/A4 HDF5 tile ({fix}), or the band name is wrong "
            f"(VNP46A3/A4 layers, e.g. {DEFAULT_BAND}, live in {GRID_GROUP!r})."
        ) from exc
    if shape != (TILE_PX, TILE_PX):
        raise InvalidRasterError(f"{path}: layer {band!r} is {shape[0]} × {shape[1]} px, not a 2400 × 2400 tile. {fix}")
    # attributes are float32 in the files: 7 significant digits are what they mean (0.1, not 0.100000001)
    declared = _float(tags.get("scale_factor"))
    file_fill = _float(tags.get("_FillValue"))
    offset = _float(tags.get("add_offset", tags.get("offset"))) or 0.0
    return (
        float(f"{declared:.7g}") if declared else scale,
        float(f"{offset:.7g}"),
        file_fill if file_fill is not None else fill,
    )


def _tile_map(paths: Iterable[str | os.PathLike]) -> dict[tuple[int, int], str]:
    tiles: dict[tuple[int, int], str] = {}
    dates: dict[str, str] = {}
    for p in paths:
        path = str(Path(p).expanduser().absolute())
        hv = parse_tile(path)
        if hv in tiles:
            raise ParameterError(f"two files for tile {tile_id(*hv)}: {tiles[hv]} and {path}; keep one of them.")
        tiles[hv] = path
        if m := _DATE.search(Path(path).name):
            dates.setdefault(m.group(1), path)
    if len(dates) > 1:
        raise ParameterError(
            f"the tiles hold {len(dates)} dates ({', '.join(sorted(dates))}); pass the tiles of one date "
            "(one year of VNP46A4, one month of VNP46A3)."
        )
    if not tiles:
        raise ParameterError("no Black Marble tile files given.")
    return tiles


def mosaic_vrt(
    paths: Iterable[str | os.PathLike],
    *,
    band: str = DEFAULT_BAND,
    region: Sequence[float] | None = None,
    missing: str = "error",
    scale_factor: float = SCALE_FACTOR,
    fill_value: float | None = FILL_VALUE,
    folder: str | os.PathLike | None = None,
    file_name: str | None = None,
) -> Path:
    """Write a GDAL VRT mosaic (Float32, NaN nodata, scale applied) of Black Marble tiles; its path.

    Parameters
    ----------
    paths : iterable of path
        Tile files (``….hHHvVV.….h5``), one date, any order.
    band : str
        The layer (HDF5 dataset in :data:`GRID_GROUP`).
    region : (west, south, east, north), optional
        Degrees. The mosaic covers the whole tiles this box touches (``region`` cuts
        pixels later, :func:`open_tiles`); default: the tiles' bounding rectangle.
    missing : {"error", "nan"}
        A tile the region (or the rectangle) needs that is not among ``paths``: an
        :class:`InvalidRasterError` naming it (default), or NaN (open ocean has no tile).
    scale_factor, fill_value : float
        Used when a tile's layer declares no ``scale_factor`` / ``_FillValue``.
    folder : path, optional
        Where the VRT goes (default ``NIGHTLIGHT_CACHE/mosaics``); its name is a hash of its content.
    file_name : str, optional
        The expected tile file name (``{tile}`` for the tile id) for the message about a
        missing tile; default: the first file's name with its tile id and stamp replaced.

    Returns
    -------
    Path
        The VRT (reads the tiles in place: keep them where they are).
    """
    if missing not in ("error", "nan"):
        raise ParameterError(f"missing={missing!r}; use 'error' or 'nan'.")
    tiles = _tile_map(paths)
    if region is not None:
        need = [parse_tile(t) for t in tiles_for_region(region)]
    else:
        hs, vs = [h for h, _ in tiles], [v for _, v in tiles]
        need = [(h, v) for v in range(min(vs), max(vs) + 1) for h in range(min(hs), max(hs) + 1)]
    absent = [tile_id(*hv) for hv in need if hv not in tiles]
    if absent and missing == "error":
        if file_name is None:  # VNP46A4.A2016001.h30v05.001.2021125134834.h5 → VNP46A4.A2016001.{tile}.001.*.h5
            first = Path(next(iter(tiles.values()))).name
            file_name = re.sub(
                r"\.\d{13}\.", ".*.", _TILE.sub(lambda m: m.group(0)[0] + "{tile}" + m.group(0)[-1], first)
            )
        names = ", ".join(file_name.format(tile=t) for t in absent)
        raise InvalidRasterError(
            f"tile(s) {', '.join(absent)} ({names}) are needed for region={region} but not among the files. "
            "Add them (LAADS DAAC has no tile over open ocean: pass missing='nan' there), or shrink the region."
        )
    h0, v0 = min(h for h, _ in need), min(v for _, v in need)
    width, height = (max(h for h, _ in need) - h0 + 1) * TILE_PX, (max(v for _, v in need) - v0 + 1) * TILE_PX
    grid = global_grid().slice((v0 * TILE_PX, v0 * TILE_PX + height, h0 * TILE_PX, h0 * TILE_PX + width))
    sources = []
    for h, v in need:
        if (h, v) not in tiles:
            continue
        scale, offset, fill = _tile_encoding(tiles[(h, v)], band, scale_factor, fill_value)
        nodata = f"<NODATA>{fill!r}</NODATA>" if fill is not None else ""
        sources.append(
            f'<ComplexSource><SourceFilename relativeToVRT="0">{escape(subdataset(tiles[(h, v)], band))}'
            f'</SourceFilename><SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{TILE_PX}" '
            f'ySize="{TILE_PX}"/><DstRect xOff="{(h - h0) * TILE_PX}" yOff="{(v - v0) * TILE_PX}" '
            f'xSize="{TILE_PX}" ySize="{TILE_PX}"/>{nodata}<ScaleOffset>{offset!r}</ScaleOffset>'
            f"<ScaleRatio>{scale!r}</ScaleRatio></ComplexSource>"
        )
    t = grid.transform
    xml = "\n".join(
        [
            f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
            f"  <SRS>{escape(grid.crs.to_wkt())}</SRS>",
            f"  <GeoTransform>{t.c!r}, {t.a!r}, 0.0, {t.f!r}, 0.0, {t.e!r}</GeoTransform>",
            '  <VRTRasterBand dataType="Float32" band="1">',
            f"    <NoDataValue>nan</NoDataValue><UnitType>{RADIANCE}</UnitType>",
            *(f"    {s}" for s in sources),
            "  </VRTRasterBand>",
            "</VRTDataset>",
            "",
        ]
    )
    out = Path(folder) if folder is not None else cache_dir() / "mosaics"
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", f"{Path(next(iter(tiles.values()))).name.split('.h')[0]}.{band}")
    dest = out / f"{stem}.{fingerprint({'vrt': xml})[:16]}.vrt"
    if not dest.is_file():  # same content, same name: an existing one is this VRT
        fd, tmp = tempfile.mkstemp(dir=out, suffix=".vrt.part")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(xml)
        os.replace(tmp, dest)  # atomic: a concurrent reader never sees half a VRT
    return dest


def open_tiles(
    paths: Iterable[str | os.PathLike],
    *,
    band: str = DEFAULT_BAND,
    region: Sequence[float] | None = None,
    chunks: int | tuple[int, int] | None = DEFAULT_CHUNK,
    missing: str = "error",
    scale_factor: float = SCALE_FACTOR,
    fill_value: float | None = FILL_VALUE,
    gdal_options: dict | None = None,
) -> xr.DataArray:
    """Black Marble tiles as one lazy ``(y, x)`` DataArray on the 15″ global grid, in nW/cm²/sr.

    Parameters
    ----------
    paths : iterable of path
        VNP46A3/A4 tile files of one date (``VNP46A4.A2016001.h30v05.001.2021….h5``).
    band : str
        Layer, default ``NearNadir_Composite_Snow_Free``.
    region : (west, south, east, north), optional
        Degrees (EPSG:4326): cut to every pixel the box overlaps; default all tiles.
    chunks : int, (int, int) or None
        Dask chunk edge in pixels (default 2400: one tile per chunk); None reads eagerly.
    missing, scale_factor, fill_value
        As in :func:`mosaic_vrt`.
    gdal_options : dict, optional
        GDAL configuration for the reads (:mod:`nightlight.io.remote`).

    Returns
    -------
    xarray.DataArray
        float32, stored × scale factor (+ offset), fill → NaN, CRS EPSG:4326, transform
        on the global 15″ grid, ``attrs["units"] = "nW/cm2/sr"``, ``attrs["tiles"]``.

    Raises
    ------
    InvalidRasterError
        A tile file missing, corrupt, not 2400 × 2400 or without ``band``; a tile the
        region needs not given (``missing="error"``). Each message names the file and the fix.
    ParameterError
        Two files for one tile, tiles of different dates, a bad region or tile name.
    """
    paths = list(paths)
    vrt = mosaic_vrt(paths, band=band, region=region, missing=missing, scale_factor=scale_factor, fill_value=fill_value)
    with rasterio.open(vrt) as src:
        whole = Grid(src.crs, src.transform, (src.height, src.width))
    # a read error names the VRT and its pixel block: say which tile file holds which block
    h0, v0 = round((whole.transform.c + 180.0) / TILE_DEG), round((90.0 - whole.transform.f) / TILE_DEG)
    placed = []
    for path in paths:
        h, v = parse_tile(str(path))
        r, c = (v - v0) * TILE_PX, (h - h0) * TILE_PX
        if 0 <= r < whole.shape[0] and 0 <= c < whole.shape[1]:
            placed.append(f"rows {r}–{r + TILE_PX}, cols {c}–{c + TILE_PX}: {path}")
    label = f"{vrt} (Black Marble {band}; {'; '.join(placed)})"
    # nodata=None: the VRT already wrote NaN for the fill value and for absent tiles
    source = BandSource(label, str(vrt), 1, "float32", None, RADIANCE, source_options(gdal_options))
    data = band_array(source, whole, (chunks, chunks) if isinstance(chunks, int) else chunks)
    grid = whole
    if region is not None:  # the rule of open_mosaic(region=…): every pixel the box overlaps
        window = whole.region_window(region, label=label)
        grid, data = whole.slice(window), data[window.slices]
    attrs = {
        "source": str(vrt),
        "units": RADIANCE,
        "units_from": "Black Marble",
        "band": band,
        "tiles": ", ".join(sorted(str(p) for p in paths)),
        "scale_factor": scale_factor,
        "nodata_used": None,
    }
    return grid.wrap(data, name=band, attrs=attrs).rio.write_nodata(np.nan, encoded=False)
