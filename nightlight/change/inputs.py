"""The inputs of a decline run, checked before any zonal work.

Parameters and series are validated up front (a one-year series or a duplicated year
fails here, not after the zonal sums), mosaics are opened lazily and checked to share
one grid, and two facts of the whole mosaics are prepared for the decline test:

- the **common valid mask**: a pixel counts only where every mosaic of the run has a
  value, so a NaN patch in one year never reads as darkness (Jiang et al. 2020 compare
  total light in a *fixed* extent — fixed means the same pixels in every year);
- the **whole-mosaic totals** per year: a blank year (all zero or all nodata) is a
  broken input, not a country gone dark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import pandas as pd
import xarray as xr

from nightlight.errors import BlankMosaicError, ParameterError
from nightlight.grid import Grid, require_same_grid
from nightlight.io.raster import open_mosaic
from nightlight.preprocess.steps import apply_steps


@dataclass
class RunInputs:
    """The opened mosaics of one run: before, after, then the series years (if any)."""

    grid: Grid
    mosaics: list[xr.DataArray]
    names: list[str]
    records: list[Any]
    series_years: list[Any] = field(default_factory=list)

    def distinct(self) -> list[tuple[str, xr.DataArray]]:
        """(name, mosaic) once per distinct mosaic (a series may reuse before/after)."""
        seen: dict[int, tuple[str, xr.DataArray]] = {}
        for name, da in zip(self.names, self.mosaics):
            seen.setdefault(id(da), (name, da))
        return list(seen.values())


def check_fraction(name: str, value: Any, *, example: str, closed: bool = False) -> float:
    """``value`` as a float in (0, 1) (``[0, 1]`` when ``closed``), else :class:`ParameterError`."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ParameterError(f"{name}={value!r}: must be a number (not {type(value).__name__}), e.g. {example}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r}: must be a number, e.g. {example}.") from None
    ok = 0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0
    if not ok or np.isnan(v):
        interval = "between 0 and 1" if closed else "strictly between 0 and 1"
        raise ParameterError(f"{name}={value!r}: must be {interval}, e.g. {example}.")
    return v


def series_items(
    before: Any, after: Any, series: Mapping[Any, Any] | Sequence[Any] | None, years: Sequence[Any] | None
) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    """(before, after, sorted [(year, mosaic)]) from the two calling conventions, validated."""
    if series is None and isinstance(before, (Mapping, list, tuple)) and after is None:
        series, before = before, None
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


def src_label(src: Any, fallback: str) -> str:
    """How to call a mosaic in messages and metadata: its path, its ``source`` attribute, or ``fallback``."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, xr.DataArray):
        return str(src.attrs.get("source", src.name or fallback))
    return fallback


def _open(src: Any, chunks: Any, preprocess: Any) -> tuple[xr.DataArray, Any]:
    da = open_mosaic(src, chunks=chunks)
    record = None
    if preprocess:
        da, record = apply_steps(da, preprocess)
    return da, record


def open_inputs(
    before: Any,
    after: Any,
    series: Mapping[Any, Any] | Sequence[Any] | None,
    years: Sequence[Any] | None,
    *,
    chunks: Any,
    preprocess: Sequence[Any] | None,
) -> RunInputs:
    """Open before, after and the series lazily, preprocess them, and check they share one grid."""
    before, after, items = series_items(before, after, series, years)
    lb, la = src_label(before, "before"), src_label(after, "after")
    b_da, b_rec = _open(before, chunks, preprocess)
    a_da, a_rec = _open(after, chunks, preprocess)
    inputs = RunInputs(require_same_grid(b_da, a_da, names=(lb, la)), [b_da, a_da], [lb, la], [b_rec, a_rec])
    for yr, src in items:
        inputs.series_years.append(yr)
        if src is before or src is after:  # the same object: reuse it, do not read it twice
            inputs.mosaics.append(b_da if src is before else a_da)
            inputs.names.append(lb if src is before else la)
            inputs.records.append(None)
            continue
        lab = src_label(src, f"series[{yr}]")
        da, rec = _open(src, chunks, preprocess)
        require_same_grid(b_da, da, names=(lb, lab))
        inputs.mosaics.append(da)
        inputs.names.append(lab)
        inputs.records.append(rec)
    return inputs


def on_common_pixels(inputs: RunInputs) -> list[xr.DataArray]:
    """Every mosaic of the run masked (NaN) where any mosaic of the run has no value (lazy)."""
    distinct = [da for _, da in inputs.distinct()]
    valid = distinct[0].notnull()
    for da in distinct[1:]:
        valid = valid & da.notnull()
    masked = {id(da): da.where(valid) for da in distinct}
    return [masked[id(da)] for da in inputs.mosaics]


def mosaic_totals(inputs: RunInputs) -> pd.DataFrame:
    """Whole-mosaic total light and valid pixel count of every distinct mosaic (one pass over the data).

    Returns
    -------
    DataFrame
        ``mosaic`` (name), ``total`` (sum of valid values, mosaic units × pixels),
        ``valid_pixels``, ``lit_pixels`` (> 0), and ``year`` where the mosaic is a series year.
    """
    distinct = inputs.distinct()
    tasks = []
    for _, da in distinct:
        tasks += [da.sum(skipna=True).data, da.count().data, (da > 0).sum().data]
    values = dask.compute(*tasks)
    year_of = {n: y for y, n in zip(inputs.series_years, inputs.names[2:])}
    rows = []
    for k, (name, _) in enumerate(distinct):
        total, valid, lit = (float(v) for v in values[3 * k : 3 * k + 3])
        rows.append(
            {
                "mosaic": name,
                "year": year_of.get(name),
                "total": total,
                "valid_pixels": int(valid),
                "lit_pixels": int(lit),
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
