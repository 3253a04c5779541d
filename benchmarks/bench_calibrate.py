"""Calibration kernels vs the NumPy expression, and the blur + 30″ aggregation: ``nightlight bench --only calib``.

The cases live in ``nightlight/bench/pixel.py``; this script only calls the suite::

    python benchmarks/bench_calibrate.py          # every kernel (4096² px) and blur30
    python benchmarks/bench_calibrate.py --quick  # fewer, smaller
"""

from __future__ import annotations

import sys

from nightlight.cli import main

if __name__ == "__main__":
    main(["bench", "--only", "calib", "--only", "blur30", *sys.argv[1:]])
