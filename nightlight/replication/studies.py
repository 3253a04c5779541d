"""The study configurations in ``catalog/studies/``, run by the batch engine.

A study is a batch configuration (:mod:`nightlight.batch.config`) whose inputs are
catalog names; ``nightlight replicate`` runs it with :func:`run_study` (optionally
cropped to a window or with a parameter changed, e.g. the calibrated lit level) and
the report builder reads what the batch run wrote and returned.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyproj

from nightlight._resources import catalog_path
from nightlight.batch.config import BatchConfig, load_config
from nightlight.batch.run import BatchResult, run_batch
from nightlight.errors import ParameterError
from nightlight.grid import GRID_TOLERANCE_PX, Grid
from nightlight.io.raster import open_mosaic
from nightlight.params import Params

_GEOD = pyproj.Geod(ellps="WGS84")


def load_study(name: str) -> BatchConfig:
    """The study configuration ``catalog/studies/<name>.toml``, validated."""
    path = Path(str(catalog_path("studies", f"{name}.toml")))
    # the folder also holds the study's published figures (jiang2020.toml): a study has [inputs]
    known = sorted(p.stem for p in path.parent.glob("*.toml") if "\n[inputs]" in "\n" + p.read_text(encoding="utf-8"))
    if name not in known:
        raise ParameterError(f"{path}: no such study configuration; the catalog has {', '.join(known)}.")
    return load_config(path)


def variant(config: BatchConfig, *, trend: bool = True, **params: Any) -> BatchConfig:
    """``config`` with some :class:`~nightlight.params.Params` fields replaced (and no trend)."""
    new = config.params.replace(**params) if params else config.params
    return dataclasses.replace(config, params=new, trend_years=config.trend_years if trend else ())


def open_year(source: Any, p: Params) -> Any:
    """One year of a study, opened as the batch opens it (before any grid handling)."""
    return open_mosaic(source, chunks=p.chunks, nodata=p.nodata, units=p.units, band=p.band, region=p.region)


def run_study(config: BatchConfig, work: Path, name: str) -> tuple[BatchResult, dict[str, float]]:
    """Run ``config`` into ``work/name`` (resumable: a rerun loads its checkpoints); its stages' seconds."""
    t0 = time.perf_counter()
    result = run_batch(config, work / name, overwrite=True)
    seconds = {r["stage"]: float(r["seconds"]) for r in result.stages}
    seconds["total"] = round(time.perf_counter() - t0, 2)
    return result, seconds


def grid_record(config: BatchConfig, box: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """How every year of the study sits on the base year's grid (headers only), and the window's pixels.

    Per year the origin offset (px, and m on the ground at the grid's centre) and the
    handling the batch engine applies: the base, the same grid, snapped (within
    :data:`~nightlight.grid.GRID_TOLERANCE_PX`) or resampled with the configured ``align``.
    """
    whole = config.params.replace(region=None)
    base = open_year(config.inputs[config.base], whole)
    gb = Grid.of(base)
    left, bottom, right, top = gb.bounds
    lon, lat = (left + right) / 2, (bottom + top) / 2
    grids: dict[str, dict[str, Any]] = {}
    for y in config.years:
        g = gb if y == config.base else Grid.of(open_year(config.inputs[y], whole))
        off = gb.offset_to(g)
        rec: dict[str, Any] = {
            "dx_px": off.dx_px,
            "dy_px": off.dy_px,
            "dx_m": float(_GEOD.inv(lon, lat, lon + off.dx, lat)[2] * np.sign(off.dx)),
            "dy_m": float(_GEOD.inv(lon, lat, lon, lat + off.dy)[2] * np.sign(off.dy)),
        }
        snapped = max(abs(off.dx_px), abs(off.dy_px)) <= GRID_TOLERANCE_PX and g.shape == gb.shape
        handling = "snapped" if snapped else f"aligned ({config.params.align})"
        rec["handling"] = "base" if y == config.base else "same" if g.same_as(gb) else handling
        grids[str(y)] = rec
    win = gb.window(box, crs="EPSG:4326").to_rasterio() if box is not None else None
    shape = gb.shape if win is None else (int(win.height), int(win.width))
    return {
        "base_year": config.base,
        "window": box,
        "window_px": None
        if win is None
        else [int(win.row_off), int(win.row_off + win.height), int(win.col_off), int(win.col_off + win.width)],
        "shape": list(shape),
        "pixel_deg": float(gb.res[0]),
        "tolerance_px": GRID_TOLERANCE_PX,
        "grids": grids,
        "declared_nodata": base.attrs.get("source_nodata"),
        "nodata_used": base.attrs.get("nodata_used"),
    }
