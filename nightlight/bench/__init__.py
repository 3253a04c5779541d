"""``nightlight bench``: nightlight against every peer at its best, on this machine, in one table.

Layout (top layer, beside :mod:`nightlight.replication`: it may import the pipeline,
nothing in the pipeline imports it):

* :mod:`~nightlight.bench.harness` — :class:`Case`, :class:`Tool`, :class:`Target`, the
  protocol (check against nightlight's result first, then timed runs: median and spread);
* :mod:`~nightlight.bench.run` — one tool of one case in its own process (``python -m nightlight.bench.run``);
* :mod:`~nightlight.bench.suite` — :func:`run_suite`: every case, its tools timed in turn (A B A B …);
* :mod:`~nightlight.bench.report` — the rich table, JSON and markdown;
* the cases: :mod:`~nightlight.bench.label`, :mod:`~nightlight.bench.zonal`,
  :mod:`~nightlight.bench.pixel`, :mod:`~nightlight.bench.e2e`, :mod:`~nightlight.bench.nogil`,
  collected in :mod:`~nightlight.bench.registry`.
"""

from nightlight.bench.harness import Case, Prepared, Target, Tool
from nightlight.bench.registry import CASES, select
from nightlight.bench.suite import run_suite

__all__ = ["CASES", "Case", "Prepared", "Target", "Tool", "run_suite", "select"]
