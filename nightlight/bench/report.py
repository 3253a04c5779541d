"""The suite's record as one table (rich, on the terminal), as JSON and as markdown.

One row per (case, peer): the task, its size, nightlight's time, the peer's time,
the ratio peer ÷ nightlight (> 1: nightlight is faster), both peak RSS figures, the
largest difference between their results. The project's own speed targets stay in the
JSON record (``targets``), not in the table a user reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

COLUMNS = ("task", "size", "nightlight s", "peer", "peer s", "ratio", "peak RSS MiB nl / peer", "max Δ")

LEGEND = (
    "nightlight s, peer s: best of the timed runs (wall, warm: imports and numba compile excluded); "
    "ratio = peer seconds ÷ nightlight seconds, > 1 means nightlight is faster; "
    "peak RSS: each measurement's own process (inputs in memory included); "
    "max Δ: the largest |nightlight − peer| / max(|peer|, 1) over the compared results "
    "(relative, absolute below 1), checked on the first run — a difference beyond the case's "
    "tolerance is a MISMATCH and the peer is not timed."
)


def _s(x: Any) -> str:
    if x is None:
        return "—"
    x = float(x)
    return f"{x:.3f}" if x < 1 else (f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:,.0f}")


def _ratio(r: Any) -> str:
    if r is None:
        return "—"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def _diff(d: Any) -> str:
    if d is None:
        return "—"
    if d == "inf" or (isinstance(d, float) and math.isinf(d)):
        return "differs"
    return "0" if d == 0 else f"{float(d):.1e}"


def _rss(x: Any) -> str:
    return "—" if x is None else f"{float(x):,.0f}"


def _peer_time(p: Mapping[str, Any]) -> str:
    st = p.get("status")
    if st == "ok":
        return _s(p.get("seconds")) + (" *" if p.get("note") else "")
    if st == "skipped":
        return f"skipped: `{p.get('pip')}`"
    if st == "mismatch":
        return f"MISMATCH (Δ {_diff(p.get('max_diff'))})"
    return f"{st}: {p.get('error', '')}"[:80]


def _target(case: Mapping[str, Any], peer: str | None) -> str:
    out = []
    for t in case.get("targets", []):
        if t.get("peer") == peer:
            met = t["met"]
            verdict = "met" if met else "missed" if met is False else "not measured"
            r = case.get("peers", {}).get(peer, {}).get("ratio") if peer else None
            if r:  # a floor is a peer faster than nightlight: say the multiple it costs, not 0.02×
                verdict += f" ({1 / r:.1f}× the floor)" if r < 1 else f" ({r:.1f}×)"
            out.append(f"{t['text']}: {verdict}")
    return "; ".join(out)


def rows(record: Mapping[str, Any]) -> Iterator[tuple[dict[str, str], str]]:
    """(cells by column, style) for every row of the table: ``ok``, ``fail``, ``skip`` or ``note``."""
    for case in record["cases"]:
        nl = case.get("nightlight", {})
        head = {"task": case["task"], "size": case["size"]}
        if case["status"] == "unavailable":
            yield {**head, "nightlight s": "—", "peer": f"not run: {case['reason']}"}, "skip"
            continue
        if nl.get("status") != "ok":
            nl_s = f"{nl.get('status', case['status'])}: {nl.get('error', case.get('error', ''))}"[:80]
        else:
            nl_s = _s(nl.get("seconds"))
        peers = case.get("peers", {})
        if not peers:
            yield {**head, "nightlight s": nl_s, "peak RSS MiB nl / peer": _rss(nl.get("peak_rss_mb"))}, "ok"
        for i, (name, p) in enumerate(peers.items()):
            first = i == 0
            cells = {
                "task": head["task"] if first else "",
                "size": head["size"] if first else "",
                "nightlight s": nl_s if first else "",
                "peer": p.get("label", name),
                "peer s": _peer_time(p),
                "ratio": _ratio(p.get("ratio")),
                "peak RSS MiB nl / peer": f"{_rss(nl.get('peak_rss_mb'))} / {_rss(p.get('peak_rss_mb'))}",
                "max Δ": _diff(p.get("max_diff")),
                "target": "; ".join(x for x in (_target(case, name), _target(case, None) if first else "") if x),
            }
            style = {"ok": "ok", "skipped": "skip"}.get(p.get("status", ""), "fail")
            yield cells, style


def notes(record: Mapping[str, Any]) -> list[str]:
    """The footnotes (``*`` in the table): subsets, strategies tried, phase timings."""
    out = []
    for case in record["cases"]:
        for name, p in case.get("peers", {}).items():
            bits = [p["note"]] if p.get("note") else []
            if p.get("variants"):
                tried = (f"{v} {_s(s) if isinstance(s, float) else s}" for v, s in p["variants"].items())
                bits.append("variants (s): " + ", ".join(tried))
            if p.get("info"):
                bits.append(json.dumps(p["info"]))
            if bits:
                out.append(f"{case['case']} / {name}: " + "; ".join(bits))
        info = case.get("nightlight", {}).get("info")
        if info:
            out.append(f"{case['case']} / nightlight: " + json.dumps(info))
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

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in record.items() if k != "cases"}
    clean["cases"] = list(record["cases"])
    path.write_text(json.dumps(json.loads(dumps(clean)), indent=1, ensure_ascii=False) + "\n")
    return path


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(record))
    return path
