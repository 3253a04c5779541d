"""Per-city decline test: which cities lost ≥ 10 % of their night light.

Jiang, Zhai, Meng & Long (2020), "Identifying shrinking cities with NPP-VIIRS
nightlight data in China", J. Urban Plann. Dev. 146(4): total light inside the
**fixed base-year city extent** in two years; relative change ΔS/S₁; a city is
shrinking when ΔS/S₁ ≤ −10 %. With a yearly series (≥ 4 years) a Theil–Sen slope and
Mann–Kendall p-value are added, and ``significant_decline`` needs both the drop and
the trend to agree (docs/method.md). With a series, ``base_years``/``compare_years``
replace the two single years by multi-year means, and each city's decline is tested
against its own year-to-year scatter (``change_p``, ``shrinking_significant``:
:mod:`nightlight.change.significance`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from nightlight._version import __version__
from nightlight.area import AreaMode
from nightlight.change.inputs import (
    check_not_blank,
    mosaic_totals,
    on_common_pixels,
    require_overlap,
    series_items,
    totals_frame,
)
from nightlight.change.measure import add_pixel_counts, decline_table, measure_on_common_pixels
from nightlight.change.patterns import shrinkage_patterns, zone_patterns
from nightlight.change.pixels import ZonePixels, gather_zone_pixels, gathered_inputs, zone_stats
from nightlight.change.rule import check_common_shift, nodata_zero_warnings, too_dark_warnings
from nightlight.change.significance import significance_columns
from nightlight.change.trend import benjamini_hochberg, trend_test
from nightlight.change.zonal import zonal_stats_many
from nightlight.checkpoint import CheckpointStore
from nightlight.errors import ParameterError
from nightlight.grid import Grid
from nightlight.io.raster import DEFAULT_CHUNK, source_label
from nightlight.io.vector import VectorSource, read_polygons
from nightlight.params import MIN_VALID_SHARE, check_fraction, check_param
from nightlight.preprocess.inputs import Inputs, prepare_inputs
from nightlight.units import dark_floor_for


def detect_shrinking(
    city_polygons: VectorSource,
    before: Any = None,
    after: Any = None,
    *,
    min_decline: float = 0.10,
    series: Mapping[int, Any] | Sequence[Any] | xr.DataArray | None = None,
    years: Sequence[int] | None = None,
    base_years: Sequence[int] | None = None,
    compare_years: Sequence[int] | None = None,
    id_column: str | None = None,
    lit_floor: float = 0.0,
    dark_floor: float | None = None,
    alpha: float = 0.05,
    patterns: bool = True,
    method: str = "exact",
    preprocess: Sequence[Any] | None = None,
    chunks: Any = DEFAULT_CHUNK,
    min_valid_share: float = MIN_VALID_SHARE,
    allow_blank: bool = False,
    allow_common_shift: bool = False,
    negative_radiance: str = "keep",
    area: AreaMode = "exact",
    checkpoints: CheckpointStore | None = None,
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
    min_decline : float in (0, 1)
        Relative decline that counts as shrinking (default 0.10 = 10 %).
    series : dict {year: mosaic}, list of mosaics or (time, y, x) DataArray, optional
        Yearly mosaics for the trend test (≥ 4 years; :func:`nightlight.open_series` makes
        the stack); a 3-D array's first coordinate holds the years (or dates: their years are
        used). ``before``/``after`` default to the first/last year.
    years : sequence of int, optional
        Years of a list ``series``.
    base_years, compare_years : sequences of int, optional
        With a ``series`` (then ``before``/``after`` are not given): ``light_before`` and
        ``light_after`` are the means of the yearly totals over these years of the series
        (e.g. ``(2012, 2013)`` vs ``(2016, 2017)``) instead of two single years — the
        variance of each side shrinks with the number of years. Every base year must
        precede every compare year. Default: the first and the last year of the series.
        The city extents (``city_polygons``) may come from any year, e.g. one outside
        both periods, so that they are not selected on the base years' own noise.
    id_column : str, optional
        Column to use as ``city_id``.
    lit_floor : float
        A pixel is lit when its value is > ``lit_floor`` (mosaic units) — for ``lit_area_*``.
    dark_floor : float, optional
        Cities whose mean base-year value per valid pixel is below this are
        ``status="too_dark"`` and not classified. Default: by the mosaics' units,
        0.5 nW/cm²/sr for radiance, 7 for DMSP DN (:data:`nightlight.units.DARK_FLOOR`).
    alpha : float
        Significance level of the Mann–Kendall test for ``significant_decline``, and the
        false discovery rate of ``shrinking_significant``.
    patterns : bool
        Classify the shrinkage pattern (:mod:`nightlight.change.patterns`) of shrinking cities.
    method : {"exact", "centre"}
        Pixel weighting of the zonal sums: exact fractional coverage (default) or
        the pixel-centre rule (see :mod:`nightlight.change.zonal`).
    preprocess : sequence of named steps, optional
        Calibration steps applied to every mosaic with
        ``nightlight.preprocess.apply_steps`` (records kept in the metadata).
    chunks : int or tuple
        Dask chunk edge for mosaics opened from paths.
    min_valid_share : float in [0, 1]
        Least share of a city's area that lies inside the raster and is valid in *every*
        year of the run (``valid_share × inside_share``); cities below it get
        ``status="partial_data"`` and are not classified (:data:`MIN_VALID_SHARE`).
    allow_blank : bool
        Accept a mosaic with no light at all (all zero or all nodata) instead of
        raising :class:`~nightlight.errors.BlankMosaicError`.
    allow_common_shift : bool
        Accept a run where nearly all cities move together by more than ``threshold``
        (:data:`COMMON_SHIFT_SHARE`) instead of raising
        :class:`~nightlight.errors.ProductChangeError`; it is still recorded in the metadata.
    negative_radiance : {"keep", "zero", "nan"}
        What to do with negative values (VIIRS noise around darkness): ``keep`` sums
        them (unbiased totals; default), ``zero`` sets them to 0, ``nan`` drops those
        pixels from every year. Counted per city either way (``negative_pixels_*``)
        and per mosaic in the metadata (:func:`nightlight.change.inputs.apply_negative_policy`).
    area : {"exact", "pyproj", "nominal"}
        How ``area_km2``/``lit_area_*_km2`` are measured — the one area rule of
        :mod:`nightlight.area`, shared with :func:`nightlight.extract_natural_cities`:
        exact ellipsoid on geographic and equal-area grids, else an error unless
        ``"pyproj"`` (areal scale factor) or ``"nominal"`` (nominal pixel size, warned).
    checkpoints : CheckpointStore, optional
        A batch job's resume store (:mod:`nightlight.checkpoint`): finished blocks of the
        totals and zonal passes are loaded from it, new ones saved to it. None (default):
        nothing is kept.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per input polygon, in input order, in the mosaics' CRS:

        - ``city_id``: from the input, else the row number;
        - ``light_before``, ``light_after``: total light inside the polygon (sum of
          pixel values: nW/cm²/sr × pixels for VIIRS, DN × pixels for DMSP), over the
          pixels valid in every year of the run (the common valid mask) — a pixel
          missing in one year is left out of every year, never counted as dark;
        - ``change``: (light_after − light_before)/light_before (unitless; NaN when
          unmeasurable);
        - ``shrinking``: bool, ``change ≤ −min_decline`` and ``status == "ok"``;
        - ``status``: one of :data:`STATUSES` (``outside``: no pixel of the grid;
          ``no_data``: no pixel valid in every year; ``partial_data``: less than
          ``min_valid_share`` of the polygon inside the grid and valid in every year;
          ``too_dark``: base mean < ``dark_floor``; ``empty_geometry``);
        - ``mean_before/after`` (per valid pixel), ``max_before/after`` (brightest
          pixel), ``lit_area_before/after_km2`` (km² of pixels > ``lit_floor``),
          ``valid_share_before/after`` (non-NaN share of each year), ``valid_share``
          (share valid in every year: what the sums cover), ``inside_share`` (share of the
          polygon inside the grid: sums cover only that part), ``pixels`` (covered pixels),
          ``area_km2`` (covered ground area);
        - with a series: ``light_<year>`` per year, ``trend_slope`` (light per year),
          ``mk_p``, ``significant_decline`` (shrinking and slope < 0 and mk_p < alpha);
          ``year_scatter`` (sd of log light around the city's trend and step), ``change_p``
          (one-sided p of a decline at least as large as ``change`` given that scatter),
          ``change_q`` (its Benjamini–Hochberg q over the classified cities) and
          ``shrinking_significant`` (shrinking and change_q < alpha), see
          :mod:`nightlight.change.significance`;
        - ``negative_pixels_before/after``: covered pixels with negative values (before
          the ``negative_radiance`` policy);
        - DMSP DN only: ``saturated_pixels_before/after`` (DN 63), ``saturated_share_before``
          and ``saturation_dominated`` (share ≥ :data:`SATURATION_DOMINATED`);
        - ``shrink_pattern``: :mod:`nightlight.change.patterns` (shrinking cities only, else None;
          with ``base_years``/``compare_years``, between the first base and the last compare year);
        - ``geometry``.

        ``result.attrs["nightlight"]`` holds the run metadata (threshold, sources,
        grid, version, preprocess records).

    Raises
    ------
    MissingCRSError, InvalidVectorError
        Polygons without CRS, empty polygon set, non-polygon geometries.
    GridMismatchError
        ``before``/``after`` (or series years) on different grids.
    ParameterError
        ``min_decline`` or ``alpha`` outside (0, 1); fewer than two mosaics; the same
        file as before and after; a series with one year or a duplicated year;
        ``base_years``/``compare_years`` without a series, not in it, overlapping or out
        of order (all checked before any work).
    UnitsError
        Mosaics in different units, or known for some and not for others.
    BlankMosaicError, ProductChangeError
        A blank year; nearly all cities moving together (unless allowed).
    """
    min_decline = check_param("min_decline", min_decline)
    check_param("min_valid_share", min_valid_share)
    check_param("negative_radiance", negative_radiance)
    dark_floor = check_param("dark_floor", dark_floor)
    check_param("patterns", patterns)
    alpha = check_fraction("alpha", alpha, example="0.05")
    if (base_years is not None or compare_years is not None) and after is not None:
        raise ParameterError(
            "base_years/compare_years define the two sides (means over years of the series): "
            "pass series= and leave before/after out."
        )
    before, after, items = series_items(before, after, series, years)
    periods = _periods(base_years, compare_years, items)
    if periods is not None:
        by_year = dict(items)
        before, after = by_year[periods[0][0]], by_year[periods[1][-1]]
    inputs = prepare_inputs(
        {"before": before, "after": after, **dict(items)}, chunks=chunks, preprocess=preprocess, allow_repeats=True
    )
    if inputs.names[0] == inputs.names[1] and inputs.mosaics[0] is inputs.mosaics[1]:
        raise ParameterError(
            f"before and after are the same mosaic ({inputs.names[0]}): the run would compare a year with itself. "
            "Pass two different years (a series needs at least two)."
        )
    units = inputs.units
    given_floor = dark_floor is not None
    dark_floor = dark_floor_for(units) if dark_floor is None else float(dark_floor)
    cities = read_polygons(city_polygons, target_crs=inputs.grid.crs, id_column=id_column)
    require_overlap(cities, inputs.grid, polygons_label=source_label(city_polygons, "city_polygons"))
    # Pixel-traced zones (natural cities): one pass per mosaic gathers their pixels and the totals.
    pix = gather_zone_pixels(cities.geometry.to_numpy(), inputs, area=area, checkpoints=checkpoints)
    # Else the totals are a pass of their own, on purpose: they decide what the zonal pass must
    # compute (the own-validity layers only when some mosaic has nodata, the negative-pixel layers
    # and the negative policy only when some value is < 0), and a blank year must fail before the
    # zonal work. Folding them into the zonal pass would mean always computing every layer.
    totals = mosaic_totals(inputs, checkpoints) if pix is None else totals_frame(inputs, pix.totals)
    warnings_ = check_not_blank(totals, allow_blank=allow_blank) + nodata_zero_warnings(inputs, totals)
    measure = partial(measure_on_common_pixels, totals=totals, units=units, negative_radiance=negative_radiance)
    if pix is None:
        stats, own, counts, common = measure(
            inputs,
            stats_of=lambda layers, names: zonal_stats_many(
                cities, layers, floor=lit_floor, method=method, names=names, area=area, checkpoints=checkpoints
            ),
        )
        on_pixels = None
    else:  # the same on the values gathered at the zones' pixels
        stats, own, counts, on_pixels = measure(
            gathered_inputs(pix, inputs),
            stats_of=lambda layers, _: [zone_stats(pix, v.values, floor=lit_floor) for v in layers],
        )
        common = on_common_pixels(inputs, totals, negative_radiance)  # the lazy mosaics, for the run's metadata
    sb, sa = stats[0], stats[1]
    if periods is not None:
        keys = list(inputs.keys[2:])
        sb, sa = (_mean_stats([stats[2 + keys.index(y)] for y in ys]) for ys in periods)
    out = decline_table(
        cities, sb, sa, own, threshold=min_decline, dark_floor=dark_floor, min_valid_share=min_valid_share
    )
    add_pixel_counts(out, counts)
    if items:
        _add_trend(out, inputs.keys[2:], stats[2:], alpha=alpha)
        n_base, n_compare = (len(periods[0]), len(periods[1])) if periods else (1, 1)
        sig, prior = significance_columns(
            out["change"].to_numpy(),
            out["shrinking"].to_numpy(),
            (out["status"] == "ok").to_numpy(),
            np.column_stack([s["sum"].to_numpy() for s in stats[2:]]),
            [float(y) for y in inputs.keys[2:]],
            alpha=alpha,
            n_base=n_base,
            n_compare=n_compare,
            step_after=float(periods[0][-1]) if periods else None,
            step_by=float(periods[1][0]) if periods else None,
        )
        for name, column in sig.items():
            out[name] = column
        out.attrs["year_scatter_prior"] = prior
    warnings_ += check_common_shift(out, min_decline, allow=allow_common_shift)
    warnings_ += too_dark_warnings(out, dark_floor, units, given=given_floor)
    out["shrink_pattern"] = _patterns(
        out, cities, common, threshold=min_decline, lit_floor=lit_floor, enabled=patterns, pixels=(pix, on_pixels)
    )
    result = _with_geometry(out, cities)
    result.attrs["nightlight"] = _run_metadata(
        result,
        inputs,
        common,
        totals,
        warnings_,
        min_decline=min_decline,
        alpha=alpha,
        lit_floor=lit_floor,
        dark_floor=dark_floor,
        min_valid_share=min_valid_share,
        negative_radiance=negative_radiance,
        units=units,
        method=method,
        area=area,
        preprocess=preprocess,
        periods=periods,
    )
    return result


# --------------------------------------------------------------------------- phases of detect_shrinking
def _periods(
    base_years: Sequence[int] | None,
    compare_years: Sequence[int] | None,
    items: list[tuple[Any, Any]],
) -> tuple[list[Any], list[Any]] | None:
    """The checked base and compare years (None when neither is given)."""
    if base_years is None and compare_years is None:
        return None
    series_years = [y for y, _ in items]
    if not items:
        raise ParameterError(
            "base_years/compare_years average years of a series: pass series={year: mosaic, ...} "
            "(every year of both periods, and more for the noise estimate)."
        )
    base = sorted(base_years) if base_years is not None else series_years[:1]
    compare = sorted(compare_years) if compare_years is not None else series_years[-1:]
    for name, ys in (("base_years", base), ("compare_years", compare)):
        missing = [y for y in ys if y not in series_years]
        if not ys or missing or len(set(ys)) != len(ys):
            raise ParameterError(
                f"{name}={list(ys)}: give distinct years of the series {series_years}"
                + (f" ({missing} not in it)." if missing else ".")
            )
    if max(base) >= min(compare):
        raise ParameterError(
            f"base_years={base} and compare_years={compare}: every base year must precede every compare year."
        )
    return base, compare


def _mean_stats(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Zonal statistics of a period: the yearly sums, means, maxima and lit areas averaged over its years.

    The shares, pixel counts and areas are those of the common valid pixels: the same every year.
    """
    out = frames[0].copy()
    for col in ("sum", "mean", "max", "lit_area_km2"):
        out[col] = np.mean([f[col].to_numpy() for f in frames], axis=0)
    return out


def _add_trend(out: pd.DataFrame, series_years: list[Any], stats: list[pd.DataFrame], *, alpha: float) -> None:
    """``light_<year>`` columns, Theil–Sen slope, Mann–Kendall p and q, ``significant_decline(_fdr)``.

    ``mk_q``: Benjamini–Hochberg q-value of ``mk_p`` over every city with a p-value
    (all cities tested, whatever their status: the conservative family).
    ``significant_decline_fdr``: shrinking, slope < 0 and ``mk_q < alpha`` — the false
    discovery rate among the cities so flagged is at most ``alpha``, where
    ``significant_decline`` (``mk_p < alpha``) controls each city's error alone.
    """
    yrs = [int(y) if float(y).is_integer() else y for y in series_years]
    table = pd.DataFrame({f"light_{y}": s["sum"].to_numpy() for y, s in zip(yrs, stats)})
    for c in table.columns:
        out[c] = table[c].to_numpy()
    tr = trend_test(table.to_numpy(), [float(y) for y in yrs])
    slope, p = tr["trend_slope"].to_numpy(), tr["mk_p"].to_numpy()
    q = benjamini_hochberg(p)
    out["trend_slope"] = slope
    out["mk_p"] = p
    out["mk_q"] = q
    declining = out["shrinking"].to_numpy() & (slope < 0)
    out["significant_decline"] = declining & (p < alpha)
    out["significant_decline_fdr"] = declining & (q < alpha)


def _patterns(
    out: pd.DataFrame,
    cities: gpd.GeoDataFrame,
    common: list[xr.DataArray],
    *,
    threshold: float,
    lit_floor: float,
    enabled: bool,
    pixels: tuple[ZonePixels | None, list[xr.DataArray] | None],
) -> np.ndarray:
    """The shrinkage pattern of each shrinking city (None for the others), on the common valid pixels.

    ``pixels``: the zones' gathered pixels and their before/after values on the common pixels, when
    the zones are pixel-traced (:mod:`nightlight.change.pixels`), else ``(None, None)``: the shrinking
    cities' pixel-centre pixels are gathered from ``common`` (:func:`~nightlight.change.patterns.shrinkage_patterns`).
    """
    shape_col = np.full(len(out), None, dtype=object)
    if enabled and out["shrinking"].any():
        idx = np.flatnonzero(out["shrinking"].to_numpy())
        pix, values = pixels
        if pix is not None and values is not None:
            own = (pix.zone, pix.row, pix.col)
            b, a = np.asarray(values[0]), np.asarray(values[1])
            shape_col[idx] = zone_patterns(own, b, a, idx, threshold=threshold, floor=lit_floor)
        else:
            geoms = cities.geometry.to_numpy()[idx]
            shape_col[idx] = shrinkage_patterns(geoms, common[0], common[1], threshold=threshold, floor=lit_floor)
    return shape_col


def _with_geometry(out: pd.DataFrame, cities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The result table with the input's other columns and geometries, in the mosaics' CRS."""
    for c in cities.columns:
        if c not in out.columns and c != cities.geometry.name:
            out[c] = cities[c].to_numpy()
    return gpd.GeoDataFrame(out, geometry=cities.geometry.to_numpy(), crs=cities.crs)


def _run_metadata(
    result: gpd.GeoDataFrame,
    inputs: Inputs,
    common: list[xr.DataArray],
    totals: pd.DataFrame,
    warnings_: list[str],
    *,
    preprocess: Any,
    **levels: Any,
) -> dict:
    series = inputs.keys[2:]
    status = result["status"].value_counts()
    tb, ta = _common_totals(inputs, common, totals)
    return {
        "version": __version__,
        "method": "Jiang, Zhai, Meng & Long 2020, J. Urban Plann. Dev. 146(4): total light in fixed base-year extent",
        "min_decline": float(levels["min_decline"]),
        "alpha": float(levels["alpha"]),
        "lit_floor": float(levels["lit_floor"]),
        "dark_floor": float(levels["dark_floor"]),
        "units": levels["units"],
        "min_valid_share": float(levels["min_valid_share"]),
        "negative_radiance": levels["negative_radiance"],
        "zonal_method": levels["method"],
        "area": levels["area"],
        "before": inputs.names[0],
        "after": inputs.names[1],
        "base_years": levels["periods"][0] if levels["periods"] else None,
        "compare_years": levels["periods"][1] if levels["periods"] else None,
        "n_shrinking_significant": (
            int(result["shrinking_significant"].sum()) if "shrinking_significant" in result else None
        ),
        "series": {str(y): n for y, n in zip(series, inputs.names[2:])} if series else None,
        "grid": _grid_meta(inputs.grid),
        "grid_snapped_px": inputs.record()["grid_snapped_px"],
        "n_cities": int(len(result)),
        "n_shrinking": int(result["shrinking"].sum()),
        "n_classified": int(status.get("ok", 0)),
        "n_saturation_dominated": int(result["saturation_dominated"].sum()) if "saturation_dominated" in result else 0,
        "status_counts": {str(k): int(v) for k, v in status.items()},
        "mosaic_totals": totals.to_dict(orient="records"),
        "mosaic_common_totals": [tb, ta],  # over the pixels valid in every year, as the cities' sums
        "mosaic_change": (ta - tb) / tb if tb > 0 else None,
        "warnings": warnings_,
        "preprocess": [r for r in inputs.records if r is not None] if preprocess else None,
    }


def _common_totals(inputs: Inputs, common: list[xr.DataArray], totals: pd.DataFrame) -> tuple[float, float]:
    """Whole-mosaic totals of before and after over the pixels valid in every year of the run.

    The per-mosaic totals sum each year's own valid pixels: with nodata in one year they
    compare different areas (a swath gap read as −30 % of the light). When the common
    mask changed nothing the totals are those; else one more pass sums the masked mosaics.
    """
    if any(c is not m for c, m in zip(common[:2], inputs.mosaics[:2])):
        got = dask.compute(common[0].sum(skipna=True).data, common[1].sum(skipna=True).data)
        return float(got[0]), float(got[1])
    tb, ta = (float(totals.loc[totals["mosaic"] == n, "total"].iloc[0]) for n in inputs.names[:2])
    return tb, ta


def _grid_meta(grid: Grid) -> dict:
    return {
        "crs": grid.crs.to_string(),
        "transform": list(grid.transform)[:6],
        "shape": list(grid.shape),
        "describe": grid.describe(),
    }
