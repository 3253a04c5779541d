"""Stage 5, out: tables, figures and summaries of a run, written atomically.

- :mod:`.write` — GeoParquet (with run metadata), GeoPackage, CSV, atomically;
- :mod:`.bundle` — the output folder of one run;
- :mod:`.figures` — map and histogram PNGs (the change colour scale);
- :mod:`.webmap` — ``map.html``, the interactive map that opens offline;
- :mod:`.glossary` — what every output column and status means;
- :mod:`.summary` — per-city summary (with lon/lat) and totals by region.
"""

from nightlight.outputs.bundle import FORMATS, write_outputs
from nightlight.outputs.figures import figure, plot_histogram, plot_map
from nightlight.outputs.glossary import COLUMNS, STATUSES
from nightlight.outputs.summary import SUMMARY_COLUMNS, summarize, summary_table
from nightlight.outputs.webmap import write_webmap
from nightlight.outputs.write import (
    METADATA_KEY,
    json_default,
    read_column_descriptions,
    read_metadata,
    read_result,
    write_csv,
    write_geopackage,
    write_geoparquet,
)

__all__ = [
    "COLUMNS",
    "FORMATS",
    "METADATA_KEY",
    "STATUSES",
    "SUMMARY_COLUMNS",
    "figure",
    "json_default",
    "plot_histogram",
    "plot_map",
    "read_column_descriptions",
    "read_metadata",
    "read_result",
    "summarize",
    "summary_table",
    "write_csv",
    "write_geopackage",
    "write_geoparquet",
    "write_outputs",
    "write_webmap",
]
