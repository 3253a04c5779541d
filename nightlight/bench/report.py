"""The suite's record as one table (rich, on the terminal), as JSON and as markdown.

One row per (case, peer): the case (task and size), nightlight's median time and its
spread, the peer's, the ratio of the medians peer ÷ nightlight (> 1: nightlight is
faster) with the range of the per-round ratios, both peak RSS figures, and the verdict
on the project's goal for that peer (met / missed, on the medians). The goals themselves
stay in the JSON record (``targets``), not in the table a user reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nightlight.checkpoint import write_atomic

COLUMNS = ("case", "nightlight s", "peer", "peer s", "ratio", "peak MB nl / peer", "verdict")

LEGEND = (
    "s: median of the timed runs (min–max), wall, warm (imports and numba compile excluded); nightlight and "
    "its peers run in turn, one run each per round, each in its own process; ratio = peer median ÷ nightlight "
    "median (> 1: nightlight is faster), in brackets the range of the per-round ratios; peak MB: each process's "
    "peak RSS (inputs in memory included); every peer's first result is checked against nightlight's "
    "(largest |nightlight − peer| / max(|peer|, 1) in the JSON as max_diff): beyond the case's tolerance it is a "
    "MISMATCH and not timed; verdict: the project's goal for this row, on the medians (goals in the JSON)."
)


def _s(x: Any) -> str:
    if x is None:
        return "—"
    x = float(x)
    return f"{x:.3f}" if x < 1 else (f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:,.0f}")


def _timed(m: Mapping[str, Any]) -> str:
    """``median (min–max)`` of a measurement, or why there is none."""
    st = m.get("status")
    if st == "ok":
        return f"{_s(m['seconds'])} ({_s(m['min_s'])}–{_s(m['max_s'])})" + (" *" if m.get("note") else "")
    if st == "skipped":
        return f"skipped: `{m['pip']}`" if m.get("pip") else f"skipped: {m.get('reason')}"
    if st == "mismatch":
        d = m.get("max_diff")
        return (
            "MISMATCH (" + ("differs" if d == "inf" or (isinstance(d, float) and math.isinf(d)) else f"Δ {d:.1e}") + ")"
        )
    return f"{st}: {m.get('error', '')}"[:80]


def _ratio(p: Mapping[str, Any]) -> str:
    r = p.get("ratio")
    if r is None:
        return "—"
    f = (lambda x: f"{x:.2f}") if r < 10 else (lambda x: f"{x:.1f}")
    return f"{f(r)}× ({f(p['ratio_min'])}–{f(p['ratio_max'])})"


def _rss(x: Any) -> str:
    return "—" if x is None else f"{float(x):,.0f}"


def _verdict(case: Mapping[str, Any], peer: str | None) -> str:
    targets = case.get("targets", [])
    # a case with several goals says which one each verdict is about
    named = [(f"{t['text']}: " if len(targets) > 1 else "", t["met"]) for t in targets if t.get("peer") == peer]
    return "; ".join(n + ("goal met" if m else "goal missed" if m is False else "not measured") for n, m in named)


def rows(record: Mapping[str, Any]) -> Iterator[tuple[dict[str, str], str]]:
    """(cells by column, style) for every row of the table: ``ok``, ``fail`` or ``skip``."""
    for case in record["cases"]:
        nl = case.get("nightlight", {})
        head = f"{case['task']}, {case['size']}"
        if case["status"] == "unavailable":
            yield {"case": head, "nightlight s": "—", "peer": f"not run: {case['reason']}"}, "skip"
            continue
        nl_s = _timed(nl) if nl else f"{case['status']}: {case.get('error', '')}"[:80]
        peers = case.get("peers", {}) or {"": {}}
        for i, (name, p) in enumerate(peers.items()):
            first = i == 0
            verdicts = (_verdict(case, name), _verdict(case, None) if first else "")
            cells = {
                "case": head if first else "",
                "nightlight s": nl_s if first else "",
                "peer": p.get("label", name),
                "peer s": _timed(p) if p else "",
                "ratio": _ratio(p),
                "peak MB nl / peer": f"{_rss(nl.get('peak_rss_mb'))} / {_rss(p.get('peak_rss_mb'))}",
                "verdict": "; ".join(v for v in verdicts if v),
            }
            yield cells, {"ok": "ok", "skipped": "skip", None: "ok"}.get(p.get("status"), "fail")


def notes(record: Mapping[str, Any]) -> list[str]:
    """The footnotes (``*`` in the table): subsets, strategies tried, phase timings."""
    out = []
    for case in record["cases"]:
        for name, p in [("nightlight", case.get("nightlight", {})), *case.get("peers", {}).items()]:
            bits = [p["note"]] if p.get("note") else []
            if p.get("variants"):
                tried = (f"{v} {_s(s) if isinstance(s, float) else s}" for v, s in p["variants"].items())
                bits.append("variants, median s: " + ", ".join(tried))
            bits += [json.dumps(p["info"])] if p.get("info") else []
            if bits:
                out.append(f"{case['case']} / {name}: " + "; ".join(bits))
    return out


def header(record: Mapping[str, Any]) -> str:
    m = record["machine"]
    load = record.get("load_start"), record.get("load_end")
    cmd = f"nightlight bench --{record['mode']}" + "".join(f" --only {o}" for o in record.get("only", []))
    return (
        f"{cmd} ({m['nightlight']}), {record['started_utc']}, {record['wall_s']:.0f} s; "
        f"{m['cpu_count']} CPUs ({m['threads']} threads), {m['memory_gb']} GB, {m['platform']}, Python {m['python']}; "
        f"load average {load[0]} at the start, {load[1]} at the end"
    )


def print_table(record: Mapping[str, Any], console: Any = None) -> None:
    """The rich table on ``console`` (default: stdout)."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        probe = Console()
        # a pipe or a file gets the whole table, not an 80-column wrap of it
        console = probe if probe.is_terminal and probe.width >= 150 else Console(width=190)
    table = Table(title=header(record), title_justify="left", show_lines=False, caption=LEGEND, caption_justify="left")
    for col in COLUMNS:
        table.add_column(col, overflow="fold", justify="right" if col.endswith((" s", "ratio")) else "left")
    styles = {"ok": None, "skip": "dim", "fail": "bold red", "note": "dim"}
    for cells, style in rows(record):
        table.add_row(*(cells.get(c, "") for c in COLUMNS), style=styles[style])
    console.print(table)
    for n in notes(record):
        console.print(f"* {n}", style="dim", highlight=False)


def write_json(record: Mapping[str, Any], path: str | Path) -> Path:
    """The record as JSON: ``cases`` is one object per case (``task``, ``nightlight``, ``peers``: seconds, ratio …)."""
    from nightlight.bench.harness import dumps

    text = json.dumps(json.loads(dumps(record)), indent=1, ensure_ascii=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def markdown(record: Mapping[str, Any]) -> str:
    """The table as GitHub markdown, with the header line, the legend and the footnotes."""

    def esc(x: str) -> str:
        return x.replace("|", "\\|")

    lines = [f"_{header(record)}_", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cells, style in rows(record):
        vals = [esc(cells.get(c, "")) for c in COLUMNS]
        if style == "fail":
            vals = [f"**{v}**" if v else v for v in vals]
        lines.append("| " + " | ".join(vals) + " |")
    lines += ["", LEGEND, ""]
    lines += [f"- \\* {esc(n)}" for n in notes(record)]
    return "\n".join(lines) + "\n"


def write_markdown(record: Mapping[str, Any], path: str | Path) -> Path:
    text = markdown(record)
    return write_atomic(path, lambda tmp: tmp.write_text(text))
