"""One measurement in its own process: ``python -m nightlight.bench.run measure CASE TOOL ...``.

The parent (:mod:`nightlight.bench.suite`) starts one of these per (case, tool,
variant) and reads the last line of its stdout: one JSON object
(:func:`nightlight.bench.harness.measure`'s record). ``prepare`` writes a case's
cached inputs, in a process of its own so its memory never counts in a measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from nightlight.bench.harness import dumps, measure
from nightlight.bench.registry import get_case
from nightlight.progress import peak_rss_mb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nightlight.bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["prepare", "measure"])
    ap.add_argument("case", help="a case name of nightlight.bench.registry.CASES, or module:attribute")
    ap.add_argument("--tool", default="nightlight")
    ap.add_argument("--variant", default="")
    ap.add_argument("--params", required=True, help="the case's parameters, JSON")
    ap.add_argument("--workdir", required=True, type=Path)
    a = ap.parse_args(argv)
    case = get_case(a.case)
    params = json.loads(a.params)
    try:
        if a.action == "prepare":
            if case.prepare is not None:
                case.prepare(params, a.workdir)
            rec = {"status": "ok", "peak_rss_mb": round(peak_rss_mb(children=True))}
        else:
            rec = measure(case, a.tool, a.variant, params, a.workdir)
    except Exception as exc:  # reported to the parent as this measurement's failure, with the traceback on stderr
        traceback.print_exc()
        rec = {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "peak_rss_mb": round(peak_rss_mb(children=True)),
        }
    sys.stdout.write("\n" + dumps(rec) + "\n")
    sys.stdout.flush()
    return 0 if rec["status"] in ("ok", "mismatch") else 1


if __name__ == "__main__":
    sys.exit(main())
