"""One tool of one case in its own process: ``python -m nightlight.bench.run serve CASE --tool T ...``.

``serve`` sets the tool up, checks its first run (:meth:`nightlight.bench.harness.Session.check`)
and writes that record as one JSON line; then every ``run`` line on stdin is one timed
run, answered by one JSON line (``{"s": …, "cpu_s": …}``); ``stop`` (or the end of stdin)
writes the closing line (peak RSS, details) and exits. The parent
(:mod:`nightlight.bench.suite`) keeps one such process per tool and asks them in turn.
``prepare`` writes a case's cached inputs, in a process of its own so its memory never
counts in a measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from nightlight.bench.harness import Session, dumps
from nightlight.bench.registry import get_case
from nightlight.progress import peak_rss_mb


def _say(rec: dict[str, Any]) -> None:
    sys.stdout.write("\n" + dumps(rec) + "\n")
    sys.stdout.flush()


def _error(exc: Exception) -> dict[str, Any]:
    traceback.print_exc()  # the parent keeps the tail of stderr
    rss = round(peak_rss_mb(children=True))
    return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "peak_rss_mb": rss}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nightlight.bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["prepare", "serve"])
    ap.add_argument("case", help="a case name of nightlight.bench.registry.CASES, or module:attribute")
    ap.add_argument("--tool", default="nightlight")
    ap.add_argument("--variant", default="")
    ap.add_argument("--params", required=True, help="the case's parameters, JSON")
    ap.add_argument("--workdir", required=True, type=Path)
    a = ap.parse_args(argv)
    case, params = get_case(a.case), json.loads(a.params)
    try:
        if a.action == "prepare":
            if case.prepare is not None:
                case.prepare(params, a.workdir)
            _say({"status": "ok", "peak_rss_mb": round(peak_rss_mb(children=True))})
            return 0
        session = Session(case, a.tool, a.variant, params, a.workdir)
        rec = session.check()
    except Exception as exc:  # this tool's failure, reported to the parent
        _say(_error(exc))
        return 1
    _say(rec)
    for line in sys.stdin if rec["status"] == "ok" else ():
        if line.strip() != "run":
            break
        try:
            _say(session.time())
        except Exception as exc:
            _say(_error(exc))
            return 1
    _say(session.close())
    return 0


if __name__ == "__main__":
    sys.exit(main())
