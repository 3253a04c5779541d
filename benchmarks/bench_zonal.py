"""Zonal sums over 10⁴ polygons vs exactextract, rasterstats, xarray-spatial, rasterio: ``--only zonal``.

The cases live in ``nightlight/bench/zonal.py``; this script only calls the suite
(options as ``nightlight bench``: ``--quick``, ``--json OUT``, ``--markdown OUT``)::

    pip install -e '.[bench]'
    python benchmarks/bench_zonal.py
"""

from __future__ import annotations

import sys

from nightlight.cli import main

if __name__ == "__main__":
    main(["bench", "--only", "zonal", *sys.argv[1:]])
