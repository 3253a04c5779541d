"""The national section of the report: its placeholders, every number read from ``res["national"]``.

:func:`national_context` returns the strings the ``national*`` and ``disc_national``
sections of ``report_template.md`` use: numbers, tables (:mod:`.tables`)
and the few words that depend on the numbers (*fewer*/*more*, *brighter*/*dimmer*,
whether a speed target was met).
"""

from __future__ import annotations

import math
from typing import Any

from nightlight.change.patterns import PATTERNS
from nightlight.replication import tables as TN
from nightlight.replication.params import M_PER_DEG_EQUATOR
from nightlight.replication.tables import pct, signed_pct, whole

#: Speed and memory targets of the national run and of the series (issue 11).
TARGETS = {"national_s": 30.0, "national_mb": 2048.0, "series_s": 180.0}


def _cmp(x: float, ref: float, more: str = "more", fewer: str = "fewer") -> str:
    return more if x > ref else (fewer if x < ref else "as many")


def _paper(st: dict) -> dict[str, str]:
    pa = st["paper"]
    return {
        "paper_mean_area": f"{pa['area_km2'] / pa['cities']:.1f}",
        "paper_majority": ", ".join(pa["majority_patterns"]),
    }


def _params(n: dict) -> dict[str, str]:
    p, st = n["params"], n["study"]
    grids = n.get("series", {}).get("grids", n["grids"])
    base_grid = grids
    c = {
        "n_span": f"{p['base_year']}_{p['target_year']}",
        "n_lit_scope": ", computed on the whole mosaic also for this window" if n.get("window") else "",
        "n_shape": " × ".join(f"{v:,}" for v in base_grid["shape"]),
        "n_pixel_m": f"{base_grid['pixel_deg'] * M_PER_DEG_EQUATOR:.0f}",
        "n_declared": f"{base_grid['declared_nodata']:g}" if base_grid["declared_nodata"] is not None else "none",
        "n_grid_table": TN.grid_table(base_grid["grids"]),
        "n_floor_rad": f"{1 / n['definitions']['value_scale']:g}",
        "n_step_pct": f"{100 / st['threshold_effective']:.0f} %",
    }
    years = sorted(int(y) for y in base_grid["grids"])
    c.update(n_first=str(years[0]), n_last=str(years[-1]))
    return c


def _headline(n: dict, st: dict) -> dict[str, str]:
    s = n["study"]
    h, r = s["corrected"] if s["headline"] == "corrected" else s["raw"], s["raw"]
    pa = st["paper"]
    corr = s["correction"]
    shares = h["pattern_shares"]
    top = sorted(PATTERNS, key=lambda k: -(shares[k] if math.isfinite(shares[k]) else -1))[:3]
    c = {
        "n_table": TN.headline_table(n, pa),
        "n_headline_label": f"{s['headline']} run",
        "n_cities_cmp": f"{_cmp(h['cities'], pa['cities'])} natural cities than the paper",
        "n_mask_clause": "",
        "n_size_table": TN.size_table(h["by_size"]),
        "n_correction_table": TN.correction_table(n),
        "n_gain_pct": f"{100 * abs(corr['gain'] - 1):.1f} % " + ("brighter" if corr["gain"] >= 1 else "dimmer"),
        "n_corr_moved": whole(abs(h["shrinking"] - r["shrinking"])),
        "n_patterns_table": TN.patterns_table(n, PATTERNS),
        "n_pattern_statuses": ", ".join(f"{k} {v}" for k, v in h["pattern_statuses"].items()),
        "n_top_patterns": ", ".join(top),
        "n_top_share": pct(sum(shares[k] for k in top)),
        "n_cities_too_dark": whole(h["status_counts"].get("too_dark", 0)),
        "n_national_gain_clause": (
            ", so a correction that removed the whole national change would push further the same way"
            if (r["mosaic_change"] or 0) * (corr["gain"] - 1) > 0
            else ", the other way than the invariant pixels"
        ),
    }
    return c


def _robust(n: dict, st: dict) -> dict[str, str]:
    """The robustness tables (issue 22) and the words the verdict and the discussion draw from them."""
    r, st_share = n["robustness"], st["paper"]["shrinking"] / st["paper"]["cities"]
    v = {row["variant"]: row for row in r["variants"]}
    report, d1, d2 = v["as in the report"]["raw"], v["dithered, seed 1"]["raw"], v["dithered, seed 2"]["raw"]
    pairs = [row["raw"]["share"] for k, row in v.items() if k[:1].isdigit()]
    totals = {t["year"]: t["total"] for t in r["years"]["totals"]}
    moved = max(abs(d["shrinking"] - report["shrinking"]) for d in (d1, d2))
    # the pairs of the VIIRS era: before it the producers simulate the light from DMSP (a product step)
    era = [p for p in r["years"]["pairs"] if int(p["pair"][:4]) >= n["definitions"]["viirs_era"]]
    iqr = sorted(p["p75"] - p["p25"] for p in era)
    small, small_d = report["small_share"], (d1["small_share"] + d2["small_share"]) / 2
    return {
        "r_variants_table": TN.table(r["variants"], TN.ROBUST_VARIANTS),
        "r_years_table": TN.table(r["years"]["totals"], TN.ROBUST_YEARS, lit=r["lit_effective"]),
        "r_pairs_table": TN.table(r["years"]["pairs"], TN.ROBUST_PAIRS),
        "r_rerun_table": TN.table(r["robust"], TN.ROBUST_RERUN),
        "r_pair_range": f"{pct(min(pairs))}–{pct(max(pairs))}",
        "r_dither": f"{report['shrinking']:,} to {d1['shrinking']:,} / {d2['shrinking']:,}",
        "r_dither_pts": f"at most {100 * moved / report['cities']:.1f} points of share",
        "r_iqr": f"{100 * iqr[len(iqr) // 2]:.0f} points",
        "r_iqr_years": f"{era[0]['pair'][:4]}–{era[-1]['pair'][-4:]}" if era else "–",
        "v_share_cmp": "higher" if n["study"]["headline_counts"]["share"] > st_share else "lower",
        "r_2012_total": f"{100 * abs(1 - totals['2012'] / totals['2013']):.0f} % "
        + ("less" if totals["2012"] < totals["2013"] else "more")
        if {"2012", "2013"} <= totals.keys()
        else "–",
        "r_2012_median": signed_pct(r["years"]["pairs"][0]["median"]),
        "n_size_claim": (
            f"dithering leaves the smallest class at {pct(small_d)} against {pct(small)} (uncorrected), "
            + ("so the gradient is not quantisation" if abs(small - small_d) < 0.02 else "part of it is quantisation")
        ),
    }


def _calibrated(n: dict, st: dict) -> dict[str, str]:
    if "calibrated" not in n:
        return {"n_mask_clause": ""}
    cal, pa = n["calibrated"], st["paper"]
    h = cal["corrected"] if cal["headline"] == "corrected" else cal["raw"]
    trail = "; ".join(f"≥ {t['level']}: {t['cities']:,}, {t['area_km2']:,.0f} km²" for t in cal["search_trail"])
    return {
        "c_trail": trail,
        "n_mask_clause": "; the calibrated variant removes the total-area difference, not the count difference",
        "c_cmp": _cmp(h["cities"], pa["cities"]),
        "c_units": "larger" if h["cities"] < pa["cities"] else "smaller",
    }


def _series(n: dict) -> dict[str, str]:
    if "series" not in n:
        return {}
    s = n["series"]
    a, e = s["all"], s["era"]
    tm = s["timing"]
    ok = tm["wall_s"] <= TARGETS["series_s"]
    return {
        "s_table": TN.series_table(s, f"{100 * n['params']['decline']:g} %"),
        "s_era_years": f"{e['years'][0]}–{e['years'][1]}",
        "s_align": f"{tm['phases_s'].get('open_and_resample', 0):.0f}",
        "s_verdict": "met" if ok else f"**missed** (limit: {max(tm['phases_s'], key=tm['phases_s'].get)})",
        "s_dips": "Most" if a["shrinking"] - a["shrinking_and_down_fdr"] > a["shrinking"] / 2 else "Fewer than half",
    }


def _census(n: dict) -> dict[str, str]:
    if "census" not in n:
        return {}
    c = n["census"]
    pr, _nc = c["prefecture"], c["natural_cities"]
    seeds = [s for s in c["seeds"] if s.get("city") is not None]
    lost = [s for s in seeds if s["pop_change"] < 0]
    shr = [s["name"] for s in seeds if bool(s.get("light_shrinking"))]
    down = [s for s in seeds if s.get("trend_rel_slope") is not None and s["trend_rel_slope"] < 0]
    strength = abs(pr["spearman_rho"])
    verdict = (
        "no detectable agreement"
        if not pr["spearman_p"] < 0.05
        else ("a weak agreement" if strength < 0.3 else "a moderate agreement" if strength < 0.5 else "a strong one")
    )
    pops = [s["pop_change"] for s in seeds]
    out = {
        "c_pref_table": TN.prefecture_table(c),
        "c_assoc_table": TN.association_table(c, f"{100 * n['params']['decline']:g} %"),
        "c_ne_table": TN.northeast_table(c["northeast"]),
        "c_seeds_table": TN.seeds_table(c["seeds"]),
        "c_verdict": verdict,
        "c_seed_n": str(len(seeds)),
        "c_seed_lost": str(len(lost)),
        "c_seed_pop_min": signed_pct(min(pops)) if pops else "–",
        "c_seed_pop_max": signed_pct(max(pops)) if pops else "–",
        "c_seed_shrinking_n": str(len(shr)),
        "c_seed_shrinking": ", ".join(shr) or "none",
        "c_seed_trend_down_n": str(len(down)),
        "c_seed_sentence": (
            f"For these cities light agrees with the census over {n['params']['base_year']}→"
            f"{n['params']['target_year']} in {len(shr)} of {len(lost)} cases"
            + (", and in none as a downward trend." if not down else f", and in {len(down)} as a downward trend.")
        ),
    }
    tr = c.get("prefecture_trend")
    out.update(
        c_tr_rho=f"{tr['spearman_rho']:+.2f}" if tr else "–",
        c_tr_rho_p=TN.FORMATS["p"](tr["spearman_p"]) if tr else "–",
    )
    return out


def _timing(n: dict) -> dict[str, str]:
    t = n["timing"]
    fast = t["wall_s"] <= TARGETS["national_s"]
    small = t["peak_rss_mb"] <= TARGETS["national_mb"]
    slow = max(t["phases_s"], key=t["phases_s"].get)
    verdict = (
        "Both targets met."
        if fast and small
        else (
            f"Target **missed**: {'wall' if not fast else 'memory'}; the largest phase is *{slow}* "
            f"({t['phases_s'][slow]:.1f} s)."
        )
    )
    return {
        "n_load_start": " / ".join(f"{v:.2f}" for v in t["load_start"] or []),
        "n_load_end": " / ".join(f"{v:.2f}" for v in t["load_end"] or []),
        "n_speed_verdict": verdict,
        "n_timing_table": TN.timing_table(n),
    }


def national_context(res: dict, *, prefix: str = "replication") -> dict[str, Any]:
    """Every placeholder of the national sections, from ``res["national"]`` and ``res["study"]``.

    ``prefix``: the figures' folder as the report links it.
    """
    n, st = res["national"], res["study"]
    ctx: dict[str, Any] = {"n_map": f"![national]({prefix}/{n['figure']})" if n.get("figure") else ""}
    parts = (_paper(st), _params(n), _headline(n, st), _calibrated(n, st), _series(n), _census(n), _timing(n))
    for part in (*parts, _robust(n, st) if "robustness" in n else {}):
        ctx.update(part)
    return ctx
