"""The inputs of a decline run, checked before any zonal work.

Series are validated up front (a one-year series or a duplicated year fails here, not
after the zonal sums); the mosaics come through the one input boundary
(:func:`nightlight.preprocess.inputs.prepare_inputs`), and two facts of the whole
mosaics are prepared for the decline test:

- the **common valid mask**: a pixel counts only where every mosaic of the run has a
  value, so a NaN patch in one year never reads as darkness (Jiang et al. 2020 compare
  total light in a *fixed* extent — fixed means the same pixels in every year);
- the **whole-mosaic totals** per year: a blank year (all zero or all nodata) is a
  broken input, not a country gone dark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from nightlight.checkpoint import CheckpointStore
from nightlight.errors import BlankMosaicError, InvalidVectorError, ParameterError
from nightlight.grid import Grid
from nightlight.io.zones import read_zones
from nightlight.params import check_param
from nightlight.preprocess.inputs import Inputs


def series_items(
    before: Any,
    after: Any,
    series: Mapping[Any, Any] | Sequence[Any] | xr.DataArray | None,
    years: Sequence[Any] | None,
) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    """(before, after, sorted [(year, mosaic)]) from the calling conventions, validated.

    A series is a dict ``{year: mosaic}``, a list with ``years``, or a ``(time, y, x)``
    DataArray (:func:`nightlight.open_series`), passed as ``series=`` or as ``before``.
    """
    if series is None and after is None and (isinstance(before, (Mapping, list, tuple)) or _stacked(before)):
        series, before = before, None
    if isinstance(series, xr.DataArray):
        series = _split_years(series)
    items: list[tuple[Any, Any]] = []
    if series is not None:
        if isinstance(series, Mapping):
            pairs = list(series.items())
        else:
            if years is None or len(years) != len(series):
                raise ParameterError(
                    "series: a list of mosaics needs `years=` of the same length (or pass a dict {year: mosaic})."
                )
            pairs = list(zip(years, series))
        items = sorted(_checked_years(pairs), key=lambda kv: kv[0])
        before = items[0][1] if before is None else before
        after = items[-1][1] if after is None else after
    if before is None or after is None:
        raise ParameterError("detect_shrinking needs two mosaics: pass `before` and `after` (or a `series` of years).")
    if before is after:
        raise ParameterError(
            "before and after are the same mosaic: the run would compare a year with itself. "
            "Pass two different years (a series needs at least two)."
        )
    return before, after, items


def _stacked(value: Any) -> bool:
    return isinstance(value, xr.DataArray) and value.ndim == 3


def _split_years(stack: xr.DataArray) -> dict[Any, xr.DataArray]:
    """A (time, y, x) array as ``{year: mosaic}``: the first dimension's coordinate holds years or dates."""
    if stack.ndim != 3:
        raise ParameterError(f"series: an array must be (time, y, x); got dims {stack.dims}.")
    dim = stack.dims[0]
    if dim not in stack.coords:
        raise ParameterError(
            f"series: a 3-D array must be (time, y, x) with a coordinate on {dim!r} holding the years "
            f"(or dates); got dims {stack.dims} without one. Assign it, e.g. da.assign_coords({dim}=[2013, 2014, …])."
        )
    coord = stack[dim]
    years = coord.dt.year.values if np.issubdtype(coord.dtype, np.datetime64) else coord.values
    return {y.item() if hasattr(y, "item") else y: stack.isel({dim: i}, drop=True) for i, y in enumerate(years)}


def _checked_years(pairs: list[tuple[Any, Any]]) -> list[tuple[float | int, Any]]:
    out = []
    for y, src in pairs:
        try:
            yf = float(y)
        except (TypeError, ValueError):
            raise ParameterError(f"series: year {y!r} is not a number; use years like 2013 (or 2013.5).") from None
        out.append((int(yf) if yf.is_integer() else yf, src))
    years = [y for y, _ in out]
    dup = sorted({y for y in years if years.count(y) > 1})
    if dup:
        raise ParameterError(f"series: year(s) {dup} appear more than once; give each year one mosaic.")
    if len(out) < 2:
        raise ParameterError(
            f"series: {len(out)} year given ({years}); a series needs at least two years "
            "(and four for the Mann–Kendall trend test)."
        )
    return out


def apply_negative_policy(inputs: Inputs, policy: str, totals: pd.DataFrame) -> None:
    """Apply the negative-value policy to every mosaic of the run, lazily (only where negatives exist).

    ``keep`` (default) sums negative radiance as it is: around darkness the noise is
    centred on zero, so keeping it leaves total light unbiased, while zeroing it adds
    the positive half of the noise (Elvidge et al. 2021 zero it for *maps*, not sums);
    ``zero`` sets it to 0 (what Rnightlights and VNL v2 masks do); ``nan`` drops those
    pixels as nodata (and so, through the common mask, from every year).
    """
    check_param("negative_radiance", policy)
    if policy == "keep" or not (totals["negative_pixels"] > 0).any():
        return
    replaced: dict[int, xr.DataArray] = {}
    for da in inputs.mosaics:
        if id(da) not in replaced:
            replaced[id(da)] = da.where(~(da < 0), 0.0 if policy == "zero" else np.nan)
    inputs.mosaics = [replaced[id(da)] for da in inputs.mosaics]


def on_common_pixels(inputs: Inputs, totals: pd.DataFrame, negative_radiance: str = "keep") -> list[xr.DataArray]:
    """Every mosaic of the run, the negative policy applied (:func:`apply_negative_policy`), masked (NaN)
    where any mosaic of the run has no value (lazy).

    When ``totals`` show no nodata pixel in any mosaic and the policy makes none, the mosaics are
    returned as they are (the mask would change nothing and cost a pass).
    """
    apply_negative_policy(inputs, negative_radiance, totals)
    made_nodata = negative_radiance == "nan" and (totals["negative_pixels"] > 0).any()
    if not made_nodata and not (totals["nodata_pixels"] > 0).any():
        return list(inputs.mosaics)
    distinct = [da for _, da in inputs.distinct()]
    valid = distinct[0].notnull()
    for da in distinct[1:]:
        valid = valid & da.notnull()
    masked = {id(da): da.where(valid) for da in distinct}
    return [masked[id(da)] for da in inputs.mosaics]


def mosaic_totals(inputs: Inputs, checkpoints: CheckpointStore | None = None) -> pd.DataFrame:
    """Whole-mosaic total light and valid pixel count of every distinct mosaic (one pass over the data).

    ``checkpoints``: a batch job's resume store (:mod:`nightlight.checkpoint`).

    Returns
    -------
    DataFrame
        ``mosaic`` (name), ``total`` (sum of valid values, mosaic units × pixels),
        ``valid_pixels``, ``nodata_pixels``, ``lit_pixels`` (> 0), ``negative_pixels``
        (< 0: VIIRS noise around darkness), and ``year`` where the mosaic is a series year.
    """
    none = np.zeros(0, np.int64)
    got = read_zones(
        np.zeros(0, object), (none, none, none), [da for _, da in inputs.distinct()], inputs.grid, checkpoints
    )
    return totals_frame(inputs, [totals for _, totals in got])


def totals_frame(inputs: Inputs, values: list[tuple[float, ...]]) -> pd.DataFrame:
    """The table of :func:`mosaic_totals` from every distinct mosaic's ``(total, valid, lit, negative)``."""
    year_of = {n: y for y, n in zip(inputs.keys[2:], inputs.names[2:])}
    rows = []
    for (name, da), (total, valid, lit, negative) in zip(inputs.distinct(), values):
        rows.append(
            {
                "mosaic": name,
                "year": year_of.get(name),
                "total": float(total),
                "valid_pixels": int(valid),
                "nodata_pixels": int(da.size - valid),
                "lit_pixels": int(lit),
                "negative_pixels": int(negative),
            }
        )
    return pd.DataFrame(rows)


def check_not_blank(totals: pd.DataFrame, *, allow_blank: bool) -> list[str]:
    """Raise :class:`BlankMosaicError` for a mosaic with no light at all, unless ``allow_blank``.

    Returns the warnings to record (the blank mosaics when allowed).
    """
    blank = totals[(totals["valid_pixels"] == 0) | (totals["lit_pixels"] == 0)]
    if blank.empty:
        return []
    lines = [
        f"{r.mosaic}: {'every pixel is nodata' if r.valid_pixels == 0 else 'every valid pixel is 0 or below'}"
        for r in blank.itertuples()
    ]
    msg = (
        "blank mosaic(s) — " + "; ".join(lines) + ". A whole year without light is a broken or blank file, "
        "not darkness: every city would 'shrink' by 100 %. Check the file (nodata value, wrong band, failed "
        "download); pass allow_blank=True (CLI --allow-blank) only if the mosaic really is dark."
    )
    if not allow_blank:
        raise BlankMosaicError(msg)
    return [msg]


def require_overlap(cities: Any, grid: Grid, *, polygons_label: str) -> None:
    """Refuse polygons none of which touches the grid — almost always a wrong CRS label.

    Raises :class:`~nightlight.errors.InvalidVectorError` with both bounds and a CRS hint.
    """
    import shapely

    g_box = shapely.box(*grid.bounds)
    geoms = cities.geometry.array
    live = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    if not live.any() or shapely.intersects(geoms[live], g_box).any():
        return
    pb = tuple(round(float(v), 6) for v in cities.total_bounds)
    gb = tuple(round(float(v), 6) for v in grid.bounds)
    raise InvalidVectorError(
        f"{polygons_label}: none of the {int(live.sum())} polygons overlaps the mosaic. Polygon bounds {pb} vs mosaic "
        f"bounds {gb} (both in {grid.crs.to_string()}). The polygons' CRS label is probably wrong (e.g. lon/lat "
        "swapped, or projected metres labelled EPSG:4326): fix it with `gdf.set_crs(..., allow_override=True)`, "
        "or pass polygons of the mosaic's region."
    )
