"""Labeling + per-city statistics vs scipy, scikit-image and dask-image: ``nightlight bench --only label``.

The cases live in ``nightlight/bench/label.py`` (and the global run in
``nightlight/bench/e2e.py``, ``--full``); this script only calls the suite::

    python benchmarks/bench_label.py            # = nightlight bench --only label
    python benchmarks/bench_label.py --quick    # smaller mosaics
    python benchmarks/bench_label.py --global   # also the global 2.9 Gpx pair (= --only e2e-global)
"""

from __future__ import annotations

import sys

from nightlight.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    extra = ["--only", "e2e-global"] if "--global" in args else []
    main(["bench", "--only", "label", *extra, *[a for a in args if a != "--global"]])
