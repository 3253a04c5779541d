"""The national section's markdown tables, each built from ``res["national"]`` (see :mod:`.report_national`)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from nightlight.replication import tables as T
from nightlight.replication.tables import fmt, md_table, pct, signed_pct, whole

PAPER_PATTERNS = {  # the paper's words for each class (Jiang et al. 2020)
    "complete": "only 5 %",
    "central": "majority (with scatter, local)",
    "peripheral": "the rest (with unilateral)",
    "unilateral": "the rest (with peripheral)",
    "local": "majority (with scatter, central)",
    "scatter": "majority (with central, local)",
}


def _p(x: float | None) -> str:
    """A p-value: 3 significant digits, or ``< 1e-300``."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.3g}" if x > 0 else "< 1e-300"


def _or(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return "∞" if math.isinf(x) else f"{x:.2f}"


def _counts_row(label: str, c: dict) -> dict:
    return {
        "": label,
        "natural cities": c["cities"],
        "area km²": whole(c["area_km2"]),
        "mean area km²": f"{c['mean_area_km2']:.1f}",
        "shrinking": c["shrinking"],
        "shrinking area km²": whole(c["shrinking_area_km2"]),
        "share (cities)": pct(c["share"]),
        "share (area)": pct(c["area_share"]),
        "median change": f"{c['change_pct_p10_p25_p50_p75_p90'][2]:+.1f} %",
    }


def headline_table(n: dict, paper: dict) -> str:
    """The paper beside every variant of this run (raw / corrected; study rule / calibrated)."""
    rows = [
        {
            "": "Jiang et al. 2020 (paper), NPP-VIIRS",
            "natural cities": paper["cities"],
            "area km²": whole(paper["area_km2"]),
            "mean area km²": f"{paper['area_km2'] / paper['cities']:.1f}",
            "shrinking": paper["shrinking"],
            "shrinking area km²": whole(paper["shrinking_area_km2"]),
            "share (cities)": pct(paper["shrinking"] / paper["cities"]),
            "share (area)": pct(paper["shrinking_area_km2"] / paper["area_km2"]),
            "median change": "–",
        }
    ]
    for key, label in (("study", "head/tail level"), ("calibrated", "calibrated to the paper's area")):
        if key in n:
            v = n[key]
            lvl = f"lit ≥ {v['threshold_effective']}"
            rows.append(_counts_row(f"**this run**, {label} ({lvl}), corrected", v["corrected"]))
            rows.append(_counts_row(f"this run, {label} ({lvl}), uncorrected", v["raw"]))
    return md_table(pd.DataFrame(rows))


def grid_table(grids: dict) -> str:
    rows = [
        {
            "year": y,
            "Δx (px)": f"{g['dx_px']:+.4f}",
            "Δy (px)": f"{g['dy_px']:+.4f}",
            "Δx (m)": f"{g['dx_m']:+.1f}",
            "Δy (m)": f"{g['dy_m']:+.1f}",
            "handling": g["handling"],
        }
        for y, g in sorted(grids.items())
    ]
    return md_table(pd.DataFrame(rows))


def correction_table(n: dict) -> str:
    rows = []
    for key in ("study", "calibrated"):
        if key not in n:
            continue
        c = n[key]["correction"]
        rows.append(
            {
                "variant": key,
                "model": c["model"],
                "gain a (after ≈ a·before)": f"{c['gain']:.4f}",
                "offset": f"{c['offset']:g}",
                "level (8-bit)": f"{c['level']:.2f}",
                "pixels fitted": c["n_train"],
                "held-out pixels": c["n_test"],
                "held-out R²": f"{c['r2_test']:.3f}",
                "held-out RMSE (8-bit)": f"{c['rmse_test']:.2f}",
                "candidates": c["n_candidates"],
                "excluded (cities + buffer)": c["n_excluded"],
            }
        )
    return md_table(pd.DataFrame(rows))


def patterns_table(n: dict, patterns: tuple[str, ...]) -> str:
    rows = []
    for p in patterns:
        row = {"pattern": p, "paper": PAPER_PATTERNS[p]}
        for key, label in (("study", "this run"), ("calibrated", "calibrated")):
            if key in n:
                for corr, tag in (("corrected", "corrected"), ("raw", "uncorrected")):
                    c = n[key][corr]
                    row[f"{label}, {tag}"] = f"{pct(c['pattern_shares'][p])} ({c['patterns'][p]})"
        rows.append(row)
    return md_table(pd.DataFrame(rows))


def size_table(by_size: list[dict]) -> str:
    rows = [
        {
            "area km²": f"> {r['min_km2']:g}" + ("" if math.isinf(r["max_km2"]) else f" – {r['max_km2']:g}"),
            "cities": r["cities"],
            "shrinking": r["shrinking"],
            "share": pct(r["share"]),
            "complete (of shrinking)": pct(r["complete_share"]),
        }
        for r in by_size
    ]
    return md_table(pd.DataFrame(rows))


def series_table(s: dict, decline: str) -> str:
    rows = []
    for key, label in (("all", "all years"), ("era", "VIIRS era only")):
        c = s[key]
        rows.append(
            {
                "years": f"{c['years'][0]}–{c['years'][1]} ({label})",
                "cities tested": c["tested"],
                "down, p < 0.05": c["down_p05"],
                "down, q < 0.05 (FDR)": c["down_fdr"],
                "up, q < 0.05 (FDR)": c["up_fdr"],
                f"drop ≥ {decline}": c["shrinking"],
                "drop and down (FDR)": c["shrinking_and_down_fdr"],
                "down (FDR) without the drop": c["down_fdr_not_shrinking"],
            }
        )
    return md_table(pd.DataFrame(rows))


def prefecture_table(c: dict) -> str:
    rows = [
        {
            "run": f"uncorrected, default dark_floor ({c['dark_floor_default']:g})",
            "classified": c["status_counts_default"].get("ok", 0),
            "too_dark": c["too_dark_default"],
            "shrinking": "–",
            "share": "–",
            "median change": "–",
        }
    ]
    for key, label in (("raw", "uncorrected"), ("corrected", "corrected")):
        r = c[key]
        rows.append(
            {
                "run": f"{label}, dark_floor={c['dark_floor_chosen']:g}",
                "classified": r["classified"],
                "too_dark": c["too_dark_chosen"],
                "shrinking": r["shrinking"],
                "share": pct(r["share"]),
                "median change": signed_pct(r["median_change"]),
            }
        )
    if "series" in c:
        s = c["series"]
        rows.append(
            {
                "run": f"series {s['years'][0]}–{s['years'][1]}: down / up (FDR q < 0.05)",
                "classified": s["tested"],
                "too_dark": c["too_dark_chosen"],
                "shrinking": f"{s['down_fdr']} / {s['up_fdr']}",
                "share": "–",
                "median change": "–",
            }
        )
    return md_table(pd.DataFrame(rows))


def association_table(c: dict, decline: str) -> str:
    rows = []
    for key, label in (
        ("prefecture", f"prefectures: light change (corrected) × population, ≥ {decline} decline"),
        ("prefecture_raw", f"prefectures: light change (uncorrected) × population, ≥ {decline} decline"),
        ("prefecture_trend", "prefectures: light trend (slope/mean) × population, slope ≤ 0"),
        ("prefecture_city_light", "prefectures: their natural cities' light × population"),
        ("natural_cities", "natural cities × their prefecture's population"),
    ):
        if key not in c:
            continue
        a = c[key]
        (t11, t12), (t21, t22) = a["table"]
        rows.append(
            {
                "units": label,
                "n": a["n"],
                "Spearman ρ": f"{a['spearman_rho']:+.3f}",
                "p": _p(a["spearman_p"]),
                "light down & pop. down": t11,
                "light down & pop. up": t12,
                "light not down & pop. down": t21,
                "light not down & pop. up": t22,
                "odds ratio": _or(a["odds_ratio"]),
                "Fisher p": _p(a["fisher_p"]),
            }
        )
    return md_table(pd.DataFrame(rows))


def _change(v: Any) -> str:
    """A change with two decimals: near the −10 % line one decimal would show −10.0 % for −9.99 %."""
    return "–" if v is None or pd.isna(v) else f"{100 * v:+.2f} %"


def _trend(v: Any) -> str:
    return "–" if v is None or pd.isna(v) else f"{100 * v:+.1f} %/yr"


def northeast_table(recs: list[dict]) -> str:
    rows = [
        {
            "prefecture": r["city"],
            "province": r["province"],
            "pop. 2010": fmt(float(r["popu_2010"])) if pd.notna(r["popu_2010"]) else "–",
            "pop. 2020": fmt(float(r["popu_2020"])) if pd.notna(r["popu_2020"]) else "–",
            "pop. change": signed_pct(r["pop_change"]),
            "light": _change(r["light_change"]),
            "light ≥ 10 % down": fmt(bool(r["light_shrinking"])) if pd.notna(r["light_shrinking"]) else "–",
            "cities' light": signed_pct(r.get("city_light_change", math.nan)),
            "natural cities": r.get("natural_cities", "–"),
            "trend": _trend(r.get("trend_rel_slope")),
            "q": _p(r.get("mk_q")) if r.get("mk_q") is not None else "–",
        }
        for r in recs
    ]
    return md_table(pd.DataFrame(rows)) if rows else "(no Northeast prefecture inside the window)"


def seeds_table(recs: list[dict]) -> str:
    rows = []
    for r in recs:
        found = r.get("city") is not None and not pd.isna(r.get("city_code"))
        rows.append(
            {
                "name": r["name"],
                "name_zh": r["name_zh"],
                "prefecture": r["city"] if found else "(outside the prefectures run)",
                "pop. change": signed_pct(r["pop_change"]) if found else "–",
                "light": _change(r["light_change"]) if found else "–",
                "light ≥ 10 % down": fmt(bool(r["light_shrinking"])) if found else "–",
                "cities' light": signed_pct(r.get("city_light_change", math.nan)) if found else "–",
                "trend": _trend(r.get("trend_rel_slope")) if found else "–",
                "q": _p(r.get("mk_q")) if found and r.get("mk_q") is not None else "–",
            }
        )
    return md_table(pd.DataFrame(rows))


def timing_table(n: dict) -> str:
    rows = []
    for part, key in (("national run", "timing"),):
        for ph, s in n[key]["phases_s"].items():
            rows.append({"part": part, "phase": ph, "seconds": f"{s:.1f}"})
    if "calibrated" in n:
        for ph, s in n["calibrated"]["timing"]["phases_s"].items():
            rows.append({"part": "calibrated variant", "phase": ph, "seconds": f"{s:.1f}"})
    if "series" in n:
        for ph, s in n["series"]["timing"]["phases_s"].items():
            rows.append({"part": "series", "phase": ph, "seconds": f"{s:.1f}"})
    if "census" in n:
        rows.append(
            {
                "part": "census",
                "phase": "prefectures (3 runs + series), associations",
                "seconds": str(n["census"]["seconds"]),
            }
        )
    return T.md_table(pd.DataFrame(rows))
