"""What a benchmark case is, and how a tool is checked and timed (inside its own process).

A :class:`Case` is one task (e.g. "labeling + per-city statistics") at one size per
mode, and the tools that do it: ``tools[0]`` is nightlight, the others are peers.
Every (case, tool, variant) is a :class:`Session` in a fresh Python process
(:mod:`nightlight.bench.run`), so its peak resident memory is its own:

1. ``setup`` loads the inputs (cached on disk by the case's ``prepare``) and ``warmup``
   runs the tool on a small piece (imports, numba cache load); untimed;
2. the first full run is checked against nightlight's result (saved by nightlight's
   session, which always checks first): a difference beyond the case's tolerance is
   status ``mismatch`` and the tool is not timed;
3. the suite then asks every session of the case for one timed run in turn
   (nightlight, peer, nightlight, peer …, :mod:`nightlight.bench.suite`), so a burst
   of load hits both sides; :func:`spread` reports the median and the spread.

Peak RSS is the process's ``ru_maxrss`` (inputs in memory included), the larger of
its own and its children's (:func:`nightlight.progress.peak_rss_mb`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.hashing import fingerprint
from nightlight.progress import peak_rss_mb

MODES = ("quick", "default", "full")
#: How a peer of ``nightlight bench`` is installed.
BENCH_PIP = "pip install -e '.[bench]'"
#: The key of nightlight's own measurement in every case.
NIGHTLIGHT = "nightlight"

Result = dict[str, np.ndarray]


@dataclass(frozen=True)
class Prepared:
    """A tool ready to run: ``run()`` computes the compared result (arrays by name).

    ``scale``: the run covers only ``1/scale`` of the task (a slow peer timed on a
    subset of the polygons); reported seconds are the measured seconds × ``scale``.
    """

    run: Callable[[], Result]
    warmup: Callable[[], Any] | None = None
    scale: float = 1.0
    note: str = ""
    #: filled by ``run`` with JSON-ready details worth reporting (e.g. phase timings)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    """One way of doing a case's task.

    Attributes
    ----------
    name : str
        Key in the JSON (``"scipy"``); ``"nightlight"`` for nightlight's own.
    label : str
        What the table shows (``"scipy.ndimage label + sum_labels"``).
    setup : callable
        ``setup(params, workdir, variant) -> Prepared``; runs in the measurement process.
    requires : tuple of str
        Importable modules the tool needs; one missing → the tool is skipped with ``pip``.
    pip : str
        The install line that adds it (``pip install -e '.[bench]'``).
    variants : tuple of str
        Settings tried in separate measurements; the fastest that agrees is kept
        (a peer "at its best", e.g. exactextract's two strategies).
    modes : tuple of str
        The modes the tool runs in (a peer too slow for the default suite: ``("full",)``).
    """

    name: str
    label: str
    setup: Callable[[Mapping[str, Any], Path, str], Prepared]
    requires: tuple[str, ...] = ()
    pip: str = ""
    variants: tuple[str, ...] = ("",)
    modes: tuple[str, ...] = MODES

    def missing(self) -> list[str]:
        """The required modules that are not importable (found without importing them)."""
        out = []
        for mod in self.requires:
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                out.append(mod)
        return out


@dataclass(frozen=True)
class Target:
    """A goal of the project, checked on the medians (kept in the JSON, shown as the table's verdict).

    ``peer`` with ``min_ratio``: peer median ÷ nightlight median must reach it;
    ``max_seconds`` / ``max_rss_mb``: nightlight's own median time and peak memory.
    """

    text: str
    peer: str | None = None
    min_ratio: float | None = None
    max_seconds: float | None = None
    max_rss_mb: float | None = None

    def met(self, nl: Mapping[str, Any], peers: Mapping[str, Mapping[str, Any]]) -> bool | None:
        """True/False when measured, None when a needed figure is missing."""
        if self.peer is not None:
            ratio = peers.get(self.peer, {}).get("ratio")
            return None if ratio is None or self.min_ratio is None else bool(ratio >= self.min_ratio)
        if nl.get("seconds") is None:
            return None
        ok = True
        if self.max_seconds is not None:
            ok &= nl["seconds"] <= self.max_seconds
        if self.max_rss_mb is not None:
            ok &= nl.get("peak_rss_mb", np.inf) <= self.max_rss_mb
        return bool(ok)


@dataclass(frozen=True)
class Case:
    """One task at one size per mode, done by nightlight (``tools[0]``) and its peers.

    Attributes
    ----------
    name, task : str
        ``--only`` key, and the table's task column.
    sizes : mapping
        Mode (``quick``/``default``/``full``) → parameters; a mode missing means the
        case does not run in it.
    size_label : callable
        ``size_label(params) -> str`` for the table (e.g. ``"8192² px, 67 Mpx"``).
    tools : tuple of Tool
        nightlight first.
    compare : callable
        ``compare(nightlight_result, peer_result) -> float``: the largest difference,
        |nightlight − peer| / max(|peer|, 1) (:func:`max_rel_diff`); ``inf`` when the
        results differ in kind (e.g. another number of components).
    tolerance : float
        Largest difference accepted.
    prepare : callable, optional
        ``prepare(params, workdir)``: writes the cached inputs (its own process, untimed).
    inputs : callable, optional
        ``inputs(params, workdir) -> paths``: the cached inputs; when they all exist,
        ``prepare`` is not started again.
    available : callable
        ``available() -> reason or None``: why the case cannot run here (data absent).
    targets : tuple of Target
    """

    name: str
    task: str
    sizes: Mapping[str, Mapping[str, Any]]
    size_label: Callable[[Mapping[str, Any]], str]
    tools: tuple[Tool, ...]
    compare: Callable[[Result, Result], float]
    tolerance: float
    prepare: Callable[[Mapping[str, Any], Path], None] | None = None
    inputs: Callable[[Mapping[str, Any], Path], list[Path]] | None = None
    available: Callable[[], str | None] = lambda: None
    targets: tuple[Target, ...] = field(default_factory=tuple)

    def tool(self, name: str) -> Tool:
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(f"case {self.name!r} has no tool {name!r}; it has {[t.name for t in self.tools]}")


def max_rel_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours − ref| / max(|ref|, 1) over the elements: relative, absolute below 1 (where a relative
    difference of rounding noise around 0 would mean nothing). NaN = NaN; a NaN on one side only, or
    another shape → inf."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape or (np.isnan(a) ^ np.isnan(b)).any():
        return float("inf")
    keep = ~np.isnan(b)
    d = np.abs(a[keep] - b[keep]) / np.maximum(np.abs(b[keep]), 1.0)
    return float(d.max()) if d.size else 0.0


def result_path(workdir: Path, case: str, params: Mapping[str, Any]) -> Path:
    """Where nightlight's result of a case at these parameters is kept for the peers' checks."""
    key = fingerprint(dict(params))[:10]
    return Path(workdir) / "results" / f"{case}-{key}-{NIGHTLIGHT}.npz"


class Session:
    """One tool of one case set up in this process: :meth:`check` once, then :meth:`time` as often as asked.

    The suite keeps one session per tool alive in its own process (:mod:`nightlight.bench.run`)
    and asks them in turn, so nightlight and its peers share the machine's load alike.
    """

    def __init__(self, case: Case, tool_name: str, variant: str, params: Mapping[str, Any], workdir: Path) -> None:
        self.case, self.tool, self.variant = case, case.tool(tool_name), variant
        self.params, self.workdir = params, Path(workdir)
        t0 = time.perf_counter()
        self.prep = self.tool.setup(params, self.workdir, variant)
        if self.prep.warmup is not None:
            self.prep.warmup()
        self.setup_s = time.perf_counter() - t0

    def check(self) -> dict[str, Any]:
        """The first full run (untimed in the figures): nightlight saves its result, a peer is compared with it."""
        result = {k: np.asarray(v) for k, v in self.prep.run().items()}
        rec: dict[str, Any] = {"status": "ok", "tool": self.tool.name, "variant": self.variant, "note": self.prep.note}
        rec["setup_s"], rec["max_diff"] = round(self.setup_s, 3), None
        ref_file = result_path(self.workdir, self.case.name, self.params)
        if self.tool.name == NIGHTLIGHT:
            ref_file.parent.mkdir(parents=True, exist_ok=True)
            np.savez(ref_file, **result)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        elif not ref_file.exists():
            rec["note"] = (rec["note"] + "; " if rec["note"] else "") + "not checked: nightlight's result is missing"
        else:
            with np.load(ref_file) as z:
                diff = self.case.compare({k: z[k] for k in z.files}, result)
            rec["max_diff"] = diff
            if not diff <= self.case.tolerance:
                rec["status"] = "mismatch"
                rec["error"] = f"results differ from nightlight's by {diff:.3g} (tolerance {self.case.tolerance:g})"
        return rec

    def time(self) -> dict[str, float]:
        """One timed run: wall and CPU seconds (× the tool's ``scale``)."""
        t, c = time.perf_counter(), time.process_time()
        self.prep.run()
        return {"s": (time.perf_counter() - t) * self.prep.scale, "cpu_s": (time.process_time() - c) * self.prep.scale}

    def close(self) -> dict[str, Any]:
        """What is known at the end: the peak RSS of the process, the run's details."""
        return {"peak_rss_mb": round(peak_rss_mb(children=True)), "info": self.prep.info}


def spread(times: list[float]) -> dict[str, Any]:
    """Median, min, max and interquartile range of the timed runs (seconds)."""
    q1, med, q3 = (float(x) for x in np.percentile(times, [25, 50, 75]))
    return {"seconds": med, "min_s": min(times), "max_s": max(times), "iqr_s": q3 - q1, "runs_s": list(times)}


def threads() -> int:
    """Worker threads of every dask compute in a measurement (``NL_BENCH_THREADS``, default: all cores)."""
    return int(os.environ.get("NL_BENCH_THREADS", str(os.cpu_count() or 1)))


def threaded() -> Any:
    """``with threaded():`` every dask compute inside runs on the threaded scheduler, :func:`threads` workers."""
    import dask

    return dask.config.set(scheduler="threads", num_workers=threads())


def dumps(rec: Mapping[str, Any]) -> str:
    """One line of JSON: NaN → null, ±inf → "inf"/"-inf" (JSON has neither)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not np.isfinite(v):
            return None if np.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    return json.dumps(clean(dict(rec)))
