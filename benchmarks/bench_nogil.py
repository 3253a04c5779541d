"""What ``nogil=True`` buys the preprocessing kernels under dask threads: ``nightlight bench --only nogil``.

The cases live in ``nightlight/bench/nogil.py`` (the shipped kernel vs the same source
compiled with ``nogil=False``; the load-independent GIL-stall figures are in each
measurement's ``info`` in the JSON); this script only calls the suite::

    python benchmarks/bench_nogil.py --json nogil.json
"""

from __future__ import annotations

import sys

from nightlight.cli import main

if __name__ == "__main__":
    main(["bench", "--only", "nogil", *sys.argv[1:]])
