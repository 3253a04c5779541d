"""Stage 4: has each city's light declined? Zonal sums, the decline rule, trend tests, patterns.

- :mod:`.zonal` — exact fractional-coverage zonal sums (numba), block by block;
- :mod:`.inputs` — a run's inputs checked up front (series, grids, common valid pixels, totals);
- :mod:`.rule` — the decline rule :func:`classify_decline` and the common-shift check;
- :mod:`.measure` — per-city zonal measurement on the common valid pixels;
- :mod:`.decline` — :func:`detect_shrinking`, the coordinator;
- :mod:`.trend` — Theil–Sen slope + Mann–Kendall p over yearly series, Benjamini–Hochberg q;
- :mod:`.patterns` — where inside a city the light went: the six shrinkage patterns of Jiang et al. 2020.
"""

from nightlight.change.decline import detect_shrinking
from nightlight.change.patterns import PATTERNS, classify_pattern, shrinkage_patterns
from nightlight.change.rule import classify_decline
from nightlight.change.trend import benjamini_hochberg, trend_test
from nightlight.change.zonal import zonal_stats, zonal_stats_many

__all__ = [
    "benjamini_hochberg",
    "PATTERNS",
    "classify_decline",
    "classify_pattern",
    "detect_shrinking",
    "shrinkage_patterns",
    "trend_test",
    "zonal_stats",
    "zonal_stats_many",
]
