"""The report's markdown tables as data: one spec string per table, rendered by :func:`table`.

A spec is ``"header=key|format; ..."``, one entry per column: ``key`` (default: the
header) is a dotted path into the row, a record of ``results.json`` (``table.0.1``);
``format`` is a name in :data:`FORMATS` or a format spec (``+.4f``); without it the
value goes to :func:`fmt` as is. ``{name}`` in a header is filled from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd


# --------------------------------------------------------------------------- cell formats
def fmt(v: Any) -> str:
    """One table cell: yes/no, thousands separators, 3 significant digits, ``–`` for missing."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if not np.isfinite(x):
            return "–"
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
    return "–" if v is None else str(v)


def whole(x: float) -> str:
    """A count or an area rounded to a whole number, with thousands separators: ``53,275``."""
    return f"{x:,.0f}"


def pct(x: float | None) -> str:
    """A share as ``24.6 %`` (``–`` when missing)."""
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def signed_pct(v: Any) -> str:
    """A change as ``+6.6 %`` / ``-9.7 %`` (``–`` when missing)."""
    return "–" if v is None or pd.isna(v) else f"{100 * v:+.1f} %"


# --------------------------------------------------------------------------- rendering
def _dash(f: Callable[[Any], str]) -> Callable[[Any], str]:
    """``f``, or ``–`` for a missing value."""
    return lambda v: "–" if v is None or pd.isna(v) else f(v)


#: Named cell formats of the specs (and of ``${path|name}`` in the report template).
FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": pct,
    "signed": signed_pct,
    "whole": whole,
    "fmt": fmt,
    "p": _dash(lambda x: f"{x:.3g}" if x > 0 else "< 1e-300"),  # a p-value
    "odds": _dash(lambda x: "∞" if math.isinf(x) else f"{x:.2f}"),  # ∞: a cell of the 2 × 2 table is empty
    # two decimals: near the −10 % line one decimal would show −10.0 % for −9.99 %
    "change2": _dash(lambda v: f"{100 * v:+.2f} %"),
    "trend": _dash(lambda v: f"{100 * v:+.1f} %/yr"),
    "num": _dash(lambda v: fmt(float(v))),
    "yes": _dash(lambda v: fmt(bool(v))),
    "pct0": lambda x: f"{100 * x:.0f} %",
    "pctg": lambda x: f"{100 * x:g} %",
    "arrow": lambda s: s.replace("–", "→"),
}


def md_table(df: pd.DataFrame, *, index: bool = False) -> str:
    """A GitHub markdown table (no extra dependency)."""
    d = df.reset_index() if index else df
    head = "| " + " | ".join(map(str, d.columns)) + " |"
    sep = "|" + "|".join("---" for _ in d.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def get(row: Any, path: str) -> Any:
    """``row[a][b]…`` for ``path`` ``a.b…`` (list items by index); ``None`` when a key is missing."""
    for k in path.split("."):
        if isinstance(row, (list, tuple)):
            row = row[int(k)]
        elif k not in row:
            return None
        else:
            row = row[k]
    return row


def cell(v: Any, form: str) -> Any:
    """``v`` in ``form``: a name in :data:`FORMATS`, a format spec, or nothing (as is)."""
    if not form:
        return v
    if form in FORMATS:
        return FORMATS[form](v)
    return None if v is None else format(v, form)


def table(rows: Iterable[dict], spec: str, **headers: Any) -> str:
    """``rows`` rendered with ``spec`` (a DataFrame in between, so a column's cells share one dtype)."""
    cols = []
    for col in spec.format(**headers).split(";"):
        head, _, rest = col.strip().partition("=")
        key, _, form = (rest or head).partition("|")
        if not rest and "|" in head:
            head = key
        cols.append((head, key, form))
    return md_table(pd.DataFrame([{h: cell(get(r, k), f) for h, k, f in cols} for r in rows]))


def pick(recs: list[dict], cols: tuple[str, ...], **cells: Callable[[Any], Any]) -> str:
    """The columns ``cols`` present in ``recs``, those named in ``cells`` formatted by them."""
    t = pd.DataFrame(recs)
    t = t[[c for c in cols if c in t]].copy()
    for c, f in cells.items():
        if c in t:
            t[c] = [f(v) for v in t[c]]
    return md_table(t)


# --------------------------------------------------------------------------- DMSP-like, Shanghai
CHINA = (
    "pair; natural cities=cities; classified; shrinking (≤ −{decline:g} %)=shrinking; share|pct; "
    "growing (≥ +{growing:g} %)=growing_10pct; change p10 / p25 / median / p75 / p90 (%)=quantiles; seconds"
)
YEAR_TOTALS = "year; total DN (10⁶)=total; pixels with DN ≥ {lit:g}=lit_pixels"
PROVINCES = (
    "province=NAME; cities; shrinking; share=share_shrinking|pct; change of total=change|signed; "
    "median city change=median_change|signed"
)
SHANGHAI = (
    "units=label; n=cities; classified; shrinking; share|pct; significant decline ({years} trend)=significant_decline; "
    "significant decline ({era} trend)=significant_decline_2013_2020; "
    "any significant downward trend {era}=negative_trend_p05_2013_2020; median change=median"
)
_TREND = ("trend_slope", "mk_p", "significant_decline", "shrink_pattern")


def china_pairs(china: dict, *, decline: float, growing_pct: float) -> str:
    """One row per China pair: counts, share, growing, change quantiles, seconds."""
    rows = [
        {"pair": k, **r, "quantiles": " / ".join(f"{v:+.1f}" for v in r["change_pct_p10_p25_p50_p75_p90"])}
        for k, r in china.items()
    ]
    return table(rows, CHINA, decline=100 * decline, growing=growing_pct)


def this_run_rows(china: dict) -> str:
    """This run's rows of the comparison with the study's table."""
    return "\n".join(
        f"| **this run**, DMSP-like {k} | {r['cities']:,} | {r['shrinking']:,} | {pct(r['share'])} |"
        for k, r in china.items()
    )


def year_totals(recs: list[dict], *, lit_dn: float) -> str:
    return table([{**r, "year": str(r["year"]), "total": r["total_dn"] / 1e6} for r in recs], YEAR_TOTALS, lit=lit_dn)


def places(by_pair: dict[str, list[dict]]) -> str:
    """One table per pair (bold pair name above it)."""
    cols = ("name", "name_zh", "lon", "lat", "match", "city_id", "area_km2", "change", "shrinking")
    two = "{:.2f}".format
    return "\n\n".join(
        f"**{k}**\n\n{pick(recs, cols, change=signed_pct, lon=two, lat=two)}" for k, recs in by_pair.items()
    )


def provinces(recs: list[dict]) -> str:
    return table(recs, PROVINCES)


def largest(recs: list[dict]) -> str:
    return pick(recs, tuple(recs[0]), share_of_city_light=pct, change=signed_pct)


def sensitivity(recs: list[dict]) -> str:
    return pick(recs, tuple(recs[0]), share=pct)


def shanghai_units(sh: dict, *, years: str, era_years: str) -> str:
    """Counts for natural cities from light, from MGUP, and the districts."""
    labels = {
        "light": f"natural cities from light (head/tail, ≥ {fmt(sh['lit_threshold'])} nW/cm²/sr)",
        "mgup": f"natural cities from MGUP {sh.get('mgup_year', '')} built-up",
        "districts": f"{sh['districts']['cities']} districts (admin units)",
    }
    rows = [
        {**sh[k], "label": label, "median": f"{sh[k]['change_pct_p10_p25_p50_p75_p90'][2]:+.1f} %"}
        for k, label in labels.items()
    ]
    return table(rows, SHANGHAI, years=years, era=era_years)


def shanghai_largest(recs: list[dict], n: int = 5) -> str:
    big = pd.DataFrame(recs).sort_values("area_km2", ascending=False).head(n).to_dict(orient="records")
    return pick(big, ("city_id", "area_km2", "change", "shrinking", *_TREND), change=signed_pct)


def districts(recs: list[dict]) -> str:
    return pick(recs, ("Name", "change", "shrinking", *_TREND), change=signed_pct)


# --------------------------------------------------------------------------- national
#: The paper's words for each pattern class (Jiang et al. 2020).
PAPER_PATTERNS = {
    "complete": "only 5 %",
    "central": "majority (with scatter, local)",
    "peripheral": "the rest (with unilateral)",
    "unilateral": "the rest (with peripheral)",
    "local": "majority (with scatter, central)",
    "scatter": "majority (with central, local)",
}
COUNTS = (
    "=label; natural cities=cities; area km²=area_km2|whole; mean area km²=mean_area_km2|.1f; shrinking; "
    "shrinking area km²=shrinking_area_km2|whole; share (cities)=share|pct; share (area)=area_share|pct; "
    "median change=median"
)
GRID = "year; Δx (px)=dx_px|+.4f; Δy (px)=dy_px|+.4f; Δx (m)=dx_m|+.1f; Δy (m)=dy_m|+.1f; handling"
CORRECTION = (
    "variant; model; gain a (after ≈ a·before)=gain|.4f; offset|g; level (8-bit)=level|.2f; pixels fitted=n_train; "
    "held-out pixels=n_test; held-out R²=r2_test|.3f; held-out RMSE (8-bit)=rmse_test|.2f; candidates=n_candidates; "
    "excluded (cities + buffer)=n_excluded"
)
SIZE = "area km²=label; cities; shrinking; share|pct; complete (of shrinking)=complete_share|pct"
SERIES = (
    "years=label; cities tested=tested; down, p < 0.05=down_p05; down, q < 0.05 (FDR)=down_fdr; "
    "up, q < 0.05 (FDR)=up_fdr; drop ≥ {decline}=shrinking; drop and down (FDR)=shrinking_and_down_fdr; "
    "down (FDR) without the drop=down_fdr_not_shrinking"
)
ASSOCIATION = (
    "units; n; Spearman ρ=spearman_rho|+.3f; p=spearman_p|p; light down & pop. down=table.0.0; "
    "light down & pop. up=table.0.1; light not down & pop. down=table.1.0; light not down & pop. up=table.1.1; "
    "odds ratio=odds_ratio|odds; Fisher p=fisher_p|p"
)
NORTHEAST = (
    "prefecture=city; province; pop. 2010=popu_2010|num; pop. 2020=popu_2020|num; pop. change=pop_change|signed; "
    "light=light_change|change2; light ≥ 10 % down=light_shrinking|yes; cities' light=city_light_change|signed; "
    "natural cities=natural_cities; trend=trend_rel_slope|trend; q=mk_q|p"
)
SEEDS = (
    "name; name_zh; prefecture=city; pop. change=pop_change|signed; light=light_change|change2; "
    "light ≥ 10 % down=light_shrinking|yes; cities' light=city_light_change|signed; trend=trend_rel_slope|trend; "
    "q=mk_q|p"
)


def headline_table(n: dict, pa: dict) -> str:
    """The paper beside every variant of this run (raw / corrected; study rule / calibrated)."""
    rows = [
        {
            **pa,
            "label": "Jiang et al. 2020 (paper), NPP-VIIRS",
            "mean_area_km2": pa["area_km2"] / pa["cities"],
            "share": pa["shrinking"] / pa["cities"],
            "area_share": pa["shrinking_area_km2"] / pa["area_km2"],
            "median": "–",
        }
    ]
    for key, label in (("study", "head/tail level"), ("calibrated", "calibrated to the paper's area")):
        if key in n:
            lvl = f"{label} (lit ≥ {n[key]['threshold_effective']})"
            for corr, bold, tag in (("corrected", "**this run**", "corrected"), ("raw", "this run", "uncorrected")):
                c = n[key][corr]
                rows.append(
                    {
                        **c,
                        "label": f"{bold}, {lvl}, {tag}",
                        "median": f"{c['change_pct_p10_p25_p50_p75_p90'][2]:+.1f} %",
                    }
                )
    return table(rows, COUNTS)


def grid_table(grids: dict) -> str:
    return table([{**g, "year": y} for y, g in sorted(grids.items())], GRID)


def size_table(by_size: list[dict]) -> str:
    def label(r: dict) -> str:
        return f"> {r['min_km2']:g}" + ("" if math.isinf(r["max_km2"]) else f" – {r['max_km2']:g}")

    return table([{**r, "label": label(r)} for r in by_size], SIZE)


def correction_table(n: dict) -> str:
    return table([{**n[k]["correction"], "variant": k} for k in ("study", "calibrated") if k in n], CORRECTION)


def patterns_table(n: dict, patterns: tuple[str, ...]) -> str:
    cols = [
        (f"{label}, {tag}", n[key][corr])
        for key, label in (("study", "this run"), ("calibrated", "calibrated"))
        if key in n
        for corr, tag in (("corrected", "corrected"), ("raw", "uncorrected"))
    ]
    rows = [
        {
            "pattern": p,
            "paper": PAPER_PATTERNS[p],
            **{h: f"{pct(c['pattern_shares'][p])} ({c['patterns'][p]})" for h, c in cols},
        }
        for p in patterns
    ]
    return md_table(pd.DataFrame(rows))


def series_table(s: dict, decline: str) -> str:
    labels = {"all": "all years", "era": "VIIRS era only"}
    rows = [{**s[k], "label": f"{s[k]['years'][0]}–{s[k]['years'][1]} ({label})"} for k, label in labels.items()]
    return table(rows, SERIES, decline=decline)


PREFECTURES = "run; classified; too_dark; shrinking; share|pct; median change=median_change|signed"


def prefecture_table(c: dict) -> str:
    """The prefectures' runs: default and chosen dark floor, uncorrected and corrected, the series."""
    floor, too_dark = c["dark_floor_chosen"], c["too_dark_chosen"]
    ok = c["status_counts_default"].get("ok", 0)
    rows = [{"run": f"uncorrected, default dark_floor ({c['dark_floor_default']:g})", "classified": ok}]
    rows[0] |= {"too_dark": c["too_dark_default"], "shrinking": "–"}
    runs = (("raw", "uncorrected"), ("corrected", "corrected"))
    rows += [{**c[k], "run": f"{label}, dark_floor={floor:g}", "too_dark": too_dark} for k, label in runs]
    if "series" in c:
        s = c["series"]
        run = f"series {s['years'][0]}–{s['years'][1]}: down / up (FDR q < 0.05)"
        counts = f"{s['down_fdr']} / {s['up_fdr']}"
        rows.append({"run": run, "classified": s["tested"], "too_dark": too_dark, "shrinking": counts})
    return table(rows, PREFECTURES)


def association_table(c: dict, decline: str) -> str:
    units = (
        ("prefecture", f"prefectures: light change (corrected) × population, ≥ {decline} decline"),
        ("prefecture_raw", f"prefectures: light change (uncorrected) × population, ≥ {decline} decline"),
        ("prefecture_trend", "prefectures: light trend (slope/mean) × population, slope ≤ 0"),
        ("prefecture_city_light", "prefectures: their natural cities' light × population"),
        ("natural_cities", "natural cities × their prefecture's population"),
    )
    return table([{**c[k], "units": label} for k, label in units if k in c], ASSOCIATION)


def northeast_table(recs: list[dict]) -> str:
    return table(recs, NORTHEAST) if recs else "(no Northeast prefecture inside the window)"


def seeds_table(recs: list[dict]) -> str:
    def found(r: dict) -> bool:
        return r.get("city") is not None and not pd.isna(r.get("city_code"))

    keep = ("name", "name_zh")
    rows = [r if found(r) else {**{k: r[k] for k in keep}, "city": "(outside the prefectures run)"} for r in recs]
    return table(rows, SEEDS)


def timing_table(n: dict) -> str:
    parts = {"national run": n["timing"]}
    parts |= {
        label: n[k]["timing"] for k, label in (("calibrated", "calibrated variant"), ("series", "series")) if k in n
    }
    rows = [
        {"part": part, "phase": ph, "seconds": f"{s:.1f}"}
        for part, t in parts.items()
        for ph, s in t["phases_s"].items()
    ]
    if "census" in n:
        rows.append(
            {
                "part": "census",
                "phase": "prefectures (3 runs + series), associations",
                "seconds": str(n["census"]["seconds"]),
            }
        )
    return md_table(pd.DataFrame(rows))


# --------------------------------------------------------------------------- robustness (issue 22)
ROBUST_VARIANTS = (
    "variant; cities of=extent|d; years; natural cities=raw.cities; shrinking=raw.shrinking; share=raw.share|pct; "
    "share ≤ 10 km²=raw.small_share|pct; shrinking, corrected=corrected.shrinking; share, corrected=corrected.share|pct"
)
ROBUST_YEARS = "year; total (10⁶ units)=total|,.2f; pixels ≥ {lit:g}=lit_pixels"
ROBUST_PAIRS = "pair; cities=n; median change=median|signed; p25|signed; p75|signed; share ≤ −10 %=share_10|pct"
ROBUST_RERUN = (
    "cities of=extent|d; natural cities=cities; shrinking (rule)=shrinking; share|pct; significantly=significant; "
    "share significant=significant_share|pct; median change=median_change|signed; "
    "ρ (population)=census.spearman_rho|+.2f; ρ p=census.spearman_p|p; odds ratio (rule)=census.odds_ratio|odds; "
    "Fisher p (rule)=census.fisher_p|p; odds ratio (significant)=census_significant.odds_ratio|odds; "
    "Fisher p (significant)=census_significant.fisher_p|p"
)
