"""The job, end to end: io → preprocess → cities → change → outputs.

:func:`run_detect` is what ``nightlight detect`` and ``nightlight demo`` run; ``nightlight
batch`` runs the same phases over many years. Each phase is a small named function, so
a reader sees the data flow in :func:`run_detect`'s body: the inputs through the one
boundary (:func:`~nightlight.preprocess.inputs.prepare_inputs`), the base year's
natural cities, their decline, the output set. Parameters: :class:`nightlight.params.Params`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from nightlight._version import __version__
from nightlight.change.decline import detect_shrinking
from nightlight.checkpoint import CheckpointStore
from nightlight.cities.natural import extract_natural_cities
from nightlight.errors import ParameterError
from nightlight.grid import Grid
from nightlight.outputs.bundle import write_outputs
from nightlight.outputs.folder import OutputFolder
from nightlight.params import Params
from nightlight.preprocess.inputs import Inputs, prepare_inputs
from nightlight.progress import stage


def run_detect(
    before: str,
    after: str,
    out: str | os.PathLike,
    *,
    params: Params | None = None,
    overwrite: bool = False,
    formats: Sequence[str] = ("parquet",),
    **overrides: Any,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Path]]:
    """Natural cities of BEFORE, which of them shrank by AFTER, and the output folder.

    Parameters
    ----------
    before, after : str
        Paths, URLs or catalog names of the two mosaics (opened by
        :func:`nightlight.preprocess.inputs.prepare_inputs`).
    out : path
        Output folder (``cities.parquet``, ``summary.csv``, ``map.html``, ``map.png``, ``histogram.png``).
    params : Params, optional
        Run parameters; keyword ``overrides`` (e.g. ``min_decline=0.2``) replace single fields.
    overwrite : bool
        Write into a non-empty folder that is not a nightlight output folder (see
        :class:`~nightlight.outputs.folder.OutputFolder`).
    formats : sequence of {"parquet", "gpkg"}
        Table formats of ``cities.*`` (:func:`nightlight.outputs.write_outputs`).

    Returns
    -------
    (result, cities, paths)
        The per-city decline table, the natural cities of BEFORE, and the written files.
    """
    p = (params or Params()).replace(**overrides)
    if p.base_years or p.compare_years:
        raise ParameterError(
            f"base_years={p.base_years}, compare_years={p.compare_years}: multi-year means need a yearly series; "
            "`nightlight detect` compares two files. Run `nightlight batch` with [decline] base_years/compare_years "
            "and a [trend] years series that holds them."
        )
    run = {"command": "detect", "before": str(before), "after": str(after), "parameters": asdict(p)}
    # The folder is checked, locked and cleaned before anything is computed.
    with OutputFolder(out, run=run, overwrite=overwrite) as folder:
        with stage("inputs"):
            inputs = prepare_inputs({"before": before, "after": after}, **p.options("inputs", "run"))
        b, a = inputs.mosaics
        with stage("natural cities"):
            cities = natural_cities(b, p)
        with stage("decline"):
            result = decline(cities, b, a, p)
        with stage("outputs"):
            meta = run_metadata(run, cities, p, inputs)
            staged = write_outputs(result, folder.staging, metadata=meta, formats=formats)
            published = folder.publish(manifest_extra(result))
    paths = {key: published[path.name] for key, path in staged.items()}
    return result, cities, paths


def natural_cities(base: xr.DataArray, p: Params, *, checkpoints: CheckpointStore | None = None) -> gpd.GeoDataFrame:
    """Phase 3 (cities): the natural cities of the base year (``checkpoints``: a batch job's resume store)."""
    return extract_natural_cities(base, **p.options("cities"), checkpoints=checkpoints)


def decline(
    cities: gpd.GeoDataFrame,
    base: xr.DataArray,
    later: xr.DataArray,
    p: Params,
    *,
    series: dict[int, xr.DataArray] | None = None,
    alpha: float = 0.05,
    patterns: bool | None = None,
    checkpoints: CheckpointStore | None = None,
) -> gpd.GeoDataFrame:
    """Phase 4 (change): which of the base year's cities shrank by ``later`` (and their trend over ``series``).

    ``patterns`` overrides ``p.patterns`` (a batch's trend run skips them: its pairs have them).
    With a series, ``p.base_years``/``p.compare_years`` (when set) replace ``base``/``later``
    by the means over those years.
    ``checkpoints``: a batch job's resume store.
    """
    periods = series is not None and (p.base_years is not None or p.compare_years is not None)
    options = p.options("decline") | {"area": p.area}
    if not periods:
        options.update(base_years=None, compare_years=None)
    if patterns is not None:
        options["patterns"] = patterns
    return detect_shrinking(
        cities[["city_id", "area_km2", "geometry"]],
        None if periods else base,
        None if periods else later,
        series=series,
        alpha=alpha,
        id_column="city_id",
        checkpoints=checkpoints,
        **options,
    )


def run_metadata(run: dict, cities: gpd.GeoDataFrame, p: Params, inputs: Inputs) -> dict:
    """Phase 5 (outputs): what the GeoParquet's ``nightlight`` metadata records of the run."""
    return {
        **run,
        "inputs": inputs.record(),
        "natural_cities": cities.attrs.get("nightlight", {}),
        "min_decline": p.min_decline,
        "align": p.align,
        "preprocess": [{"mosaic": n, "steps": r} for n, r in zip(inputs.names, inputs.records) if r is not None],
        "nightlight_version": __version__,
    }


def manifest_extra(result: gpd.GeoDataFrame, years: list[int] | None = None) -> dict:
    """What the output manifest repeats of a decline run: whole-mosaic figures, footprint, data period.

    ``footprint``: the mosaics' lon/lat bounding box; ``period``: the first and last year
    of the data (``years``, else the years the sources name, else None).
    """
    meta = result.attrs.get("nightlight", {})
    extra = {key: meta.get(key) for key in ("mosaic_totals", "mosaic_change", "status_counts", "warnings")}
    grid = meta.get("grid")
    if grid:
        box = Grid(CRS.from_user_input(grid["crs"]), Affine(*grid["transform"][:6]), tuple(grid["shape"][-2:]))
        extra["footprint"] = [round(v, 6) for v in box.lonlat_bounds()]
    named = years or [y for y in (year_of(meta.get("before")), year_of(meta.get("after"))) if y is not None]
    extra["period"] = [min(named), max(named)] if named else None
    return extra


def year_of(source: Any) -> int | None:
    """The year a source names: a catalog key (``NAME:2016``) or one year in a file name (``VNL_2016.tif``)."""
    import re

    if not source:
        return None
    text = str(source)
    keyed = re.fullmatch(r"[A-Za-z][\w.\-]*:(\d{4})(?::.*)?", text)
    found = [keyed.group(1)] if keyed else re.findall(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)", Path(text).name)
    return int(found[0]) if len(set(found)) == 1 else None
