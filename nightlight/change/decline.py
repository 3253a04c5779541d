"""Per-city decline test: which cities lost ≥ 10 % of their night light.

Jiang, Zhai, Meng & Long (2020), "Identifying shrinking cities with NPP-VIIRS
nightlight data in China", J. Urban Plann. Dev. 146(4): total light inside the
**fixed base-year city extent** in two years; relative change ΔS/S₁; a city is
shrinking when ΔS/S₁ ≤ −10 %. With a yearly series (≥ 4 years) a Theil–Sen slope and
Mann–Kendall p-value are added, and ``significant_decline`` needs both the drop and
the trend to agree (METHOD.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from nightlight._version import __version__
from nightlight.change.shape import shrink_shapes
from nightlight.change.trend import trend_test
from nightlight.change.zonal import zonal_stats_many
from nightlight.grid import Grid, require_same_grid
from nightlight.io.raster import DEFAULT_CHUNK, open_mosaic
from nightlight.io.vector import VectorSource, read_polygons
from nightlight.preprocess.steps import apply_steps

#: Default noise floor for ``status="too_dark"``: mean base-year value per pixel, mosaic
#: units. 0.5 suits VIIRS radiance (VNL v2 zeroes cells averaging < 0.6 nW/cm²/sr,
#: Elvidge et al. 2021); for DMSP DN pass ``dark_floor=7`` (advised use DN > 7, Li et al. 2020).
DARK_FLOOR = 0.5

STATUSES = ("ok", "too_dark", "no_data", "outside", "empty_geometry")


def _src_label(src: Any, fallback: str) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, xr.DataArray):
        return str(src.attrs.get("source", src.name or fallback))
    return fallback


def _open(src: Any, chunks: Any, preprocess: Any, label: str) -> tuple[xr.DataArray, Any]:
    da = open_mosaic(src, chunks=chunks)
    record = None
    if preprocess:
        da, record = apply_steps(da, preprocess)
    return da, record


def classify_decline(
    light_before: np.ndarray,
    light_after: np.ndarray,
    *,
    threshold: float,
    too_dark: np.ndarray | None = None,
    no_data: np.ndarray | None = None,
    outside: np.ndarray | None = None,
    empty: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decline rule of Jiang, Zhai, Meng & Long (2020) on per-city light totals.

    ``change = (after − before) / before`` (computed this way, not ``after/before − 1``:
    DN sums are whole numbers, an exact −10 % occurs, and the ratio form lands one
    ulp above it); ``shrinking = status == "ok" and change ≤ −threshold``.

    Parameters
    ----------
    light_before, light_after : arrays
        Total light in the fixed base-year extent (DN or nW/cm²/sr × pixels).
    threshold : float
        Relative decline that counts as shrinking (0.10 = 10 %).
    too_dark, no_data, outside, empty : bool arrays, optional
        Cities not to classify; the later flags win when several apply. ``change``
        is NaN for all but ``too_dark`` (measured, but at the noise floor).

    Returns
    -------
    change, status, shrinking : arrays (float, object of :data:`STATUSES`, bool)
    """
    before = np.asarray(light_before, dtype=np.float64)
    after = np.asarray(light_after, dtype=np.float64)
    status = np.full(before.shape, "ok", dtype=object)
    for flag, name in ((too_dark, "too_dark"), (no_data, "no_data"), (outside, "outside"), (empty, "empty_geometry")):
        if flag is not None:
            status[np.asarray(flag, dtype=bool)] = name
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (after - before) / before
    measurable = ~np.isin(status, ("no_data", "outside", "empty_geometry")) & (before > 0)
    change = np.where(measurable, change, np.nan)
    shrinking = (status == "ok") & (change <= -threshold)
    return change, status, shrinking


def detect_shrinking(
    city_polygons: VectorSource,
    before: Any = None,
    after: Any = None,
    *,
    threshold: float = 0.10,
    series: Mapping[int, Any] | Sequence[Any] | None = None,
    years: Sequence[int] | None = None,
    id_column: str | None = None,
    lit_floor: float = 0.0,
    dark_floor: float = DARK_FLOOR,
    alpha: float = 0.05,
    shapes: bool = True,
    method: str = "exact",
    preprocess: Sequence[Any] | None = None,
    chunks: Any = DEFAULT_CHUNK,
) -> gpd.GeoDataFrame:
    """Classify cities as shrinking from the change of their total night light.

    Parameters
    ----------
    city_polygons : GeoDataFrame or vector file path
        Base-year city extents (natural cities or admin units), any CRS; reprojected
        to the mosaics' CRS. ``city_id`` is taken from ``id_column`` or an id-like
        column (``city_id``, ``id``, ``AdCode`` …), else the row number.
    before, after : DataArray or path/URL
        Base-year and later-year mosaics on one grid (opened with
        :func:`nightlight.open_mosaic`). ``before`` may also be a dict ``{year: mosaic}``
        or a list (then pass ``years``) — the series mode below.
    threshold : float in (0, 1)
        Relative decline that counts as shrinking (default 0.10 = 10 %).
    series : dict {year: mosaic} or list of mosaics, optional
        Yearly mosaics for the trend test (≥ 4 years). ``before``/``after`` default to
        the first/last year.
    years : sequence of int, optional
        Years of a list ``series``.
    id_column : str, optional
        Column to use as ``city_id``.
    lit_floor : float
        A pixel is lit when its value is > ``lit_floor`` (mosaic units) — for ``lit_area_*``.
    dark_floor : float
        Cities whose mean base-year value per valid pixel is below this are
        ``status="too_dark"`` and not classified (see :data:`DARK_FLOOR`).
    alpha : float
        Significance level of the Mann–Kendall test for ``significant_decline``.
    shapes : bool
        Classify the shape of shrinkage (:mod:`nightlight.change.shape`) of shrinking cities.
    method : {"exact", "centre"}
        Pixel weighting of the zonal sums: exact fractional coverage (default) or
        the pixel-centre rule (see :mod:`nightlight.change.zonal`).
    preprocess : sequence of named steps, optional
        Calibration steps applied to every mosaic with
        ``nightlight.preprocess.apply_steps`` (records kept in the metadata).
    chunks : int or tuple
        Dask chunk edge for mosaics opened from paths.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per input polygon, in input order, in the mosaics' CRS:

        - ``city_id``: from the input, else the row number;
        - ``light_before``, ``light_after``: total light inside the polygon (sum of
          pixel values: nW/cm²/sr × pixels for VIIRS, DN × pixels for DMSP);
        - ``change``: (light_after − light_before)/light_before (unitless; NaN when
          unmeasurable);
        - ``shrinking``: bool, ``change ≤ −threshold`` and ``status == "ok"``;
        - ``status``: one of :data:`STATUSES` (``outside``: no pixel of the grid;
          ``no_data``: only NaN pixels in a year; ``too_dark``: base mean < ``dark_floor``;
          ``empty_geometry``);
        - ``mean_before/after`` (per valid pixel), ``max_before/after`` (brightest
          pixel), ``lit_area_before/after_km2`` (km² of pixels > ``lit_floor``),
          ``valid_share_before/after`` (non-NaN share), ``inside_share`` (share of the
          polygon inside the grid: sums cover only that part), ``pixels`` (covered pixels),
          ``area_km2`` (covered ground area);
        - with a series: ``light_<year>`` per year, ``trend_slope`` (light per year),
          ``mk_p``, ``significant_decline`` (shrinking and slope < 0 and mk_p < alpha);
        - ``shrink_shape`` (shrinking cities only, else None);
        - ``geometry``.

        ``result.attrs["nightlight"]`` holds the run metadata (threshold, sources,
        grid, version, preprocess records).

    Raises
    ------
    MissingCRSError, InvalidVectorError
        Polygons without CRS, empty polygon set, non-polygon geometries.
    GridMismatchError
        ``before``/``after`` (or series years) on different grids.
    ValueError
        ``threshold`` or ``alpha`` outside (0, 1); fewer than two mosaics.
    """
    _check_levels(threshold, alpha)
    inputs = _open_inputs(before, after, series, years, chunks=chunks, preprocess=preprocess)
    cities = read_polygons(city_polygons, target_crs=inputs.grid.crs, id_column=id_column)
    stats = zonal_stats_many(cities, inputs.mosaics, floor=lit_floor, method=method, names=inputs.names)
    out = _decline_table(cities, stats[0], stats[1], threshold=threshold, dark_floor=dark_floor)
    if inputs.series_years:
        _add_trend(out, inputs.series_years, stats[2:], alpha=alpha)
    out["shrink_shape"] = _shrink_shapes(out, cities, inputs, threshold=threshold, lit_floor=lit_floor, enabled=shapes)
    result = _with_geometry(out, cities)
    result.attrs["nightlight"] = _run_metadata(
        result,
        inputs,
        threshold=threshold,
        alpha=alpha,
        lit_floor=lit_floor,
        dark_floor=dark_floor,
        method=method,
        preprocess=preprocess,
    )
    return result


# --------------------------------------------------------------------------- phases of detect_shrinking
@dataclass
class _Inputs:
    """The opened mosaics of one run: before, after, then the series years (if any)."""

    grid: Grid
    mosaics: list[xr.DataArray]
    names: list[str]
    records: list[Any]
    series_years: list[Any] = field(default_factory=list)


def _check_levels(threshold: float, alpha: float) -> None:
    if not (0.0 < float(threshold) < 1.0):
        raise ValueError(
            f"threshold={threshold!r}: must be a relative decline strictly between 0 and 1 "
            "(e.g. 0.10 for the 10 % rule of Jiang et al. 2020)."
        )
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha={alpha!r}: must be a significance level strictly between 0 and 1 (e.g. 0.05).")


def _series_items(
    before: Any, after: Any, series: Mapping[int, Any] | Sequence[Any] | None, years: Sequence[int] | None
) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    """(before, after, sorted [(year, mosaic)]) from the two calling conventions."""
    if series is None and isinstance(before, (Mapping, list, tuple)) and after is None:
        series, before = before, None
    items: list[tuple[Any, Any]] = []
    if series is not None:
        if isinstance(series, Mapping):
            items = sorted(series.items(), key=lambda kv: kv[0])
        else:
            if years is None or len(years) != len(series):
                raise ValueError(
                    "series: a list of mosaics needs `years=` of the same length (or pass a dict {year: mosaic})."
                )
            items = sorted(zip(years, series), key=lambda kv: kv[0])
        before = items[0][1] if before is None else before
        after = items[-1][1] if after is None else after
    if before is None or after is None:
        raise ValueError("detect_shrinking needs two mosaics: pass `before` and `after` (or a `series` of years).")
    return before, after, items


def _open_inputs(
    before: Any,
    after: Any,
    series: Mapping[int, Any] | Sequence[Any] | None,
    years: Sequence[int] | None,
    *,
    chunks: Any,
    preprocess: Sequence[Any] | None,
) -> _Inputs:
    """Open before, after and the series lazily, preprocess them, and check they share one grid."""
    before, after, items = _series_items(before, after, series, years)
    lb, la = _src_label(before, "before"), _src_label(after, "after")
    b_da, b_rec = _open(before, chunks, preprocess, lb)
    a_da, a_rec = _open(after, chunks, preprocess, la)
    inputs = _Inputs(require_same_grid(b_da, a_da, names=(lb, la)), [b_da, a_da], [lb, la], [b_rec, a_rec])
    for yr, src in items:
        inputs.series_years.append(yr)
        if src is before or src is after:  # the same object: reuse it, do not read it twice
            inputs.mosaics.append(b_da if src is before else a_da)
            inputs.names.append(lb if src is before else la)
            inputs.records.append(None)
            continue
        lab = _src_label(src, f"series[{yr}]")
        da, rec = _open(src, chunks, preprocess, lab)
        require_same_grid(b_da, da, names=(lb, lab))
        inputs.mosaics.append(da)
        inputs.names.append(lab)
        inputs.records.append(rec)
    return inputs


def _decline_table(
    cities: gpd.GeoDataFrame, sb: pd.DataFrame, sa: pd.DataFrame, *, threshold: float, dark_floor: float
) -> pd.DataFrame:
    """Per-city light before/after, change, status, shrinking and the zonal statistics."""
    out = pd.DataFrame({"city_id": cities["city_id"].to_numpy()})
    out["light_before"] = sb["sum"].to_numpy()
    out["light_after"] = sa["sum"].to_numpy()
    change, status, shrinking = classify_decline(
        out["light_before"].to_numpy(),
        out["light_after"].to_numpy(),
        threshold=threshold,
        too_dark=~(sb["mean"].to_numpy() >= dark_floor),
        no_data=(sb["valid_share"].fillna(0).to_numpy() == 0) | (sa["valid_share"].fillna(0).to_numpy() == 0),
        outside=sb["pixels"].to_numpy() == 0,
        empty=cities.geometry.is_empty.to_numpy() | cities.geometry.isna().to_numpy(),
    )
    out["change"] = change
    out["shrinking"] = shrinking
    out["status"] = status
    for tag, s in (("before", sb), ("after", sa)):
        out[f"mean_{tag}"] = s["mean"].to_numpy()
        out[f"max_{tag}"] = s["max"].to_numpy()
        out[f"lit_area_{tag}_km2"] = s["lit_area_km2"].to_numpy()
        out[f"valid_share_{tag}"] = s["valid_share"].to_numpy()
    out["inside_share"] = sb["inside_share"].to_numpy()
    out["pixels"] = sb["pixels"].to_numpy()
    out["area_km2"] = sb["area_km2"].to_numpy()
    return out


def _add_trend(out: pd.DataFrame, series_years: list[Any], stats: list[pd.DataFrame], *, alpha: float) -> None:
    """``light_<year>`` columns, Theil–Sen slope, Mann–Kendall p and ``significant_decline``."""
    yrs = [int(y) if float(y).is_integer() else y for y in series_years]
    table = pd.DataFrame({f"light_{y}": s["sum"].to_numpy() for y, s in zip(yrs, stats)})
    for c in table.columns:
        out[c] = table[c].to_numpy()
    tr = trend_test(table.to_numpy(), [float(y) for y in yrs])
    out["trend_slope"] = tr["trend_slope"].to_numpy()
    out["mk_p"] = tr["mk_p"].to_numpy()
    out["significant_decline"] = (
        out["shrinking"].to_numpy() & (tr["trend_slope"].to_numpy() < 0) & (tr["mk_p"].to_numpy() < alpha)
    )


def _shrink_shapes(
    out: pd.DataFrame, cities: gpd.GeoDataFrame, inputs: _Inputs, *, threshold: float, lit_floor: float, enabled: bool
) -> np.ndarray:
    """The shape of shrinkage of each shrinking city (None for the others)."""
    shape_col = np.full(len(out), None, dtype=object)
    if enabled and out["shrinking"].any():
        idx = np.flatnonzero(out["shrinking"].to_numpy())
        b_da, a_da = inputs.mosaics[0], inputs.mosaics[1]
        shape_col[idx] = shrink_shapes(
            cities.geometry.to_numpy()[idx], b_da, a_da, threshold=threshold, floor=lit_floor
        )
    return shape_col


def _with_geometry(out: pd.DataFrame, cities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The result table with the input's other columns and geometries, in the mosaics' CRS."""
    for c in cities.columns:
        if c not in out.columns and c != cities.geometry.name:
            out[c] = cities[c].to_numpy()
    return gpd.GeoDataFrame(out, geometry=cities.geometry.to_numpy(), crs=cities.crs)


def _run_metadata(result: gpd.GeoDataFrame, inputs: _Inputs, *, preprocess: Any, **levels: Any) -> dict:
    series = inputs.series_years
    return {
        "version": __version__,
        "method": "Jiang, Zhai, Meng & Long 2020, J. Urban Plann. Dev. 146(4): total light in fixed base-year extent",
        "threshold": float(levels["threshold"]),
        "alpha": float(levels["alpha"]),
        "lit_floor": float(levels["lit_floor"]),
        "dark_floor": float(levels["dark_floor"]),
        "zonal_method": levels["method"],
        "before": inputs.names[0],
        "after": inputs.names[1],
        "series": {str(y): n for y, n in zip(series, inputs.names[2:])} if series else None,
        "grid": _grid_meta(inputs.grid),
        "n_cities": int(len(result)),
        "n_shrinking": int(result["shrinking"].sum()),
        "preprocess": [r for r in inputs.records if r is not None] if preprocess else None,
    }


def _grid_meta(grid: Grid) -> dict:
    return {
        "crs": grid.crs.to_string(),
        "transform": list(grid.transform)[:6],
        "shape": list(grid.shape),
        "describe": grid.describe(),
    }
