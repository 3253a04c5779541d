"""Stage 5, out: tables, figures and summaries of a run, written atomically.

- :mod:`.write` — GeoParquet (with run metadata), GeoPackage, CSV, atomically;
- :mod:`.bundle` — the output folder of one run;
- :mod:`.figures` — map and histogram PNGs (the change colour scale);
- :mod:`.webmap` — ``map.html``, the interactive map that opens offline;
- :mod:`.glossary` — what every output column and status means;
- :mod:`.summary` — per-city summary (with lon/lat) and totals by region.
"""

# the names the documentation and the tests use from the package (the rest: from their modules)
from nightlight.outputs.bundle import write_outputs
from nightlight.outputs.summary import summarize, summary_table
from nightlight.outputs.write import (
    read_column_descriptions,
    read_metadata,
    write_csv,
    write_geopackage,
    write_geoparquet,
)

__all__ = [
    "read_column_descriptions",
    "read_metadata",
    "summarize",
    "summary_table",
    "write_csv",
    "write_geopackage",
    "write_geoparquet",
    "write_outputs",
]
