"""Replication of the shrinking-cities finding on the real data in ``../shared/data``.

The study (Jiang, Zhai, Meng & Long 2020, J. Urban Plann. Dev. 146(4); interview
figure 938 of ~3,300) measured the total night light of every Chinese *natural city*
in 2013 and 2016 (NPP-VIIRS) and called a city shrinking when it lost ≥ 10 %. The
raw national VIIRS mosaics are not available offline, so this runs the same method
on what is:

* **China, DMSP-like 1 km, 2018–2021** (Wu, Shi, Chen et al. 2021,
  doi:10.7910/DVN/GIYGJU): natural cities from the base year, change of their total
  light to 2021; provinces; the Northeast resource cities (:mod:`.china`, :mod:`.regions`);
* **Shanghai, VIIRS-like 2013 → 2016** (Chen, Yu et al. 2021, ESSD 13:889): the
  study's years, natural cities from light and from the MGUP 2018 built-up mask
  (Liu, Yu, Li & Gong 2021), yearly series 2000–2020 with the trend test (:mod:`.shanghai`);
* **sensitivity** of the counts to every parameter chosen up front (:mod:`.sensitivity`).

Parameters are fixed from the method and the data *before* looking at counts
(:class:`~.params.Params`); nothing is tuned toward the study's 938.
:func:`run_replication` writes tables, small figures (:mod:`.figures`) and
``<out>.md`` (:mod:`.report`) whose every number comes from this run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd

from nightlight._version import __version__
from nightlight.outputs.webmap import write_webmap
from nightlight.outputs.write import json_default
from nightlight.replication import figures as plots
from nightlight.replication.china import (
    GROWING_PCT,
    china_change,
    crosscheck_detect_shrinking,
    native_city_count,
    write_city_table,
    year_totals,
)
from nightlight.replication.data import Box, china_nodata, read_places, read_provinces
from nightlight.replication.national_job import albers_points, run_national
from nightlight.replication.params import (
    CHINA_BASE_YEARS,
    CHINA_TARGET_YEAR,
    HEADLINE_BASE_YEAR,
    PLACES_MAX_KM,
    STUDY,
    NationalParams,
    Params,
)
from nightlight.replication.regions import largest_cities, locate_places, province_table
from nightlight.replication.report import render_markdown
from nightlight.replication.sensitivity import DESIGN, china_sensitivity, shanghai_sensitivity
from nightlight.replication.shanghai import shanghai_record, shanghai_run
from nightlight.replication.timing import process_peak_rss_mb
from nightlight.units import DMSP_MAX_DN

Pairs = dict[str, gpd.GeoDataFrame]


def run_replication(
    out_dir: str | Path,
    *,
    data_dir: str | Path = "../shared/data",
    params: Params = Params(),
    window: Box | str | None = None,
    sensitivity: bool = True,
    shanghai: bool = True,
    national: bool = True,
    national_params: NationalParams = NationalParams(),
    figures: bool = True,
    markdown: bool = True,
    command: str = "nightlight replicate --out docs/replication",
) -> dict:
    """Run the whole replication and write its tables, figures and ``<out_dir>.md``.

    Parameters
    ----------
    out_dir : path
        Folder for CSV tables and PNG figures; the report goes beside it as
        ``<out_dir>.md`` (``docs/replication`` → ``docs/replication.md``).
    data_dir : path
        The shared real-data folder (default ``../shared/data`` from the repo root).
    params : Params
        The fixed parameters (defaults = the study's rules, see :class:`Params`).
    window : lon/lat box or name in :data:`WINDOWS`, optional
        Crop the China runs, DMSP-like and national (tests use ``"northeast"``).
    sensitivity, shanghai, national, figures, markdown : bool
        Parts to run / write. ``national``: the VIIRS-like 2013 → 2016 run over all
        of China, its series and the census check (:mod:`.national_job`).
    national_params : NationalParams
        The national run's fixed parameters.
    command : str
        The command line recorded in the report.

    Returns
    -------
    dict
        Every number of the report (also written as ``results.json``).
    """
    t_all = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"params": asdict(params), "window": window, "study": STUDY, "data_dir": str(data_dir)}
    if national:  # first, so its memory is measured on a fresh process, not on the DMSP runs' leftovers
        _national(res, data_dir, national_params, window, out, figures=figures)
    pairs = _china_pairs(res, data_dir, params, window, out)
    provinces = _regions(res, data_dir, pairs, out)
    _crosscheck(res, data_dir, pairs, params, window)
    if sensitivity:
        _china_sensitivity(res, data_dir, params, window, out)
    sh = _shanghai(res, data_dir, params, out, sensitivity=sensitivity) if shanghai else None
    if figures:
        _figures(pairs, provinces, sh, params, out)
    _write(res, t_all, out, command=command if markdown else None)
    return res


def _head() -> str:
    return f"{HEADLINE_BASE_YEAR}→{CHINA_TARGET_YEAR}"


def _china_pairs(res: dict, data_dir: str | Path, params: Params, window: Any, out: Path) -> Pairs:
    """Phase 1: every China pair (cities, change, counts), their city tables, year totals, native counts."""
    pairs: Pairs = {}
    res["china"] = {}
    for y in CHINA_BASE_YEARS:
        r, rec = china_change(data_dir, y, CHINA_TARGET_YEAR, params=params, window=window, polygons=True)
        pairs[f"{y}→{CHINA_TARGET_YEAR}"] = r
        res["china"][f"{y}→{CHINA_TARGET_YEAR}"] = rec
    res["native_counts"] = {}
    for y in CHINA_BASE_YEARS:
        rec = res["china"][f"{y}→{CHINA_TARGET_YEAR}"]
        # a base year already on the target grid was counted on its own grid above: not labelled again
        res["native_counts"][str(y)] = (
            rec["cities"] if rec["aligned"] is None else native_city_count(data_dir, y, params=params, window=window)
        )
    res["year_totals"] = year_totals(data_dir, params=params).to_dict(orient="records")
    for k, r in pairs.items():
        write_city_table(r, k, out)
    return pairs


def _regions(res: dict, data_dir: str | Path, pairs: Pairs, out: Path) -> gpd.GeoDataFrame:
    """Phase 2: the Northeast places in every pair; provinces and the largest cities of the headline pair."""
    places = read_places()
    res["places"] = {k: locate_places(r, places).to_dict(orient="records") for k, r in pairs.items()}
    provinces = read_provinces(data_dir)
    head = pairs[_head()]
    ptab = province_table(head, provinces)
    ptab.to_csv(out / f"provinces_{_head().replace('→', '_')}.csv")
    res["largest"] = largest_cities(head, provinces).to_dict(orient="records")
    res["provinces_2018_2021"] = ptab.reset_index().to_dict(orient="records")
    return provinces


def _crosscheck(res: dict, data_dir: str | Path, pairs: Pairs, params: Params, window: Any) -> None:
    """Phase 3: the labeling pass's sums against ``detect_shrinking`` (a same-grid and a resampled pair)."""
    same_grid = f"{CHINA_BASE_YEARS[-1]}→{CHINA_TARGET_YEAR}"
    res["crosscheck"] = [
        crosscheck_detect_shrinking(data_dir, pairs[k], params=params, window=window) for k in (same_grid, _head())
    ]


def _china_sensitivity(res: dict, data_dir: str | Path, params: Params, window: Any, out: Path) -> None:
    """Phase 4: the China sensitivity table."""
    t0 = time.perf_counter()
    sens = china_sensitivity(data_dir, params=params, window=window)
    sens.to_csv(out / "sensitivity_china.csv", index=False)
    res["sensitivity_china"] = sens.to_dict(orient="records")
    res["sensitivity_china_seconds"] = round(time.perf_counter() - t0, 1)


def _shanghai(res: dict, data_dir: str | Path, params: Params, out: Path, *, sensitivity: bool) -> dict:
    """Phase 5: Shanghai 2013 → 2016 (and its sensitivity table)."""
    sh = shanghai_run(data_dir, params=params)
    res["shanghai"] = shanghai_record(sh, out)
    if sensitivity:
        ss = shanghai_sensitivity(data_dir, params=params)
        ss.to_csv(out / "sensitivity_shanghai.csv", index=False)
        res["sensitivity_shanghai"] = ss.to_dict(orient="records")
    return sh


def _national(
    res: dict, data_dir: str | Path, params: NationalParams, window: Any, out: Path, *, figures: bool
) -> None:
    """Phase 0: the national VIIRS-like run, its series and the census check; its map."""
    rec, frames = run_national(data_dir, out, params=params, window=window)
    res["national"] = rec
    if figures:
        h = rec["study"]
        title = (
            f"VIIRS-like natural cities of {params.base_year} (8-bit ≥ {h['threshold_effective']}, "
            f"> {params.min_area_km2:g} km²), change to {params.target_year} ({h['headline']})"
        )
        png = out / f"national_{params.base_year}_{params.target_year}.png"
        provinces = read_provinces(data_dir)
        plots.plot_china_map(albers_points(frames["cities"]), provinces, png, title=title, decline=params.decline)
        rec["figure"] = png.name
        shown = frames["cities"].copy()  # the interactive map of the same cities (nightlight map's page)
        shown.attrs["nightlight"] = {"threshold": params.decline}
        rec["webmap"] = write_webmap(shown, png.with_suffix(".html"), title=title, outlines=provinces).name


def _figures(pairs: Pairs, provinces: gpd.GeoDataFrame, sh: dict | None, params: Params, out: Path) -> None:
    """Phase 6: the PNG figures."""
    title = (
        f"DMSP-like natural cities of {HEADLINE_BASE_YEAR} (DN ≥ {params.lit_dn:g}, > {params.min_area_km2:g} km²) "
        f"and their change to {CHINA_TARGET_YEAR}"
    )
    png = out / f"china_{_head().replace('→', '_')}.png"
    plots.plot_china_map(pairs[_head()], provinces, png, title=title, decline=params.decline)
    plots.plot_change_hist(pairs, out / "change_hist.png", decline=params.decline)
    if sh is not None:
        plots.plot_shanghai_series(sh, out / "shanghai_series.png")


def _write(res: dict, t_all: float, out: Path, *, command: str | None) -> None:
    """Phase 7: what the report quotes about the run itself; ``results.json``; ``<out>.md``."""
    res["definitions"] = {"dmsp_max_dn": DMSP_MAX_DN, "growing_pct": GROWING_PCT, "places_max_km": PLACES_MAX_KM}
    if "sensitivity_china" in res:
        res["sensitivity_design"] = asdict(DESIGN)
    res["china_nodata"] = china_nodata(res["data_dir"])
    res["run"] = {"nightlight": __version__, "cpu_count": os.cpu_count()}
    res["seconds_total"] = round(time.perf_counter() - t_all, 1)
    res["peak_rss_mb"] = round(process_peak_rss_mb())  # ru_maxrss, and the peaks before any reset of it
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=json_default))
    if command is not None:
        md = render_markdown(res, fig_prefix=out.name, command=command)
        out.with_name(out.name + ".md").write_text(md, encoding="utf-8")
