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

from nightlight.checkpoint import TREE, CheckpointStore, stage_of
from nightlight.errors import BlankMosaicError, InvalidVectorError, ParameterError
from nightlight.grid import Grid, snap_to_grid
from nightlight.hashing import fingerprint
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
    #: the mosaics on the common valid pixels (set by the decline test)
    common: list[xr.DataArray] = field(default_factory=list)
    #: name → origin offset (pixels) snapped away, for mosaics within GRID_TOLERANCE_PX of the base grid
    snapped: dict[str, tuple[float, float]] = field(default_factory=dict)

    def add(self, da: xr.DataArray, name: str, record: Any) -> None:
        """Append a mosaic after checking it is on the base grid (snapped when within tolerance)."""
        da, off = snap_to_grid(da, self.grid, names=(self.names[0], name))
        if off is not None:
            self.snapped[name] = (off.dx_px, off.dy_px)
        self.mosaics.append(da)
        self.names.append(name)
        self.records.append(record)

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
    inputs = RunInputs(Grid.of(b_da, name=lb), [b_da], [lb], [b_rec])
    inputs.add(a_da, la, a_rec)
    for yr, src in items:
        inputs.series_years.append(yr)
        if src is before or src is after:  # the same object: reuse it, do not read it twice
            inputs.mosaics.append(inputs.mosaics[0] if src is before else inputs.mosaics[1])
            inputs.names.append(lb if src is before else la)
            inputs.records.append(None)
            continue
        lab = src_label(src, f"series[{yr}]")
        da, rec = _open(src, chunks, preprocess)
        inputs.add(da, lab, rec)
    return inputs


#: What :func:`apply_negative_policy` can do with negative values (VIIRS radiance noise).
NEGATIVE_POLICIES = ("keep", "zero", "nan")


def apply_negative_policy(inputs: RunInputs, policy: str, totals: pd.DataFrame) -> None:
    """Apply the negative-value policy to every mosaic of the run, lazily (only where negatives exist).

    ``keep`` (default) sums negative radiance as it is: around darkness the noise is
    centred on zero, so keeping it leaves total light unbiased, while zeroing it adds
    the positive half of the noise (Elvidge et al. 2021 zero it for *maps*, not sums);
    ``zero`` sets it to 0 (what Rnightlights and VNL v2 masks do); ``nan`` drops those
    pixels as nodata (and so, through the common mask, from every year).
    """
    if policy not in NEGATIVE_POLICIES:
        raise ParameterError(f"negative_radiance={policy!r}: use one of {', '.join(NEGATIVE_POLICIES)}.")
    if policy == "keep" or not (totals["negative_pixels"] > 0).any():
        return
    replaced: dict[int, xr.DataArray] = {}
    for da in inputs.mosaics:
        if id(da) not in replaced:
            replaced[id(da)] = da.where(~(da < 0), 0.0 if policy == "zero" else np.nan)
    inputs.mosaics = [replaced[id(da)] for da in inputs.mosaics]


def on_common_pixels(inputs: RunInputs, totals: pd.DataFrame | None = None) -> list[xr.DataArray]:
    """Every mosaic of the run masked (NaN) where any mosaic of the run has no value (lazy).

    When ``totals`` show no nodata pixel in any mosaic the mosaics are returned as they
    are (the mask would change nothing and cost a pass).
    """
    if totals is not None and not (totals["nodata_pixels"] > 0).any():
        return list(inputs.mosaics)
    distinct = [da for _, da in inputs.distinct()]
    valid = distinct[0].notnull()
    for da in distinct[1:]:
        valid = valid & da.notnull()
    masked = {id(da): da.where(valid) for da in distinct}
    return [masked[id(da)] for da in inputs.mosaics]


def mosaic_totals(inputs: RunInputs, checkpoints: CheckpointStore | None = None) -> pd.DataFrame:
    """Whole-mosaic total light and valid pixel count of every distinct mosaic (one pass over the data).

    ``checkpoints``: a batch job's resume store (:mod:`nightlight.checkpoint`).

    Returns
    -------
    DataFrame
        ``mosaic`` (name), ``total`` (sum of valid values, mosaic units × pixels),
        ``valid_pixels``, ``nodata_pixels``, ``lit_pixels`` (> 0), ``negative_pixels``
        (< 0: VIIRS noise around darkness), and ``year`` where the mosaic is a series year.
    """
    distinct = inputs.distinct()
    tasks = []
    # A batch job: a mosaic's totals are kept under its dask name (the store's key holds the
    # inputs' checksums), so the base year is summed once for all the pairs it is compared in.
    stage = stage_of(checkpoints, "totals", {"key": "dask name of the mosaic"}, TREE, shared=True)
    for _, da in distinct:
        four = [da.sum(skipna=True).data, da.count().data, (da > 0).sum().data, (da < 0).sum().data]
        name = getattr(da.data, "name", None)
        key = None if name is None else fingerprint({"dask_name": name})[:32]  # a safe file name
        tasks += four if stage is None or key is None else [stage.delayed(key, _as_tuple, *four)]
    values = tuple(v for got in dask.compute(*tasks) for v in (got if isinstance(got, tuple) else (got,)))
    year_of = {n: y for y, n in zip(inputs.series_years, inputs.names[2:])}
    rows = []
    for k, (name, da) in enumerate(distinct):
        total, valid, lit, negative = (float(v) for v in values[4 * k : 4 * k + 4])
        rows.append(
            {
                "mosaic": name,
                "year": year_of.get(name),
                "total": total,
                "valid_pixels": int(valid),
                "nodata_pixels": int(da.size - valid),
                "lit_pixels": int(lit),
                "negative_pixels": int(negative),
            }
        )
    return pd.DataFrame(rows)


def _as_tuple(*values: Any) -> tuple:
    return tuple(float(v) for v in values)


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
