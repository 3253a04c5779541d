"""Stage 5, out: tables, figures and summaries of a run, written atomically.

- :mod:`.write` — GeoParquet (with run metadata), GeoPackage, CSV, atomically;
- :mod:`.bundle` — the output folder of one run;
- :mod:`.figures` — map and histogram PNGs;
- :mod:`.summary` — per-city summary and totals by region.
"""

from nightlight.outputs.bundle import write_outputs
from nightlight.outputs.figures import figure, plot_histogram, plot_map
from nightlight.outputs.summary import SUMMARY_COLUMNS, summarize, summary_table
from nightlight.outputs.write import (
    METADATA_KEY,
    json_default,
    read_metadata,
    write_csv,
    write_geopackage,
    write_geoparquet,
)

__all__ = [
    "METADATA_KEY",
    "SUMMARY_COLUMNS",
    "figure",
    "json_default",
    "plot_histogram",
    "plot_map",
    "read_metadata",
    "summarize",
    "summary_table",
    "write_csv",
    "write_geopackage",
    "write_geoparquet",
    "write_outputs",
]
