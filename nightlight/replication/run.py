"""``nightlight replicate``: every analysis of the replication in order, then ``results.json`` and the report.

The study (Jiang, Zhai, Meng & Long 2020) called a Chinese natural city shrinking when
its total night light fell by ≥ 10 % from 2013 to 2016. :func:`run_replication` runs
the same method on the data available offline: all of China on the VIIRS-like product
2013 → 2016 with the census check (:mod:`.national`), its robustness and Kenya
(:mod:`.robust`); China DMSP-like 2018/2019/2020 → 2021 (:mod:`.china`); Shanghai
(:mod:`.shanghai`); the sensitivity of the counts to every parameter chosen up front
(:mod:`.sensitivity`), with the parameters of ``catalog/studies/replication.toml``.
Every number of the report comes from this run.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from nightlight._version import __version__
from nightlight.batch.config import BatchConfig
from nightlight.outputs.figures import plot_change_hist, plot_map, plot_shanghai_series
from nightlight.outputs.webmap import write_webmap
from nightlight.outputs.write import json_default
from nightlight.progress import peak_rss_mb
from nightlight.replication import china
from nightlight.replication.census import read_census
from nightlight.replication.national import run_national
from nightlight.replication.params import (
    FIXED,
    STUDY,
    WINDOWS,
    Box,
    NationalParams,
    read_places,
    read_provinces,
    write_table,
)
from nightlight.replication.report import render_markdown
from nightlight.replication.robust import kenya, robustness
from nightlight.replication.sensitivity import DESIGN, china_sensitivity, shanghai_sensitivity
from nightlight.replication.shanghai import shanghai_record, shanghai_run
from nightlight.replication.studies import load_study
from nightlight.units import DMSP_MAX_DN


def run_replication(
    out_dir: str | Path,
    *,
    data_dir: str | Path = "../shared/data",
    window: Box | str | None = None,
    sensitivity: bool = True,
    shanghai: bool = True,
    national: bool = True,
    figures: bool = True,
    markdown: bool = True,
    command: str = "nightlight replicate --out docs/replication",
    work_dir: str | Path | None = None,
) -> dict:
    """Run the whole replication and write its tables, figures and ``<out_dir>.md``.

    Parameters
    ----------
    out_dir : path
        Folder for CSV tables and PNG figures; the report goes beside it as
        ``<out_dir>.md`` (``docs/replication`` → ``docs/replication.md``).
    data_dir : path
        The shared real-data folder, for the vector data (provinces, census, Shanghai);
        the mosaics of the study configurations come from the catalog.
    window : lon/lat box or name in :data:`WINDOWS`, optional
        Crop the China runs, DMSP-like and national (tests use ``"northeast"``).
    sensitivity, shanghai, national, figures, markdown : bool
        Parts to run / write. ``national``: the VIIRS-like 2013 → 2016 run over all
        of China, its series and the census check (:mod:`.national`).
    command : str
        The command line recorded in the report.
    work_dir : path, optional
        Where the batch runs of the study configurations write (resumable; default: a
        temporary folder removed at the end).

    Returns
    -------
    dict
        Every number of the report (also written as ``results.json``).
    """
    t_all = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    box = WINDOWS[window] if isinstance(window, str) else window
    res: dict[str, Any] = {"params": dict(FIXED["shanghai"]["params"]), "window": window, "study": STUDY}
    res["data_dir"] = str(data_dir)
    provinces = read_provinces(data_dir)
    with tempfile.TemporaryDirectory(prefix="nightlight-replicate-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        if national:  # first, so its memory is measured on a fresh process, not on the DMSP runs' leftovers
            _national(res, data_dir, box, out, work, provinces if figures else None)
        pairs = _china(res, china.china_studies(box), provinces, work, out, sensitivity=sensitivity)
    sh = None
    if shanghai:  # Shanghai 2013 → 2016 (and its sensitivity table)
        sh = shanghai_run(data_dir)
        res["shanghai"] = shanghai_record(sh, out)
        if sensitivity:
            res["sensitivity_shanghai"] = write_table(shanghai_sensitivity(), out / "sensitivity_shanghai.csv")
    if figures:  # the DMSP-like map, the change histogram, the Shanghai series
        p = res["params"]
        title = (
            f"DMSP-like natural cities of {_CH['headline_base_year']} (DN ≥ {p['lit_dn']:g}, "
            f"> {p['min_area_km2']:g} km²) and their change to {_CH['target_year']}"
        )
        _map(pairs[_HEAD], out / f"china_{_HEAD.replace('→', '_')}.png", title, p["decline"], provinces)
        plot_change_hist(pairs, out / "change_hist.png", decline=p["decline"])
        if sh is not None:
            plot_shanghai_series(sh, out / "shanghai_series.png")
    _write(res, t_all, out, command=command if markdown else None)
    return res


_CH = FIXED["china"]
#: The pair the headline, the map, the provinces and the largest cities are reported for.
_HEAD = f"{_CH['headline_base_year']}→{_CH['target_year']}"


def _china(
    res: dict, configs: dict[int, BatchConfig], provinces: gpd.GeoDataFrame, work: Path, out: Path, *, sensitivity: bool
) -> dict[str, gpd.GeoDataFrame]:
    """Every China pair through the batch engine, its city table; the year totals; the regions; the sensitivity."""
    p = configs[_CH["headline_base_year"]].params
    res["params"].update(lit_dn=p.lit_threshold, dark_floor_dn=p.dark_floor, align=p.align)
    pairs: dict[str, gpd.GeoDataFrame] = {}
    res["china"] = {}
    for y, config in configs.items():
        key = f"{y}→{_CH['target_year']}"
        pairs[key], res["china"][key] = china.china_change(config, work, f"china-{y}")
        write_table(pairs[key], out / f"china_cities_{key.replace('→', '_')}.csv.gz", china.CITY_TABLE, floats="%.6g")
    totals = china.year_totals(configs)
    # NaN: the file declares no nodata value (None in results.json)
    rows = totals.to_dict(orient="records")
    res["china_nodata"] = {str(r["year"]): None if pd.isna(r["nodata"]) else float(r["nodata"]) for r in rows}
    res["year_totals"] = totals.drop(columns="nodata").to_dict(orient="records")
    # the Northeast places in every pair; provinces and the largest cities of the headline pair
    places = read_places()
    res["places"] = {k: china.locate_places(r, places).to_dict(orient="records") for k, r in pairs.items()}
    ptab = china.province_table(pairs[_HEAD], provinces)
    ptab.to_csv(out / f"provinces_{_HEAD.replace('→', '_')}.csv")
    res["largest"] = china.largest_cities(pairs[_HEAD], provinces).to_dict(orient="records")
    res["provinces_2018_2021"] = ptab.reset_index().to_dict(orient="records")
    if sensitivity:  # variants of the study configurations
        t0 = time.perf_counter()
        by_base = {y: pairs[f"{y}→{_CH['target_year']}"] for y in configs}
        res["sensitivity_china"] = write_table(china_sensitivity(configs, by_base, work), out / "sensitivity_china.csv")
        res["sensitivity_china_seconds"] = round(time.perf_counter() - t0, 1)
    return pairs


def _map(
    frame: gpd.GeoDataFrame, png: Path, title: str, decline: float, provinces: gpd.GeoDataFrame, *, webmap: bool = False
) -> tuple[str, str | None]:
    """A run's cities drawn as ``nightlight map`` draws one: the PNG (and the interactive page); their names."""
    shown = frame.copy()
    shown.attrs["nightlight"] = {"min_decline": decline}
    name = plot_map(shown, png, title=title, outlines=provinces).name
    html = write_webmap(shown, png.with_suffix(".html"), title=title, outlines=provinces).name if webmap else None
    return name, html


def _national(
    res: dict, data_dir: str | Path, box: Box | None, out: Path, work: Path, provinces: gpd.GeoDataFrame | None
) -> None:
    """The national study configuration (batch), its correction, series and census check; its map (``provinces``)."""
    params = NationalParams()
    rec, frames = run_national(data_dir, out, work, params=params, window=box)
    census = read_census(data_dir) if "census" in rec else None
    rec["robustness"] = robustness(frames, rec["study"], load_study(params.study).params, census, params=params)
    res["national"] = rec
    res["kenya"] = kenya()
    if provinces is not None:
        h, p = rec["study"], rec["params"]
        title = (
            f"VIIRS-like natural cities of {p['base_year']} (8-bit ≥ {h['threshold_effective']}, "
            f"> {p['min_area_km2']:g} km²), change to {p['target_year']} ({h['headline']})"
        )
        png = out / f"national_{p['base_year']}_{p['target_year']}.png"
        rec["figure"], rec["webmap"] = _map(frames["cities"], png, title, p["decline"], provinces, webmap=True)


def _write(res: dict, t_all: float, out: Path, *, command: str | None) -> None:
    """Phase 7: what the report quotes about the run itself; ``results.json``; ``<out>.md``."""
    res["definitions"] = {"dmsp_max_dn": DMSP_MAX_DN, **{k: _CH[k] for k in ("growing_pct", "places_max_km")}}
    if "sensitivity_china" in res:
        res["sensitivity_design"] = DESIGN
    res["run"] = {"nightlight": __version__, "cpu_count": os.cpu_count()}
    res["seconds_total"] = round(time.perf_counter() - t_all, 1)
    res["peak_rss_mb"] = round(peak_rss_mb())
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=json_default))
    if command is not None:
        md = render_markdown(res, fig_prefix=out.name, command=command)
        out.with_name(out.name + ".md").write_text(md, encoding="utf-8")
