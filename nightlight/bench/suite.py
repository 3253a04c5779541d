"""Run the cases: one subprocess per measurement, nightlight first, then every peer at its best.

:func:`run_suite` returns the JSON-ready record the table, the JSON and the markdown
are made from (:mod:`nightlight.bench.report`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nightlight._version import __version__
from nightlight.bench.harness import MODES, NIGHTLIGHT, Case, Tool, result_path, threads
from nightlight.bench.registry import select

#: Default folder of cached inputs and nightlight's results (reused between runs).
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "nightlight-bench"
#: A measurement that takes longer is stopped and reported as ``timeout`` (seconds).
DEFAULT_TIMEOUT_S = 1800.0
#: Seconds of timed runs before a tool is not repeated, per mode (``--quick`` keeps to its 2 minutes).
REPEAT_BUDGET = {"quick": 2.0, "default": 10.0, "full": 10.0}
#: GDAL's block cache in every measurement, so peak RSS compares the tools, not GDAL's default 5 % of RAM.
GDAL_CACHEMAX_MB = "256"

Event = Callable[[str], None]


def params_for(case: Case, mode: str) -> dict[str, Any]:
    """The case's parameters in ``mode``; ``full`` runs the default cases at their default sizes; a case
    picked with ``--only`` outside its modes runs at its largest."""
    if mode in case.sizes:
        return dict(case.sizes[mode])
    if mode == "full" and "default" in case.sizes:
        return dict(case.sizes["default"])
    for m in reversed(MODES):
        if m in case.sizes:
            return dict(case.sizes[m])
    raise KeyError(f"case {case.name!r} has no sizes")


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, memory, Python, platform, nightlight version."""
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu_count": os.cpu_count(),
        "threads": threads(),
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "nightlight": __version__,
    }


def _child(
    action: str,
    case: Case,
    params: Mapping[str, Any],
    workdir: Path,
    timeout: float,
    tool: str = "",
    variant: str = "",
    env_extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python -m nightlight.bench.run`` once; its last stdout line is the record."""
    cmd = [sys.executable, "-m", "nightlight.bench.run", action, case.name]
    cmd += ["--params", json.dumps(dict(params)), "--workdir", str(workdir)]
    if tool:
        cmd += ["--tool", tool, "--variant", variant]
    env = {**os.environ, "GDAL_CACHEMAX": os.environ.get("GDAL_CACHEMAX", GDAL_CACHEMAX_MB)}
    env.setdefault("NL_BENCH_THREADS", str(threads()))
    env.update(env_extra or {})
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"stopped after {timeout:g} s (--timeout)"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    try:
        rec = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        rec = {"status": "error", "error": f"exit code {proc.returncode}, no result: {tail}"}
    rec["process_s"] = round(time.perf_counter() - t0, 2)
    if rec.get("status") == "error" and proc.stderr:
        rec.setdefault("stderr_tail", proc.stderr.strip().splitlines()[-5:])
    return rec


def _skipped(tool: Tool, missing: list[str]) -> dict[str, Any]:
    return {
        "label": tool.label,
        "status": "skipped",
        "reason": f"not installed: {', '.join(missing)}",
        "pip": tool.pip,
        "seconds": None,
        "ratio": None,
        "peak_rss_mb": None,
        "max_diff": None,
    }


def _best_variant(tool: Tool, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fastest variant that ran and agreed; else the first failure, as measured."""
    ok = {v: r for v, r in runs.items() if r.get("status") == "ok"}
    pick = min(ok, key=lambda v: ok[v]["seconds"]) if ok else next(iter(runs))
    rec = {"label": tool.label + (f" [{pick}]" if pick else ""), **runs[pick]}
    if len(runs) > 1:
        rec["variants"] = {v: (r["seconds"] if r.get("status") == "ok" else r.get("status")) for v, r in runs.items()}
    return rec


def run_case(
    case: Case,
    mode: str,
    workdir: Path,
    *,
    params: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_event: Event | None = None,
) -> dict[str, Any]:
    """Measure nightlight and every peer of one case; the case's record (status, figures, targets)."""
    say = on_event or (lambda _msg: None)
    p = {**params_for(case, mode), **(params or {})}
    env = {"NL_BENCH_REPEAT_BUDGET": os.environ.get("NL_BENCH_REPEAT_BUDGET", str(REPEAT_BUDGET[mode]))}
    out: dict[str, Any] = {"case": case.name, "task": case.task, "size": case.size_label(p), "params": p}
    reason = case.available()
    if reason:
        return {**out, "status": "unavailable", "reason": reason, "nightlight": {}, "peers": {}, "targets": []}
    t0 = time.perf_counter()
    cached = case.inputs is not None and all(f.exists() for f in case.inputs(p, workdir))
    if case.prepare is not None and not cached:
        say(f"{case.name}: preparing inputs")
        prep = _child("prepare", case, p, workdir, timeout)
        if prep.get("status") != "ok":
            return {**out, "status": "error", "error": prep.get("error"), "nightlight": {}, "peers": {}, "targets": []}
    say(f"{case.name}: nightlight")
    result_path(workdir, case.name, p).unlink(missing_ok=True)  # never check peers against a stale result
    nl = _child("measure", case, p, workdir, timeout, tool=NIGHTLIGHT, env_extra=env)
    nl["label"] = case.tools[0].label
    peers: dict[str, dict[str, Any]] = {}
    for tool in case.tools[1:]:
        missing = tool.missing()
        if missing:
            peers[tool.name] = _skipped(tool, missing)
            say(f"{case.name}: {tool.name} skipped ({tool.pip})")
            continue
        runs = {}
        for variant in tool.variants:
            say(f"{case.name}: {tool.name}" + (f" [{variant}]" if variant else ""))
            runs[variant] = _child("measure", case, p, workdir, timeout, tool=tool.name, variant=variant, env_extra=env)
        rec = _best_variant(tool, runs)
        ok = rec.get("status") == "ok" and nl.get("status") == "ok"
        rec["ratio"] = rec["seconds"] / nl["seconds"] if ok and nl["seconds"] > 0 else None
        peers[tool.name] = rec
    statuses = [nl.get("status")] + [r.get("status") for r in peers.values()]
    status = next((s for s in ("mismatch", "error", "timeout") if s in statuses), "ok")
    targets = [{"text": t.text, "peer": t.peer, "met": t.met(nl, peers)} for t in case.targets]
    return {
        **out,
        "status": status,
        "nightlight": nl,
        "peers": peers,
        "targets": targets,
        "tolerance": case.tolerance,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def run_suite(
    mode: str = "default",
    *,
    only: list[str] | tuple[str, ...] | None = None,
    workdir: str | os.PathLike | None = None,
    params: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_event: Event | None = None,
) -> dict[str, Any]:
    """Run the cases of ``mode`` (or ``only`` those) and return the whole record.

    Parameters
    ----------
    mode : {"quick", "default", "full"}
        Sizes: ``quick`` < 2 min, ``default`` < 10 min on 2 cores; ``full`` adds the global runs.
    only : list of str, optional
        Case names or prefixes (any mode's cases).
    workdir : path, optional
        Cached inputs and nightlight's results (default :data:`DEFAULT_WORKDIR`).
    params : mapping, optional
        Overrides of every selected case's parameters (e.g. a smaller size in tests).
    timeout : float
        Seconds after which one measurement is stopped.
    on_event : callable, optional
        Called with a one-line progress message before each measurement.
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: use one of {', '.join(MODES)}")
    wd = Path(workdir) if workdir is not None else DEFAULT_WORKDIR
    wd.mkdir(parents=True, exist_ok=True)
    cases = select(mode, only)
    started = _dt.datetime.now(_dt.UTC)
    load_start, t0 = _load(), time.perf_counter()
    results = [run_case(c, mode, wd, params=params, timeout=timeout, on_event=on_event) for c in cases]
    return {
        "mode": mode,
        "only": list(only or []),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - t0, 1),
        "load_start": load_start,
        "load_end": _load(),
        "machine": machine(),
        "workdir": str(wd),
        "cases": results,
    }
