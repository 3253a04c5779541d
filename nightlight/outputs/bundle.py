"""The output bundle of one run: tables, summary, maps and histogram in one folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd

from nightlight.errors import ParameterError
from nightlight.outputs.figures import plot_histogram, plot_map
from nightlight.outputs.summary import summary_table
from nightlight.outputs.webmap import write_webmap
from nightlight.outputs.write import write_csv, write_geopackage, write_geoparquet

#: Table formats of ``cities.*``: GeoParquet (always), GeoPackage (for QGIS and other GIS).
FORMATS = ("parquet", "gpkg")


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` as a tuple that always holds ``parquet``; an unknown one is a :class:`ParameterError`."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ParameterError(f"formats={unknown}: known table formats are {', '.join(FORMATS)} (e.g. 'parquet,gpkg').")
    return ("parquet", *(f for f in dict.fromkeys(formats) if f != "parquet"))


def write_outputs(
    result: gpd.GeoDataFrame,
    out_dir: str | os.PathLike,
    *,
    metadata: dict,
    formats: Sequence[str] = ("parquet",),
    outlines: Any = None,
) -> dict[str, Path]:
    """Write ``cities.parquet`` (+ ``cities.gpkg``), ``summary.csv``, ``map.html``, ``map.png``, ``histogram.png``.

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking`.
    out_dir : path
        Created if missing.
    metadata : dict
        Stored as JSON in the GeoParquet key-value metadata under key ``nightlight``
        (merged over ``result.attrs["nightlight"]``); also what the maps read (threshold, grid).
    formats : sequence of {"parquet", "gpkg"}
        Table formats; GeoParquet is always written (it holds the run metadata).
    outlines : GeoDataFrame or vector file, optional
        Country/region polygons drawn as outlines on both maps.

    Returns
    -------
    dict
        ``{"cities": …, ["gpkg": …,] "summary": …, "webmap": …, "map": …, "histogram": …}`` paths.
    """
    formats = check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {**result.attrs.get("nightlight", {}), **(metadata or {})}
    shown = result.copy()
    shown.attrs["nightlight"] = meta
    paths = {"cities": write_geoparquet(result, out / "cities.parquet", metadata=meta)}
    if "gpkg" in formats:
        paths["gpkg"] = write_geopackage(result, out / "cities.gpkg")
    paths["summary"] = write_csv(summary_table(result), out / "summary.csv")
    paths["webmap"] = write_webmap(shown, out / "map.html", outlines=outlines)
    paths["map"] = plot_map(shown, out / "map.png", outlines=outlines)
    paths["histogram"] = plot_histogram(shown, out / "histogram.png")
    return paths
