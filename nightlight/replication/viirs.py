"""The China VIIRS-like 8-bit years (Chen, Yu et al. 2021, ESSD 13:889): opened as data, put on one grid.

Two traps of these files are handled here, explicitly:

* **0 is declared nodata but means dark** (the value is ⌊0.5 × radiance⌋, so every
  cell under ~2 nW/cm²/sr reads 0): every year is opened with ``nodata=None``, so a
  pixel that went dark counts as 0 light instead of being dropped from both years;
* **the grids differ by sub-pixel offsets**: 2013 sits 0.017 px east of 2014–2021
  (within :data:`nightlight.grid.GRID_TOLERANCE_PX`: snapped, i.e. re-labelled, and
  recorded), 2012 and 2022 ~0.22 px north (beyond it: resampled onto the 2013 grid
  with ``align_to(..., resampling="average")``, overlap-weighted, totals kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import xarray as xr

from nightlight.cities.threshold import headtail_breaks
from nightlight.errors import InvalidRasterError
from nightlight.grid import GRID_TOLERANCE_PX, Grid, snap_to_grid
from nightlight.io.align import align_to, materialise
from nightlight.io.raster import open_mosaic
from nightlight.replication.data import Box, crop, lonlat_window, resolve_window
from nightlight.replication.params import VIIRS_FILE, VIIRS_SCALE, VIIRS_YEARS
from nightlight.units import RADIANCE

_GEOD = pyproj.Geod(ellps="WGS84")


def viirs_path(data_dir: str | Path, year: int) -> Path:
    """Path of one 8-bit year; :class:`InvalidRasterError` for an unknown or missing year."""
    if year not in VIIRS_YEARS:
        raise InvalidRasterError(
            f"year={year}: the China VIIRS-like 8-bit files cover {VIIRS_YEARS[0]}–{VIIRS_YEARS[-1]}."
        )
    path = Path(data_dir) / VIIRS_FILE.format(year=year)
    if not path.exists():
        raise InvalidRasterError(
            f"{path}: missing. Pass data_dir= pointing at the shared data folder (default ../shared/data)."
        )
    return path


def open_viirs_year(data_dir: str | Path, year: int) -> xr.DataArray:
    """One year, lazily: 8-bit values as float32, **0 kept as 0** (``nodata=None``), radiance-family units.

    The values are half the product's radiance-like value (:data:`VIIRS_SCALE`), floored;
    the units family (``nW/cm2/sr``) sets the plausibility check of every chunk.
    """
    da = open_mosaic(str(viirs_path(data_dir, year)), nodata=None, units=RADIANCE)
    da.attrs["value_scale"] = VIIRS_SCALE
    return da


def _offset_record(base: Grid, other: Grid) -> dict[str, float]:
    """Origin offset of ``other`` from ``base`` in pixels and in metres on the ground (at the grid's centre)."""
    off = base.offset_to(other)
    left, bottom, right, top = base.bounds
    lon, lat = (left + right) / 2, (bottom + top) / 2
    dx_m = _GEOD.inv(lon, lat, lon + off.dx, lat)[2] * np.sign(off.dx)
    dy_m = _GEOD.inv(lon, lat, lon, lat + off.dy)[2] * np.sign(off.dy)
    return {"dx_px": off.dx_px, "dy_px": off.dy_px, "dx_m": float(dx_m), "dy_m": float(dy_m)}


def viirs_years(
    data_dir: str | Path,
    years: tuple[int, ...] | list[int],
    *,
    base_year: int = 2013,
    window: Box | str | None = None,
    resampling: str = "average",
    cache_dir: str | Path | None = None,
) -> tuple[dict[int, xr.DataArray], dict[str, Any]]:
    """Every year on the base year's grid (cropped to ``window``), and how each got there.

    Per year: the same grid → as it is; origins within :data:`GRID_TOLERANCE_PX` →
    cropped by the same pixel window and snapped (:func:`nightlight.grid.snap_to_grid`,
    no resampling); farther → :func:`nightlight.align_to` onto the (cropped) base grid
    with ``resampling``.

    Returns
    -------
    (mosaics, record)
        ``record["grids"][year]`` holds the offset (px and m, origin of the year minus
        origin of the base) and the handling (``same``/``snapped``/``aligned``);
        ``record["window_px"]`` the crop (row0, row1, col0, col1) on the base grid.
    """
    base = open_viirs_year(data_dir, base_year)
    gb = Grid.of(base)
    box = resolve_window(window)
    win = lonlat_window(base, box) if box is not None else None
    base_c = crop(base, win)
    gbc = Grid.of(base_c)
    out: dict[int, xr.DataArray] = {}
    grids: dict[str, dict[str, Any]] = {}
    for y in years:
        if y == base_year:
            out[y] = base_c
            grids[str(y)] = {"dx_px": 0.0, "dy_px": 0.0, "dx_m": 0.0, "dy_m": 0.0, "handling": "base"}
            continue
        da = open_viirs_year(data_dir, y)
        g = Grid.of(da)
        rec: dict[str, Any] = _offset_record(gb, g)
        if g.same_as(gb):
            out[y], rec["handling"] = crop(da, win), "same"
        elif max(abs(rec["dx_px"]), abs(rec["dy_px"])) <= GRID_TOLERANCE_PX and g.shape == gb.shape:
            snapped, _ = snap_to_grid(crop(da, win), gbc, names=(f"VIIRS-like {base_year}", f"VIIRS-like {y}"))
            out[y], rec["handling"] = snapped, "snapped"
        else:
            aligned = align_to(da, base_c, resampling=resampling)
            aligned.attrs["value_scale"] = VIIRS_SCALE
            if cache_dir is not None:
                aligned = materialise(
                    aligned, Path(cache_dir) / f"{y}_on_{base_year}_{resampling}.tif", dtype="float32"
                )
            out[y], rec["handling"] = aligned, f"aligned ({resampling})"
        grids[str(y)] = rec
    record = {
        "base_year": base_year,
        "window": box,
        "window_px": None
        if win is None
        else [int(win.row_off), int(win.row_off + win.height), int(win.col_off), int(win.col_off + win.width)],
        "shape": list(gbc.shape),
        "pixel_deg": float(gb.res[0]),
        "tolerance_px": GRID_TOLERANCE_PX,
        "grids": grids,
        "declared_nodata": base.attrs.get("source_nodata"),
        "nodata_used": base.attrs.get("nodata_used"),
    }
    return out, record


def first_headtail_break(da: xr.DataArray) -> float:
    """Jiang's head/tail breaks, first level: the mean of the non-zero values (one pass)."""
    breaks = headtail_breaks(da, max_levels=1)
    if not breaks:
        raise InvalidRasterError(f"{da.attrs.get('source', da.name)}: fewer than 2 lit pixels; no head/tail break.")
    return float(breaks[0])
