"""The study's method on the real data in ``../shared/data`` (``nightlight replicate``).

Uses the pipeline; nothing in the pipeline imports this package.
"""

from nightlight.replication.run import (
    CHINA_FILES,
    WINDOWS,
    Params,
    check_dmsp_dn,
    china_change,
    china_inputs,
    classify_change,
    grid_offset_m,
    md_table,
    open_china_year,
    read_provinces,
    run_replication,
)

__all__ = [
    "CHINA_FILES",
    "WINDOWS",
    "Params",
    "check_dmsp_dn",
    "china_change",
    "china_inputs",
    "classify_change",
    "grid_offset_m",
    "md_table",
    "open_china_year",
    "read_provinces",
    "run_replication",
]
