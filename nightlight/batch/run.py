"""A batch job: the base year's natural cities, their decline to every compared year, their trend.

The job runs the phases of :mod:`nightlight.pipeline` — the ones ``nightlight detect``
runs — over the years of a :class:`~nightlight.batch.config.BatchConfig`:

1. ``open``: every year through the one input boundary
   (:func:`nightlight.preprocess.inputs.prepare_inputs`): lazily, preprocessed, on the
   base year's grid — snapped within :data:`nightlight.grid.GRID_TOLERANCE_PX`, else
   resampled with the configured ``align`` method and written once into the checkpoint
   folder;
2. ``cities``: :func:`nightlight.pipeline.natural_cities` of the base year;
3. ``decline <base>→<year>``: :func:`nightlight.pipeline.decline` per compared year —
   each pair's table equals ``nightlight detect BASE YEAR`` with the same parameters;
4. ``trend``: the same with the trend years as ``series`` (Theil–Sen, Mann–Kendall, FDR);
5. ``report``: one table of every city with each year's change and the trend,
   a summary per year, every pair's own bundle, the configuration, input checksums
   and versions — published as one set (:class:`nightlight.outputs.folder.OutputFolder`).

The map passes of phases 2–4 get one :class:`nightlight.checkpoint.CheckpointStore` in
``<out>/.checkpoints``, passed explicitly (``checkpoints=``) and keyed by the config hash,
which holds every input's SHA-256: a rerun of the same configuration on the same input
bytes loads the finished blocks; checkpoints of other inputs are never used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import xarray as xr

from nightlight.batch.config import BatchConfig
from nightlight.batch.runlog import RunLog
from nightlight.batch.state import CHECKPOINTS, STATE_NAME, claim, config_hash, input_checksums, versions, write_state
from nightlight.checkpoint import CheckpointStore
from nightlight.outputs.bundle import write_outputs
from nightlight.outputs.folder import OutputFolder
from nightlight.outputs.write import write_csv, write_geopackage, write_geoparquet
from nightlight.pipeline import decline, manifest_extra, natural_cities, run_metadata
from nightlight.preprocess.inputs import Inputs, prepare_inputs

RUN_LOG = "run.jsonl"
#: Per-pair columns of the merged table (suffixed ``_<year>``).
PAIR_COLUMNS = ("light_after", "change", "status", "shrinking", "shrink_pattern")
TREND_COLUMNS = ("trend_slope", "mk_p", "mk_q", "significant_decline", "significant_decline_fdr")
#: The trend run's own decline test (base → last compare year, or the means over ``base_years``
#: → ``compare_years``) against each city's year-to-year scatter: :mod:`nightlight.change.significance`.
#: Trend-table column → merged-table column.
SERIES_COLUMNS = {
    "change": "series_change",
    "shrinking": "series_shrinking",
    **{c: c for c in ("year_scatter", "change_p", "change_q", "shrinking_significant")},
}


@dataclass
class BatchResult:
    """What a batch job returns: the merged table, each pair's table, the trend table, the files."""

    cities: gpd.GeoDataFrame
    pairs: dict[int, gpd.GeoDataFrame]
    trend: gpd.GeoDataFrame | None
    files: dict[str, Path]
    config_hash: str
    stages: list[dict] = field(default_factory=list)
    blocks: dict[str, int] = field(default_factory=dict)


def run_batch(
    config: BatchConfig,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    client: Any = None,
    sources: dict[int, xr.DataArray] | None = None,
    console: Any = None,
    formats: Sequence[str] = ("parquet",),
) -> BatchResult:
    """Run a batch configuration into ``out`` (default: the configuration's folder), resumably.

    Parameters
    ----------
    config : BatchConfig
        From :func:`nightlight.batch.config.load_config`.
    out : path, optional
        Output folder; overrides ``[outputs] folder``.
    overwrite : bool
        Replace a folder that holds another configuration's run (its checkpoints are deleted).
    client : distributed.Client, optional
        Recorded in the log (memory per worker); the computing goes to the active dask scheduler.
    sources : dict {year: DataArray}, optional
        Mosaics given directly (e.g. lazy synthetic ones) instead of the configuration's sources.
    formats : sequence of {"parquet", "gpkg"}
        Table formats of each pair's ``cities.*`` and of the merged table.

    Returns
    -------
    BatchResult
    """
    folder_path = Path(out if out is not None else (config.out or "nightlight-batch"))
    checksums = input_checksums(config, sources)
    digest = config_hash(config, checksums)
    run = {"command": "batch", "config": str(config.path), "config_hash": digest, **config.record()}
    with OutputFolder(folder_path, run=run, overwrite=overwrite, markers=(STATE_NAME, CHECKPOINTS, RUN_LOG)) as folder:
        previous = claim(folder_path, digest, overwrite=overwrite)
        write_state(folder_path, {"config_hash": digest, "status": "running", "run_id": folder.run_id})
        n_stages = 3 + len(config.compare) + bool(config.trend_years)
        log = RunLog(folder_path / RUN_LOG, run_id=folder.run_id, n_stages=n_stages, client=client, console=console)
        resumed = previous is not None and previous.get("config_hash") == digest
        log.event("start", config_hash=digest, resumed=resumed, client=str(client) if client else None)
        try:
            store = CheckpointStore(folder_path / CHECKPOINTS, key=digest)
            with log:
                result = _phases(config, folder, store, log, sources or {}, formats)
        except BaseException as exc:
            log.event("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        result.config_hash = digest
        _write_records(folder.staging, config, checksums)
        extra = manifest_extra(result.pairs[config.compare[-1]], years=config.years)
        published = folder.publish({"config_hash": digest, **extra})
        result.files = published
        result.stages = log.stages
        result.blocks = store.counts()
        write_state(folder_path, {"config_hash": digest, "status": "finished", "run_id": folder.run_id})
        log.event("finish", blocks=result.blocks, files=len(published))
    return result


def _phases(
    config: BatchConfig,
    folder: OutputFolder,
    store: CheckpointStore,
    log: RunLog,
    sources: dict,
    formats: Sequence[str],
) -> BatchResult:
    p = config.params
    base_y = config.base
    with log.stage("open", store):
        inputs = open_years(config, sources, folder.path / CHECKPOINTS / "aligned")
    mosaics = dict(zip(inputs.keys, inputs.mosaics))
    base = mosaics[base_y]
    with log.stage("cities", store) as extra:
        cities = natural_cities(base, p, checkpoints=store)
        extra["cities"] = len(cities)
    pairs: dict[int, gpd.GeoDataFrame] = {}
    for y in config.compare:
        with log.stage(f"decline {base_y}->{y}", store) as extra:
            res = decline(cities, base, mosaics[y], p, checkpoints=store)
            pairs[y] = res
            extra["shrinking"] = int(res["shrinking"].sum())
            run = {
                "command": "batch",
                "before": config.inputs[base_y],
                "after": config.inputs[y],
                "parameters": asdict(p),
            }
            meta = run_metadata(run, cities, p, inputs)
            write_outputs(res, folder.staging / f"decline_{base_y}_{y}", metadata=meta, formats=formats)
    trend = None
    if config.trend_years:
        with log.stage("trend", store) as extra:
            series = {y: mosaics[y] for y in config.trend_years}
            # the shrinkage patterns of base → last year are in that pair's table already
            trend = decline(
                cities,
                base,
                mosaics[config.compare[-1]],
                p,
                series=series,
                alpha=config.alpha,
                patterns=False,
                checkpoints=store,
            )
            extra["significant_decline_fdr"] = int(trend["significant_decline_fdr"].sum())
            write_geoparquet(
                trend, folder.staging / "trend" / "cities.parquet", metadata=trend.attrs.get("nightlight", {})
            )
    with log.stage("report", store):
        merged = merge_tables(cities, pairs, trend)
        write_geoparquet(merged, folder.staging / "cities.parquet", metadata={"batch": config.record()})
        if "gpkg" in formats:
            write_geopackage(merged, folder.staging / "cities.gpkg")
        write_csv(summary(config, pairs, trend), folder.staging / "summary.csv")
    return BatchResult(cities=merged, pairs=pairs, trend=trend, files={}, config_hash="")


def open_years(config: BatchConfig, sources: dict, aligned_dir: Path) -> Inputs:
    """Every year of the run through the input boundary, keyed by year, base first."""
    years = {y: sources.get(y, config.inputs[y]) for y in config.years}
    return prepare_inputs(years, **config.params.options("inputs", "run"), aligned_dir=aligned_dir)


def merge_tables(
    cities: gpd.GeoDataFrame, pairs: dict[int, gpd.GeoDataFrame], trend: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """One row per natural city: its extent, base-year light, each compared year's change, the trend."""
    first = next(iter(pairs.values()))
    table = cities[["city_id", "area_km2", "n_pixels", "centroid_x", "centroid_y"]].copy()
    table["light_base"] = first["light_before"].to_numpy()
    for y, res in pairs.items():
        for col in PAIR_COLUMNS:
            name = f"light_{y}" if col == "light_after" else f"{col}_{y}"
            table[name] = res[col].to_numpy()
    if trend is not None:
        for col in TREND_COLUMNS:
            table[col] = trend[col].to_numpy()
        for col, name in SERIES_COLUMNS.items():
            table[name] = trend[col].to_numpy()
    return gpd.GeoDataFrame(table, geometry=cities.geometry.to_numpy(), crs=cities.crs)


def summary(config: BatchConfig, pairs: dict[int, gpd.GeoDataFrame], trend: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Per compared year: cities, classified, shrinking and their share, whole-mosaic change."""
    rows = []
    for y, res in pairs.items():
        ok = int((res["status"] == "ok").sum())
        n = int(res["shrinking"].sum())
        rows.append(
            {
                "base": config.base,
                "year": y,
                "cities": len(res),
                "classified": ok,
                "shrinking": n,
                "shrinking_share": n / ok if ok else float("nan"),
                "mosaic_change": res.attrs.get("nightlight", {}).get("mosaic_change"),
                "significant_decline_fdr": int(trend["significant_decline_fdr"].sum()) if trend is not None else None,
                "series_shrinking": int(trend["shrinking"].sum()) if trend is not None else None,
                "shrinking_significant": int(trend["shrinking_significant"].sum()) if trend is not None else None,
            }
        )
    return pd.DataFrame(rows)


def _write_records(staging: Path, config: BatchConfig, checksums: dict) -> None:
    """The configuration as given, the inputs' checksums and the package versions, beside the outputs."""
    (staging / "config.toml").write_text(config.text)
    (staging / "inputs.json").write_text(json.dumps(checksums, indent=2))
    (staging / "versions.json").write_text(json.dumps(versions(), indent=2))
