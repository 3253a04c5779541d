"""Whole-mosaic totals of one block in one sweep: the plausibility figures of a decline run.

Plain arrays in and out. Sums in float64 (exact for integer-valued products: DN, 8-bit
copies), so the figures do not depend on the chunking; counts in int64.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def block_totals(x):  # pragma: no cover - numba
    """``[sum of valid values, valid pixels, pixels > 0, pixels < 0]`` of a 2-D block (NaN = nodata).

    Returns
    -------
    total : float64
        Sum of the non-NaN values (the block's units × pixels).
    counts : 1-D int64 array of 3
        Valid (non-NaN), lit (> 0) and negative (< 0) pixels.
    """
    total = 0.0
    counts = np.zeros(3, np.int64)
    for v in x.ravel():
        if v == v:  # not NaN
            total += v
            counts[0] += 1
            counts[1] += v > 0
            counts[2] += v < 0
    return total, counts
