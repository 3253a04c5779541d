"""The output bundle of one run: table, summary, map and histogram in one folder."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd

from nightlight.outputs.figures import plot_histogram, plot_map
from nightlight.outputs.summary import summary_table
from nightlight.outputs.write import write_csv, write_geoparquet


def write_outputs(result: gpd.GeoDataFrame, out_dir: str | os.PathLike, *, metadata: dict) -> dict[str, Path]:
    """Write ``cities.parquet`` (GeoParquet + metadata), ``summary.csv``, ``map.png``, ``histogram.png``.

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking`.
    out_dir : path
        Created if missing.
    metadata : dict
        Stored as JSON in the GeoParquet key-value metadata under key ``nightlight``
        (merged over ``result.attrs["nightlight"]``).

    Returns
    -------
    dict
        ``{"cities": …, "summary": …, "map": …, "histogram": …}`` paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {**result.attrs.get("nightlight", {}), **(metadata or {})}
    return {
        "cities": write_geoparquet(result, out / "cities.parquet", metadata=meta),
        "summary": write_csv(summary_table(result), out / "summary.csv"),
        "map": plot_map(result, out / "map.png"),
        "histogram": plot_histogram(result, out / "histogram.png"),
    }
