"""Run the cases: one process per tool, nightlight checked first, then all timed in turn (A B A B …).

Every tool (each variant of a peer: the fastest median is kept, the peer "at its best")
is a live :mod:`nightlight.bench.run` process; after the checks, each of ``repeats``
rounds asks every process that agreed for one timed run, so a burst of load from
elsewhere lands on nightlight and its peers alike and the median of each, and the
range of the per-round ratios, say how much one noisy run could have moved a verdict.

:func:`run_suite` returns the JSON-ready record the table, the JSON and the markdown
are made from (:mod:`nightlight.bench.report`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from subprocess import PIPE, Popen
from typing import Any

from nightlight._version import __version__
from nightlight.bench.harness import MODES, NIGHTLIGHT, Case, Tool, result_path, spread, threads
from nightlight.bench.registry import select

#: Default folder of cached inputs and nightlight's results (reused between runs).
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "nightlight-bench"
#: A measurement that takes longer is stopped and reported as ``timeout`` (seconds).
DEFAULT_TIMEOUT_S = 1800.0
#: Timed runs of every tool, per mode (``NL_BENCH_REPEATS``); ``--quick`` keeps to its 2 minutes.
REPEATS = {"quick": 3, "default": 5, "full": 5}
#: GDAL's block cache in every measurement, so peak RSS compares the tools, not GDAL's default 5 % of RAM.
GDAL_CACHEMAX_MB = "256"


def params_for(case: Case, mode: str) -> dict[str, Any]:
    """The case's parameters in ``mode``; ``full`` runs the default cases at their default sizes; a case
    picked with ``--only`` outside its modes runs at its largest."""
    for m in (mode, "default" if mode == "full" else mode, *reversed(MODES)):
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


class _Server:
    """A ``python -m nightlight.bench.run`` process and a thread that queues its JSON lines."""

    def __init__(self, action: str, case: Case, params: Mapping[str, Any], workdir: Path, timeout: float, **kw: Any):
        cmd = [sys.executable, "-m", "nightlight.bench.run", action, case.name]
        cmd += ["--params", json.dumps(dict(params)), "--workdir", str(workdir)]
        cmd += [x for k in ("tool", "variant") if k in kw for x in (f"--{k}", kw[k])]
        env = {**os.environ, "GDAL_CACHEMAX": os.environ.get("GDAL_CACHEMAX", GDAL_CACHEMAX_MB)}
        env.setdefault("NL_BENCH_THREADS", str(threads()))
        self.err = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty peer never blocks on it
        self.timeout, self.t0, self.lines = timeout, time.perf_counter(), queue.Queue[dict | None]()
        self.proc = Popen(cmd, stdin=PIPE, stdout=PIPE, stderr=self.err, text=True, env=env)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for ln in self.proc.stdout:
            if ln.startswith("{"):
                self.lines.put(json.loads(ln))
        self.lines.put(None)

    def read(self) -> dict[str, Any]:
        """The next record; a timeout or a process that ended without one is an error record."""
        try:
            rec = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            self.proc.kill()
            return {"status": "timeout", "error": f"stopped after {self.timeout:g} s (--timeout)"}
        if rec is None:
            self.err.seek(0)
            tail = self.err.read().strip().splitlines()[-5:]
            return {"status": "error", "error": f"exit code {self.proc.wait()}, no result: {' | '.join(tail[-3:])}"}
        return rec

    def ask(self, line: str) -> dict[str, Any]:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the process ended: read() says how
        return self.read()

    def close(self) -> dict[str, Any]:
        rec = self.ask("stop")  # a process that already ended (a mismatch) left its closing line queued
        self.proc.wait()
        self.err.close()
        return {**rec, "process_s": round(time.perf_counter() - self.t0, 2)}


def _skipped(tool: Tool, reason: str, pip: str = "") -> dict[str, Any]:
    rec = {"label": tool.label, "status": "skipped", "reason": reason, "pip": pip}
    return {**rec, "seconds": None, "ratio": None, "peak_rss_mb": None, "max_diff": None}


def _interleave(servers: dict[tuple[str, str], _Server], recs: dict[tuple[str, str], dict], repeats: int) -> None:
    """``repeats`` rounds, each one timed run of every tool that agreed, in turn (A B A B …)."""
    times: dict[tuple[str, str], list[float]] = {k: [] for k in servers}
    cpu: dict[tuple[str, str], list[float]] = {k: [] for k in servers}
    for _ in range(repeats):
        for key, srv in servers.items():
            if recs[key]["status"] != "ok":
                continue
            got = srv.ask("run")
            if "s" in got:
                times[key].append(got["s"])
                cpu[key].append(got["cpu_s"])
            else:
                recs[key].update(got)
    for key, srv in servers.items():
        end = srv.close()
        recs[key].update(peak_rss_mb=end.get("peak_rss_mb"), info=end.get("info") or {}, process_s=end["process_s"])
        if recs[key]["status"] == "ok":
            recs[key].update(spread(times[key]), cpu_s=sorted(cpu[key])[len(cpu[key]) // 2])


def _versus(nl: Mapping[str, Any], peer: Mapping[str, Any]) -> dict[str, Any]:
    """Ratio of the medians (peer ÷ nightlight) and the range of the per-round ratios."""
    if nl.get("status") != "ok" or peer.get("status") != "ok":
        return {"ratio": None}
    rounds = [p / n for p, n in zip(peer["runs_s"], nl["runs_s"]) if n > 0]
    return {"ratio": peer["seconds"] / nl["seconds"], "ratio_min": min(rounds), "ratio_max": max(rounds)}


def run_case(
    case: Case,
    mode: str,
    workdir: Path,
    *,
    params: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_event: Callable[[str], None] | None = None,
    repeats: int | None = None,
) -> dict[str, Any]:
    """Check nightlight and every peer of one case, then time them in turn; the case's record."""
    say = on_event or (lambda _msg: None)
    p = {**params_for(case, mode), **(params or {})}
    n = repeats or int(os.environ.get("NL_BENCH_REPEATS", REPEATS[mode]))
    out: dict[str, Any] = {"case": case.name, "task": case.task, "size": case.size_label(p), "params": p}
    none: dict[str, Any] = {"nightlight": {}, "peers": {}, "targets": []}
    reason = case.available()
    if reason:
        return {**out, "status": "unavailable", "reason": reason, **none}
    t0 = time.perf_counter()
    if case.prepare is not None and not (case.inputs is not None and all(f.exists() for f in case.inputs(p, workdir))):
        say(f"{case.name}: preparing inputs")
        prep = _Server("prepare", case, p, workdir, timeout)
        rec = prep.read()
        prep.close()
        if rec.get("status") != "ok":
            return {**out, "status": "error", "error": rec.get("error"), **none}
    result_path(workdir, case.name, p).unlink(missing_ok=True)  # never check peers against a stale result
    servers: dict[tuple[str, str], _Server] = {}
    recs: dict[tuple[str, str], dict[str, Any]] = {}
    skipped: dict[str, dict[str, Any]] = {}
    for tool in case.tools:
        missing = tool.missing()
        if missing or mode not in tool.modes:
            why = f"not installed: {', '.join(missing)}" if missing else f"runs in --{'/'.join(tool.modes)} only"
            skipped[tool.name] = _skipped(tool, why, tool.pip if missing else "")
            say(f"{case.name}: {tool.name} skipped ({why})")
            continue
        for variant in tool.variants:
            say(
                f"{case.name}: {tool.name}{f' ({variant})' if variant else ''}: setup and check"
            )  # rich reads [..] as markup
            key = (tool.name, variant)
            servers[key] = _Server("serve", case, p, workdir, timeout, tool=tool.name, variant=variant)
            recs[key] = servers[key].read()  # nightlight's check first: the peers are compared with its result
        if tool.name == NIGHTLIGHT and recs[key]["status"] != "ok":  # nothing to compare the peers with
            nl = {"label": tool.label, **recs[key], **servers[key].close()}
            return {**out, "status": nl["status"], "error": nl.get("error"), **none, "nightlight": nl}
    say(f"{case.name}: {n} rounds of {len(servers)} interleaved runs")
    _interleave(servers, recs, n)
    nl = {"label": case.tools[0].label, **recs[(NIGHTLIGHT, "")]}
    peers: dict[str, dict[str, Any]] = {}
    for tool in case.tools[1:]:
        runs = {v: recs[(tool.name, v)] for v in tool.variants if (tool.name, v) in recs}
        if not runs:
            peers[tool.name] = skipped[tool.name]
            continue
        ok = {v: r for v, r in runs.items() if r.get("status") == "ok"}
        pick = min(ok, key=lambda v: ok[v]["seconds"]) if ok else next(iter(runs))
        rec = {"label": tool.label + (f" ({pick})" if pick else ""), **runs[pick]}
        if len(runs) > 1:
            rec["variants"] = {v: r.get("seconds", r.get("status")) for v, r in runs.items()}
        peers[tool.name] = {**rec, **_versus(nl, rec)}
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
        "repeats": n,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def run_suite(
    mode: str = "default",
    *,
    only: list[str] | tuple[str, ...] | None = None,
    workdir: str | os.PathLike | None = None,
    params: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_event: Callable[[str], None] | None = None,
    repeats: int | None = None,
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
        Called with a one-line progress message before each step.
    repeats : int, optional
        Timed runs of every tool (default :data:`REPEATS` of the mode).
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: use one of {', '.join(MODES)}")
    wd = Path(workdir) if workdir is not None else DEFAULT_WORKDIR
    wd.mkdir(parents=True, exist_ok=True)
    cases = select(mode, only)
    started = _dt.datetime.now(_dt.UTC)
    load_start, t0 = _load(), time.perf_counter()
    results = [run_case(c, mode, wd, params=params, timeout=timeout, on_event=on_event, repeats=repeats) for c in cases]
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
