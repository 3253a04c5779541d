"""Lit thresholds: a number in the mosaic's units, or Jiang's head/tail breaks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from nightlight._backend import as_dask
from nightlight.errors import NightlightError
from nightlight.params import check_lit_threshold

Threshold = float | Literal["headtail"] | None


def headtail_breaks(mosaic: xr.DataArray, *, max_levels: int = 10, head_share: float = 0.4) -> list[float]:
    """Head/tail breaks of the lit pixels (value > 0) of a mosaic (Jiang 2013).

    Starting from all lit pixels, the mean splits them into a head (above) and a
    tail; the head is split again while it stays a minority (share ≤ ``head_share``).

    One lazy pass over the mosaic whatever the number of levels when the lit values are few
    (DN, 8-bit copies: at most 255): every block returns its distinct lit values and their
    pixel counts, and the levels are computed from that table. Sums are float64 products
    ``value × count``, exact for integer-valued products, so the breaks equal a per-level
    sum over the pixels. A block with more than :data:`MAX_DISTINCT` distinct values (float
    radiance) returns nothing, and the levels are then one lazy pass each: the table would
    otherwise hold every lit pixel of a global mosaic in memory.

    Returns
    -------
    list of float
        The successive means (thresholds), in the mosaic's units.
    """
    data = as_dask(mosaic)
    parts = dask.compute(*[dask.delayed(_lit_values)(b) for b in data.to_delayed().ravel()])
    if any(p is None for p in parts):
        return _headtail_per_level(data, max_levels, head_share)
    values, where = np.unique(np.concatenate([v for v, _ in parts]), return_inverse=True)
    counts = np.bincount(where, weights=np.concatenate([c for _, c in parts]), minlength=len(values))
    light = values * counts  # exact in float64: counts < 2**53 / max value

    def level(cut: float) -> tuple[int, float]:
        sel = values > cut
        return int(counts[sel].sum()), float(light[sel].sum())

    return _breaks(level, max_levels, head_share)


#: Distinct lit values a block may have for the one-pass table (an 8-bit product has 255).
MAX_DISTINCT = 4096


def _lit_values(block: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Distinct values > 0 of one block (float64) and their pixel counts (NaN is never lit); None if too many."""
    x = np.asarray(block)
    values, counts = np.unique(x[x > 0], return_counts=True)
    if len(values) > MAX_DISTINCT:
        return None
    return values.astype(np.float64), counts.astype(np.float64)


def _headtail_per_level(data: dsa.Array, max_levels: int, head_share: float) -> list[float]:
    """The same breaks, one lazy pass over the mosaic per level (memory bounded by a chunk)."""

    def level(cut: float) -> tuple[int, float]:
        sel = data > cut
        n, total = dask.compute(sel.sum(), dsa.where(sel, data, 0).sum(dtype=np.float64))
        return int(n), float(total)

    return _breaks(level, max_levels, head_share)


def _breaks(level: Callable[[float], tuple[int, float]], max_levels: int, head_share: float) -> list[float]:
    """Jiang's loop: ``level(cut)`` gives (count, sum) of the values above ``cut``."""
    breaks: list[float] = []
    cut = 0.0
    prev_n = None
    for _ in range(max_levels):
        n, total = level(cut)
        if n < 2 or (prev_n is not None and n / prev_n > head_share):
            break
        cut = total / n
        breaks.append(cut)
        prev_n = n
    return breaks


def resolve_threshold(mosaic: xr.DataArray, threshold: Threshold, headtail_level: int) -> float:
    checked = check_lit_threshold(threshold)
    if checked != "headtail":
        return checked
    breaks = headtail_breaks(mosaic)
    if not breaks:
        raise NightlightError("threshold='headtail': the mosaic has fewer than 2 lit pixels (value > 0).")
    return breaks[min(headtail_level, len(breaks)) - 1]
