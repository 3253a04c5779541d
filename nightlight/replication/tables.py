"""The report's markdown tables, each built from ``results.json`` (no extra dependency)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


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


def signed_pct(v: float) -> str:
    """A change as ``+6.6 %`` / ``-9.7 %`` (``–`` when missing)."""
    return f"{100 * v:+.1f} %" if pd.notna(v) else "–"


def md_table(df: pd.DataFrame, *, index: bool = False) -> str:
    """A GitHub markdown table (no extra dependency)."""
    d = df.reset_index() if index else df
    head = "| " + " | ".join(map(str, d.columns)) + " |"
    sep = "|" + "|".join("---" for _ in d.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _keep(t: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    return t[[c for c in cols if c in t]].copy()


def china_pairs(china: dict, *, decline: float, growing_pct: float) -> str:
    """One row per China pair: counts, share, growing, change quantiles, seconds."""
    rows = []
    for k, r in china.items():
        q = r["change_pct_p10_p25_p50_p75_p90"]
        rows.append(
            {
                "pair": k,
                "natural cities": r["cities"],
                "classified": r["classified"],
                f"shrinking (≤ −{100 * decline:g} %)": r["shrinking"],
                "share": pct(r["share"]),
                f"growing (≥ +{growing_pct:g} %)": r["growing_10pct"],
                "change p10 / p25 / median / p75 / p90 (%)": " / ".join(f"{v:+.1f}" for v in q),
                "seconds": r["seconds"],
            }
        )
    return md_table(pd.DataFrame(rows))


def this_run_rows(china: dict) -> str:
    """This run's rows of the comparison with the study's table."""
    return "\n".join(
        f"| **this run**, DMSP-like {k} | {r['cities']:,} | {r['shrinking']:,} | {pct(r['share'])} |"
        for k, r in china.items()
    )


def largest(recs: list[dict]) -> str:
    t = pd.DataFrame(recs)
    t["share_of_city_light"] = [pct(v) for v in t["share_of_city_light"]]
    t["change"] = [f"{100 * v:+.1f} %" for v in t["change"]]
    return md_table(t)


def year_totals(recs: list[dict], *, lit_dn: float) -> str:
    yt = pd.DataFrame(recs)
    yt["total DN (10⁶)"] = yt["total_dn"] / 1e6
    yt["year"] = yt["year"].astype(str)
    return md_table(
        yt[["year", "total DN (10⁶)", "lit_pixels"]].rename(columns={"lit_pixels": f"pixels with DN ≥ {lit_dn:g}"})
    )


def places(by_pair: dict[str, list[dict]]) -> str:
    """One table per pair (bold pair name above it)."""
    blocks = []
    for k, recs in by_pair.items():
        t = _keep(
            pd.DataFrame(recs), ("name", "name_zh", "lon", "lat", "match", "city_id", "area_km2", "change", "shrinking")
        )
        if "change" in t:
            t["change"] = [signed_pct(v) for v in t["change"]]
        t["lon"] = [f"{v:.2f}" for v in t["lon"]]
        t["lat"] = [f"{v:.2f}" for v in t["lat"]]
        blocks.append(f"**{k}**\n\n{md_table(t)}")
    return "\n\n".join(blocks)


def provinces(recs: list[dict]) -> str:
    t = pd.DataFrame(recs)[["NAME", "cities", "shrinking", "share_shrinking", "change", "median_change"]].copy()
    t["share_shrinking"] = [pct(v) for v in t["share_shrinking"]]
    t["change"] = [signed_pct(v) for v in t["change"]]
    t["median_change"] = [signed_pct(v) for v in t["median_change"]]
    names = {
        "NAME": "province",
        "share_shrinking": "share",
        "change": "change of total",
        "median_change": "median city change",
    }
    return md_table(t.rename(columns=names))


def shanghai_units(sh: dict, *, years: str, era_years: str) -> str:
    """Counts for natural cities from light, from MGUP, and the districts."""
    rows = []
    for key, label in (
        ("light", f"natural cities from light (head/tail, ≥ {fmt(sh['lit_threshold'])} nW/cm²/sr)"),
        ("mgup", f"natural cities from MGUP {sh.get('mgup_year', '')} built-up"),
        ("districts", f"{sh['districts']['cities']} districts (admin units)"),
    ):
        c = sh[key]
        q = c["change_pct_p10_p25_p50_p75_p90"]
        rows.append(
            {
                "units": label,
                "n": c["cities"],
                "classified": c["classified"],
                "shrinking": c["shrinking"],
                "share": pct(c["share"]),
                f"significant decline ({years} trend)": c["significant_decline"],
                f"significant decline ({era_years} trend)": c.get("significant_decline_2013_2020"),
                f"any significant downward trend {era_years}": c.get("negative_trend_p05_2013_2020"),
                "median change": f"{q[2]:+.1f} %",
            }
        )
    return md_table(pd.DataFrame(rows))


_TREND = ("trend_slope", "mk_p", "significant_decline", "shrink_pattern")


def shanghai_largest(recs: list[dict], n: int = 5) -> str:
    big = pd.DataFrame(recs).sort_values("area_km2", ascending=False).head(n)
    big = _keep(big, ("city_id", "area_km2", "change", "shrinking", *_TREND))
    big["change"] = [f"{100 * v:+.1f} %" for v in big["change"]]
    return md_table(big)


def districts(recs: list[dict]) -> str:
    d = _keep(pd.DataFrame(recs), ("Name", "change", "shrinking", *_TREND))
    d["change"] = [f"{100 * v:+.1f} %" for v in d["change"]]
    return md_table(d)


def sensitivity(recs: list[dict]) -> str:
    s = pd.DataFrame(recs)
    s["share"] = [pct(v) for v in s["share"]]
    return md_table(s)
