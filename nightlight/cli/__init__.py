"""Command line: a thin layer over the library (``nightlight --help``).

``nightlight detect BEFORE AFTER --out DIR`` extracts natural cities from BEFORE,
tests each for decline, and writes ``cities.parquet``, ``summary.csv`` and
``map.png``; ``nightlight demo`` does the same on the built-in synthetic world and
scores the result against the planted truth.

Errors: every failure is one line ``Error: …`` naming the option or file, the
problem and the fix — exit code 2 for usage errors (a bad option), 1 for data errors
(a file, a grid, a blank year); ``nightlight --debug …`` shows the traceback.
"""

from nightlight.cli import batch, bench, catalog, detect, map, replicate  # noqa: F401  (register the commands)
from nightlight.cli.group import main
from nightlight.pipeline import run_detect  # where it lived before nightlight.pipeline (old imports)

__all__ = ["main", "run_detect"]

if __name__ == "__main__":  # pragma: no cover
    main()
