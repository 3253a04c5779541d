"""The job, end to end: io → preprocess → cities → change → outputs.

:func:`run_detect` is what ``nightlight detect`` and ``nightlight demo`` run (and what
a batch runner runs per pair). Each phase is a small named function, so a reader
sees the data flow in :func:`run_detect`'s body and a caller can stop after any
phase.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import xarray as xr

from nightlight._version import __version__
from nightlight.area import AreaMode
from nightlight.change.decline import detect_shrinking
from nightlight.change.rule import MIN_VALID_SHARE
from nightlight.checkpoint import CheckpointStore
from nightlight.cities.natural import extract_natural_cities
from nightlight.cities.threshold import Threshold
from nightlight.grid import Grid, snap_to_grid
from nightlight.io.align import align_to
from nightlight.io.raster import DEFAULT_CHUNK, open_mosaic
from nightlight.outputs.bundle import write_outputs
from nightlight.outputs.folder import OutputFolder
from nightlight.preprocess.steps import apply_steps, parse_steps


@dataclass(frozen=True)
class DetectParams:
    """Parameters of one before → after run (the CLI's options, with their defaults).

    Attributes
    ----------
    threshold_lit : float or "headtail"
        Lit level in the mosaic's units (DN or nW/cm²/sr), or Jiang's head/tail breaks.
    min_area_km2 : float
        Natural cities are larger than this true (ellipsoidal) area, km² (Jiang et al. 2020: 5).
    decline : float
        Relative decline of total light that counts as shrinking (0.10 = 10 %).
    connectivity : int
        4 or 8.
    chunks : int
        Dask chunk edge, pixels.
    align : str or None
        Resample AFTER onto BEFORE's grid with this GDAL method first (never implicit).
    preprocess : str or None
        Calibration steps in the CLI form (:func:`nightlight.preprocess.parse_steps`).
    min_valid_share, allow_blank, allow_common_shift, area, dark_floor, negative_radiance
        As in :func:`nightlight.detect_shrinking` (``area`` also for the natural cities).
    nodata, units, region
        As in :func:`nightlight.open_mosaic`, for both mosaics (``nodata="file"``: the declared value;
        ``region``: (west, south, east, north) in degrees, None = the whole mosaic).
    patterns : bool
        Classify the shrinkage pattern of shrinking cities (``detect_shrinking(shapes=)``): a pass
        over the windows of the shrinking cities in both years.
    """

    threshold_lit: Threshold = "headtail"
    min_area_km2: float = 5.0
    decline: float = 0.10
    connectivity: int = 8
    chunks: int = DEFAULT_CHUNK
    align: str | None = None
    preprocess: str | None = None
    min_valid_share: float = MIN_VALID_SHARE
    allow_blank: bool = False
    allow_common_shift: bool = False
    area: AreaMode = "exact"
    nodata: float | str | None = "file"
    units: str | None = None
    dark_floor: float | None = None
    negative_radiance: str = "keep"
    region: tuple[float, float, float, float] | None = None
    patterns: bool = True


def open_pair(before: str, after: str, params: DetectParams) -> tuple[xr.DataArray, xr.DataArray]:
    """Phase 1 (io): both mosaics, lazily."""

    return open_one(before, params), open_one(after, params)


def open_one(source: Any, params: DetectParams) -> xr.DataArray:
    """One mosaic (path, URL, catalog name or DataArray), lazily, as the run's parameters say."""
    return open_mosaic(source, chunks=params.chunks, nodata=params.nodata, units=params.units, region=params.region)


def preprocess_pair(b: xr.DataArray, a: xr.DataArray, steps: str | None) -> tuple[xr.DataArray, xr.DataArray, list]:
    """Phase 2 (preprocess): the same named steps on both years, recorded."""
    if not steps:
        return b, a, []
    parsed = parse_steps(steps)
    b, rec_b = apply_steps(b, parsed)
    a, rec_a = apply_steps(a, parsed)
    return b, a, [{"mosaic": "before", "steps": rec_b}, {"mosaic": "after", "steps": rec_a}]


def common_grid(b: xr.DataArray, a: xr.DataArray, before: str, after: str, align: str | None) -> xr.DataArray:
    """Phase 2b (io.align): AFTER on BEFORE's grid — resampled only when asked, else checked (and snapped
    when the origins differ by at most :data:`nightlight.grid.GRID_TOLERANCE_PX`)."""
    if align:
        a = align_to(a, b, resampling=align)
    a, _ = snap_to_grid(a, Grid.of(b, name=str(before)), names=(str(before), str(after)))
    return a


def run_detect(
    before: str,
    after: str,
    out: str | os.PathLike,
    *,
    params: DetectParams | None = None,
    **overrides: Any,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Path]]:
    """Natural cities of BEFORE, which of them shrank by AFTER, and the output folder.

    Parameters
    ----------
    before, after : str
        Paths or URLs of the two mosaics.
    out : path
        Output folder (``cities.parquet``, ``summary.csv``, ``map.png``, ``histogram.png``).
    params : DetectParams, optional
        Run parameters; keyword ``overrides`` (e.g. ``decline=0.2``) replace single fields.

    Returns
    -------
    (result, cities, paths)
        The per-city decline table, the natural cities of BEFORE, and the written files.
    """
    p = DetectParams(**{**asdict(params or DetectParams()), **overrides})
    run = {"command": "detect", "before": str(before), "after": str(after), "parameters": asdict(p)}
    # The folder is checked, locked and cleaned before anything is computed.
    with OutputFolder(out, run=run) as folder:
        b, a = open_pair(before, after, p)
        b, a, steps_record = preprocess_pair(b, a, p.preprocess)
        a = common_grid(b, a, before, after, p.align)
        cities = natural_cities(b, p)
        result = decline(cities, b, a, p)
        staged = write_outputs(result, folder.staging, metadata=run_metadata(run, cities, p, steps_record))
        published = folder.publish(manifest_extra(result))
    paths = {key: published[path.name] for key, path in staged.items()}
    return result, cities, paths


def natural_cities(
    base: xr.DataArray, p: DetectParams, *, checkpoints: CheckpointStore | None = None
) -> gpd.GeoDataFrame:
    """Phase 3 (cities): the natural cities of the base year (``checkpoints``: a batch job's resume store)."""
    return extract_natural_cities(
        base,
        threshold=p.threshold_lit,
        min_area_km2=p.min_area_km2,
        connectivity=p.connectivity,
        area=p.area,
        checkpoints=checkpoints,
    )


def decline(
    cities: gpd.GeoDataFrame,
    base: xr.DataArray,
    later: xr.DataArray,
    p: DetectParams,
    *,
    series: dict[int, xr.DataArray] | None = None,
    alpha: float = 0.05,
    patterns: bool | None = None,
    checkpoints: CheckpointStore | None = None,
) -> gpd.GeoDataFrame:
    """Phase 4 (change): which of the base year's cities shrank by ``later`` (and their trend over ``series``).

    ``patterns`` overrides ``p.patterns`` (a batch's trend run skips them: its pairs have them);
    ``checkpoints``: a batch job's resume store.
    """
    return detect_shrinking(
        cities[["city_id", "area_km2", "geometry"]],
        base,
        later,
        series=series,
        alpha=alpha,
        threshold=p.decline,
        id_column="city_id",
        min_valid_share=p.min_valid_share,
        allow_blank=p.allow_blank,
        allow_common_shift=p.allow_common_shift,
        area=p.area,
        dark_floor=p.dark_floor,
        negative_radiance=p.negative_radiance,
        shapes=p.patterns if patterns is None else patterns,
        checkpoints=checkpoints,
    )


def run_metadata(run: dict, cities: gpd.GeoDataFrame, p: DetectParams, steps_record: list) -> dict:
    """Phase 5 (outputs): what the GeoParquet's ``nightlight`` metadata records of the run."""
    return {
        **run,
        "natural_cities": cities.attrs.get("nightlight", {}),
        "decline_threshold": p.decline,
        "align": p.align,
        "preprocess": steps_record,
        "nightlight_version": __version__,
    }


def manifest_extra(result: gpd.GeoDataFrame) -> dict:
    """The whole-mosaic figures of a decline run that the output manifest repeats."""
    meta = result.attrs.get("nightlight", {})
    return {key: meta.get(key) for key in ("mosaic_totals", "mosaic_change", "status_counts", "warnings")}
