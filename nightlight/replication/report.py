"""The replication report: ``report_template.md`` filled from the results of the run.

The template is data (shipped with the package): named sections, each a
:class:`string.Template`. ``report`` is the page; the others are blocks included only
when their result exists (Shanghai, sensitivity, …) or inline alternatives. Every
number in the prose is a placeholder: ``${a.b|format}`` reads ``res["a"]["b"]``
(``results.json``; ``head`` is the headline pair) and formats it (a name in
:data:`.tables.FORMATS` or a format spec); ``$name`` is a string computed here (tables,
lists, words that depend on the numbers). What stays literal in the template is
citations (authors, years of publication, journal volumes, DOIs) and product names.
"""

from __future__ import annotations

import math
import re
from functools import cache
from importlib.resources import files
from string import Template
from typing import Any

from nightlight.replication import tables as T
from nightlight.replication.params import CHINA_TARGET_YEAR, HEADLINE_BASE_YEAR, WINDOWS
from nightlight.replication.report_national import national_context


class _Page(Template):
    """``$name`` from the context, ``${a.b|format}``: ``res["a"]["b"]`` formatted (:func:`.tables.cell`)."""

    braceidpattern = r"[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*(?:\|[^}]+)?"


class _Context(dict):
    """The context's strings, and any ``a.b|format`` path read from ``res``."""

    def __init__(self, ctx: dict[str, str], res: dict) -> None:
        super().__init__(ctx)
        self.res = res

    def __missing__(self, key: str) -> str:
        path, _, form = key.partition("|")
        v: Any = self.res
        for k in path.split("."):  # strict, unlike the tables' optional columns: a typo must not print "None"
            try:
                v = v[int(k)] if isinstance(v, list) else v[k]
            except (KeyError, IndexError, ValueError, TypeError):
                raise KeyError(f"report template: ${{{key}}}: {path!r} is not in the results") from None
        return str(T.cell(v, form))


_SECTION = re.compile(r"^<!-- section: (\w+) -->\n", re.M)
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@cache
def sections() -> dict[str, _Page]:
    """The template's sections by name (``report_template.md`` next to this module)."""
    text = files("nightlight.replication").joinpath("report_template.md").read_text(encoding="utf-8")
    parts = _SECTION.split(text)  # ["", name, body, name, body, ...]
    return {name: _Page(body.rstrip("\n")) for name, body in zip(parts[1::2], parts[2::2])}


# --------------------------------------------------------------------------- number formats
def _signed(x: float, digits: int = 1) -> str:
    return f"{100 * x:+.{digits}f}%"


def _minus(s: str) -> str:
    return s.replace("-", "−")


def _word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else f"{n:,}"


def _span(n: int) -> str:
    return f"{_word(n)} year" + ("" if n == 1 else "s")


def _length(m: float) -> str:
    return f"{m / 1000:g} km" if m >= 1000 else f"{m:.0f} m"


def _about(m: float) -> str:
    """~ one significant digit: 463 m → ``~500 m``."""
    return f"~{round(m, -int(math.floor(math.log10(abs(m))))):.0f} m" if m else "~0 m"


# --------------------------------------------------------------------------- context
def _study(st: dict) -> dict[str, str]:
    """The study's shares (computed from its counts)."""
    pa, iv = st["paper"], st["interview"]
    return {
        "interview_share": T.FORMATS["pct0"](iv["shrinking"] / iv["cities"]),
        "interview_share_tight": f"{iv['shrinking'] / iv['cities']:.0%}",
        "paper_share": T.FORMATS["pct0"](pa["shrinking"] / pa["cities"]),
        "paper_share_tight": f"{pa['shrinking'] / pa['cities']:.0%}",
        "paper_share_1": T.pct(pa["shrinking"] / pa["cities"]),
    }


def _china(res: dict, head: str) -> dict[str, str]:
    ch, h = res["china"], res["china"][head]
    target = h["target_year"]
    aligned = [r["base_year"] for r in ch.values() if r.get("aligned")]
    same = sorted({r["base_year"] for r in ch.values() if not r.get("aligned")} | {target})
    nodata = [f"{y} declares {_minus(f'{v:g}')}" for y, v in res["china_nodata"].items() if v is not None]
    c = {
        "china_bases": "/".join(str(r["base_year"]) for r in ch.values()),
        "china_pixel": _length(h["pixel_m"][0]),
        "head_span": _word(target - h["base_year"]),
        "map_png": f"china_{h['base_year']}_{target}.png",
        "city_counts": ", ".join(f"{r['base_year']}: {r['cities']:,}" for r in ch.values()),
        "nodata_note": ", ".join(nodata) or "no file declares a nodata value",
        "aligned_years": "/".join(map(str, aligned)),
        "same_grid_years": "/".join(map(str, same)),
        "crossing_pairs": ", ".join(k for k, r in ch.items() if r.get("aligned")),
        "same_grid_pairs": ", ".join(k for k, r in ch.items() if not r.get("aligned")),
        "same_grid_span": " and ".join(
            _span(r["target_year"] - r["base_year"]) for r in ch.values() if not r.get("aligned")
        ),
    }
    al = h.get("aligned") or next((r["aligned"] for r in ch.values() if r.get("aligned")), None)
    if al:
        px, py = h["pixel_m"]
        dx, dy = al["offset_x_m"], al["offset_y_m"]
        c.update(
            offset_x=f"{dx:+.1f}",
            offset_y=f"{dy:+.1f}",
            offset_x_round=_minus(f"{dx:+.0f}"),
            offset_y_round=_minus(f"{dy:+.0f}"),
            offset_px=f"{abs(dx) / px:.2f} and {abs(dy) / py:.2f}",
        )
    yt = {int(r["year"]): r for r in res["year_totals"]}
    if aligned and max(aligned) < same[0] and max(aligned) in yt and same[0] in yt:
        y0, y1 = max(aligned), same[0]
        c.update(
            break_y0=str(y0),
            break_y1=str(y1),
            d_lit=_signed(yt[y1]["lit_pixels"] / yt[y0]["lit_pixels"] - 1),
            d_tot=_signed(yt[y1]["total_dn"] / yt[y0]["total_dn"] - 1),
        )
    return c


def _shanghai(sh: dict) -> dict[str, str]:
    years = sorted(int(y) for y in sh["series_total"])
    first, last, era = years[0], years[-1], sh["viirs_era"]
    tot = {int(k): v for k, v in sh["series_total"].items()}
    return {
        "sh_first": str(first),
        "sh_last": str(last),
        "sh_era_prev": str(era - 1),
        "sh_pixel": _about(sh["grid"]["pixel_m_at_equator"]),
        "sh_change_study": _signed(tot[sh["target"]] / tot[sh["base"]] - 1),
        "sh_change_after": _signed(tot[last] / tot[sh["target"]] - 1),
        "series_list": ", ".join(f"{y}: {tot[y] / 1e3:.1f}" for y in years),
        "shanghai_table": T.shanghai_units(sh, years=f"{first}–{last}", era_years=f"{era}–{last}"),
        "shanghai_largest_table": T.shanghai_largest(sh["light"]["table"]),
        "districts_table": T.districts(sh["districts"]["table"]),
    }


def _sensitivity(res: dict, target: int) -> dict[str, str]:
    d = res["sensitivity_design"]
    ext = f"{d['china_extraction_base']}→{target}"
    rows = [r for r in res["sensitivity_china"] if r["pair"] == ext]
    shares = [r["share"] for r in rows if "gain" not in r["variant"]]
    return {
        "cropped": " (cropped)" if res.get("window") else "",
        "ext_pair": ext,
        "resampling_pairs": " and ".join(f"{y}→{target}" for y in d["china_resampling_bases"]),
        "sens_lit_lo": f"{min(d['china_lit_dn']):g}",
        "sens_lit_hi": f"{max(d['china_lit_dn']):g}",
        "city_min": f"{min(r['cities'] for r in rows):,}",
        "city_max": f"{max(r['cities'] for r in rows):,}",
        "share_lo": T.pct(min(shares)),
        "share_hi": T.pct(max(shares)),
        "sensitivity_table": T.sensitivity(res["sensitivity_china"]),
    }


def _context(res: dict, head: str, *, fig_prefix: str, command: str) -> dict[str, str]:
    p = res["params"]
    w = res.get("window")
    ctx = {
        "command": command,
        "window": str(w),
        "window_box": str(WINDOWS.get(w, "")) if isinstance(w, str) else "",
        "prefix": fig_prefix,
        **_study(res["study"]),
        **_china(res, head),
        "china_table": T.china_pairs(res["china"], decline=p["decline"], growing_pct=res["definitions"]["growing_pct"]),
        "this_run_rows": T.this_run_rows(res["china"]),
        "year_totals_table": T.year_totals(res["year_totals"], lit_dn=p["lit_dn"]),
        "places_tables": T.places(res["places"]),
    }
    if res.get("largest"):
        ctx["largest_table"] = T.largest(res["largest"])
    if res.get("provinces_2018_2021"):
        ctx["provinces_table"] = T.provinces(res["provinces_2018_2021"])
    if res.get("shanghai"):
        ctx.update(_shanghai(res["shanghai"]))
        sh, pa = res["shanghai"], res["study"]["paper"]
        same = (sh["base"], sh["target"]) == (pa["base"], pa["target"])
        ctx["sh_vs_study"] = "the study's years" if same else f"not the study's {pa['years']}"
    if res.get("sensitivity_china"):
        ctx.update(_sensitivity(res, res["china"][head]["target_year"]))
    if res.get("national"):
        nat = national_context(res, prefix=fig_prefix)
        clash = sorted(set(ctx) & set(nat))
        if clash:  # a national placeholder would overwrite another section's number
            raise KeyError(f"report: national placeholders {clash} collide with other sections'; rename them.")
        ctx.update(nat)
    return ctx


# --------------------------------------------------------------------------- which blocks apply
def _places_context(res: dict, head: str) -> dict[str, str]:
    lines = []
    for k, recs in res["places"].items():
        shr = [r["name"] for r in recs if r.get("shrinking")]
        lines.append(f"{k}: {', '.join(shr) if shr else 'none'}")
    recs = res["places"].get(head, [])
    return {
        "places_lines": "; ".join(lines),
        "places_head_shrinking": str(sum(bool(r.get("shrinking")) for r in recs)),
        "places_head_n": str(len(recs)),
    }


def _noise_changes_nothing(rows: list[dict]) -> bool:
    keys = ("cities", "classified", "shrinking")
    noise = [r for r in rows if r["variant"].startswith("noise floor")]
    return bool(noise) and all(r[k] == rows[0][k] for r in noise for k in keys)


def render_markdown(
    res: dict, *, fig_prefix: str = "replication", command: str = "nightlight replicate --out docs/replication"
) -> str:
    """The replication report; every number is read from ``res`` (the output of this run)."""
    S = sections()
    head = f"{HEADLINE_BASE_YEAR}→{CHINA_TARGET_YEAR}"
    if head not in res["china"]:
        head = next(iter(res["china"]))
    # ``head``: the headline pair, for ``${head.…}``
    ctx = _Context(_context(res, head, fig_prefix=fig_prefix, command=command), {**res, "head": res["china"][head]})
    s_rows = {(r["pair"], r["variant"]): r for r in res.get("sensitivity_china", [])}
    nn = s_rows.get((head, "nearest for 2021"))
    if nn:
        ctx.update(nn_shrinking=f"{nn['shrinking']:,}", nn_share=T.pct(nn["share"]))
    if res.get("places"):
        ctx.update(_places_context(res, head))
    has = {
        "shanghai": bool(res.get("shanghai")),
        "sensitivity": bool(res.get("sensitivity_china")),
        "sensitivity_shanghai": bool(res.get("sensitivity_shanghai")),
        "grids": "offset_x" in ctx,
        "break": "break_y0" in ctx,
        "largest": bool(res.get("largest")),
        "provinces": bool(res.get("provinces_2018_2021")),
        "window": bool(res.get("window")),
        "national": bool(res.get("national")),
    }
    nat = res.get("national") or {}

    def fill(name: str, when: bool = True) -> str:
        return S[name].substitute(ctx) if when else ""

    if has["sensitivity_shanghai"]:
        quiet = _noise_changes_nothing(res["sensitivity_shanghai"])
        ctx["noise_effect"] = fill("noise_changes_nothing" if quiet else "noise_changes_counts")
        ctx["sensitivity_shanghai_table"] = T.sensitivity(res["sensitivity_shanghai"])
    ctx["cities_range"] = fill("disc_cities_range", has["sensitivity"])
    ctx["lit_shanghai"] = fill("lit_shanghai", has["shanghai"])
    ctx["window_note"] = fill("window_note", has["window"])
    ctx["break_note"] = fill("break_note", has["break"])
    ctx["intro_more"] = _lines(fill("intro_shanghai", has["shanghai"]), fill("intro_sensitivity", has["sensitivity"]))
    ctx["intro_national"] = fill("intro_national" if has["national"] else "intro_no_national")
    ctx["params_heading"] = (
        "DMSP-like and Shanghai runs: parameters, fixed before any count was looked at"
        if has["national"]
        else "Parameters, fixed before any count was looked at"
    )
    if has["national"]:
        ctx["n_window_note"] = fill("national_window_note", bool(nat.get("window")))
        ctx["n_calibrated"] = fill("national_calibrated", "calibrated" in nat)
        ctx["n_calibrated_disc"] = fill("national_calibrated_disc") if "calibrated" in nat else "."
        ctx["n_product_clause"] = fill("national_product_clause", "calibrated" in nat)
        ctx["n_taiwan_clause"] = fill("national_taiwan_clause", "census" in nat)
        ctx["n_series"] = fill("national_series", "series" in nat)
        ctx["n_census"] = fill("national_census", "census" in nat)
        ctx["n_robust"] = fill("national_robust", "robustness" in nat)
    ctx["verdict"] = fill("verdict", "robustness" in nat and bool(res.get("kenya")))
    ctx["kenya"] = fill("kenya", bool(res.get("kenya")))
    ctx["national"] = fill("national", has["national"])
    for name in ("grids", "largest", "provinces", "shanghai", "sensitivity", "sensitivity_shanghai"):
        ctx[name] = fill(name, has[name])
    ctx["discussion"] = _lines(
        fill("disc_national", has["national"]),
        fill("disc_national_series", "series" in nat),
        fill("disc_national_census", "census" in nat),
        fill("disc_cities"),
        fill("disc_blooming", has["largest"]),
        fill("disc_break", has["break"]),
        fill("disc_sensor"),
        fill("disc_resampling", nn is not None and "offset_px" in ctx),
        fill("disc_robustness", has["sensitivity"]),
        fill("disc_places", bool(res.get("places"))),
        fill("disc_shanghai", has["shanghai"]),
        fill("disc_not_done_national" if has["national"] else "disc_not_done"),
    )
    md = fill("report")
    return re.sub(r"\n{3,}", "\n\n", md).rstrip("\n") + "\n"  # an absent block leaves no gap


def _lines(*blocks: str) -> str:
    return "\n".join(b for b in blocks if b)
