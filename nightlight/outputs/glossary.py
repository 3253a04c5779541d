"""What every output column and status means: one table for the docs, the GeoParquet and the summary.

:data:`COLUMNS` describes each column a run can write (``detect``, ``demo``, each pair of a
``batch``); :data:`STATUSES` each value of ``status``. :func:`column_descriptions` gives the
descriptions of a table's columns (per-year batch columns such as ``change_2016`` by their
stem), which :func:`nightlight.outputs.write.write_geoparquet` stores as field metadata and
the docs (``docs/outputs.md``) repeat; ``tests/outputs/test_outputs_cli.py`` checks that the three agree
and that a demo run writes no column without a description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: Output column → what it holds (units in brackets).
COLUMNS: dict[str, str] = {
    "city_id": "Identifier of the city: the natural city's label, or the user's id column, else the row number.",
    "light_before": "Total light inside the city's base-year extent in the first year, over the pixels valid in "
    "every year of the run (sum of pixel values × covered share: nW/cm²/sr·px for VIIRS, DN·px for DMSP).",
    "light_after": "The same total in the later year.",
    "change": "Relative change of total light, (light_after − light_before) / light_before (0.25 = +25 %); "
    "empty when it cannot be measured.",
    "shrinking": "True when change ≤ −decline threshold (default −10 %) and status is ok.",
    "status": "Whether the city was classified: ok, or why not (too_dark, partial_data, no_data, outside, "
    "empty_geometry; see the statuses).",
    "mean_before": "Mean pixel value inside the city in the first year, over its valid pixels.",
    "mean_after": "Mean pixel value inside the city in the later year.",
    "max_before": "Brightest pixel inside the city in the first year.",
    "max_after": "Brightest pixel inside the city in the later year.",
    "lit_area_before_km2": "Ground area of the city's pixels brighter than the lit floor in the first year (km²).",
    "lit_area_after_km2": "The same in the later year (km²).",
    "valid_share_before": "Share of the city's covered pixels with data in the first year (0–1).",
    "valid_share_after": "Share of the city's covered pixels with data in the later year (0–1).",
    "valid_share": "Share of the city's covered pixels with data in every year of the run: what the totals cover "
    "(below min_valid_share, 0.8 by default, the status is partial_data).",
    "inside_share": "Share of the city's polygon inside the mosaic's grid (0–1): the totals cover only that part.",
    "pixels": "Pixels covered by the city (fractional at its edges).",
    "area_km2": "Ground area of the city (km², on the ellipsoid).",
    "negative_pixels_before": "Covered pixels with negative values in the first year (VIIRS noise), before the "
    "negative_radiance policy.",
    "negative_pixels_after": "The same in the later year.",
    "saturated_pixels_before": "DMSP only: covered pixels at DN 63 (saturated) in the first year.",
    "saturated_pixels_after": "DMSP only: the same in the later year.",
    "saturated_share_before": "DMSP only: share of the city's light in saturated pixels in the first year.",
    "saturation_dominated": "DMSP only: True when saturated pixels dominate the city (its change is unreliable).",
    "shrink_pattern": "Spatial pattern of the decline of a shrinking city: complete, central, peripheral, "
    "unilateral, local or scatter; empty for cities that did not shrink.",
    "light": "Total light of one year of a series (columns light_<year>).",
    "trend_slope": "Theil–Sen slope of the yearly totals (light per year).",
    "mk_p": "Mann–Kendall p-value of the yearly totals.",
    "mk_q": "Mann–Kendall p-value adjusted for many cities (Benjamini–Hochberg false discovery rate).",
    "significant_decline": "True when the city shrank, its trend slope is negative and mk_p < alpha (0.05).",
    "significant_decline_fdr": "The same with mk_q instead of mk_p.",
    "n_pixels": "Pixels of the natural city in the base year (whole pixels).",
    "centroid_x": "Centroid of the natural city, x in the mosaic's coordinate system.",
    "centroid_y": "Centroid of the natural city, y in the mosaic's coordinate system.",
    "light_base": "Batch: total light of the base year.",
    "lon": "Longitude of the city's centroid (degrees east, WGS 84).",
    "lat": "Latitude of the city's centroid (degrees north, WGS 84).",
    "geometry": "The city's extent in the base year (polygon, in the mosaic's coordinate system).",
}

#: Value of ``status`` → what it means.
STATUSES: dict[str, str] = {
    "ok": "Classified: enough valid pixels and light to measure the change.",
    "too_dark": "Not classified: the city's mean base-year value is below the dark floor "
    "(0.5 nW/cm²/sr, 7 DN; --dark-floor): its relative change would be noise.",
    "partial_data": "Not classified: fewer than min_valid_share (0.8) of its pixels are valid in every year "
    "(clouds, gaps, a mosaic edge).",
    "no_data": "Not classified: none of its pixels is valid in every year.",
    "outside": "Not classified: the polygon does not touch the mosaic's grid.",
    "empty_geometry": "Not classified: the polygon is empty.",
}

#: Per-year batch columns (``change_2016``) and series columns (``light_2016``) share a stem.
_YEAR_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<year>\d{4})$")


def describe(column: str) -> str | None:
    """The description of ``column`` (``change_2016`` → change, for the year 2016), or None if unknown."""
    if column in COLUMNS:
        return COLUMNS[column]
    m = _YEAR_SUFFIX.match(column)
    if m and m["stem"] in COLUMNS:
        return f"{COLUMNS[m['stem']]} (year {m['year']})"
    return None


def column_descriptions(columns: Iterable[str]) -> dict[str, str]:
    """Descriptions of those ``columns`` nightlight knows (a user's own columns are left out)."""
    return {c: d for c in columns if (d := describe(c)) is not None}


def user_columns(table: Any) -> list[str]:
    """The columns of ``table`` that nightlight did not write: the user's own (names, ids, codes), in order."""
    geometry = getattr(getattr(table, "geometry", None), "name", None)
    return [str(c) for c in table.columns if c != geometry and describe(str(c)) is None]
