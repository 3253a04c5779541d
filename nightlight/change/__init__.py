"""Stage 4: has each city's light declined? Zonal sums, the decline rule, trend tests, shapes.

- :mod:`.zonal` — exact fractional-coverage zonal sums (numba), block by block;
- :mod:`.decline` — :func:`detect_shrinking`, :func:`classify_decline`;
- :mod:`.trend` — Theil–Sen slope + Mann–Kendall p over yearly series;
- :mod:`.shape` — where inside a city the light went.
"""

from nightlight.change.decline import classify_decline, detect_shrinking
from nightlight.change.shape import classify_shape, shrink_shapes
from nightlight.change.trend import trend_test
from nightlight.change.zonal import zonal_stats, zonal_stats_many

__all__ = [
    "classify_decline",
    "classify_shape",
    "detect_shrinking",
    "shrink_shapes",
    "trend_test",
    "zonal_stats",
    "zonal_stats_many",
]
