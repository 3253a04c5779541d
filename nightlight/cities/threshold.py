"""Lit thresholds: a number in the mosaic's units, or Jiang's head/tail breaks."""

from __future__ import annotations

from typing import Literal

import dask
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

    One lazy pass over the mosaic whatever the number of levels: every block returns its
    distinct lit values and their pixel counts (an 8-bit product has at most 255), and
    the levels are computed from that table. Sums are float64 products ``value × count``,
    exact for integer-valued products (DN, 8-bit copies), so the breaks equal a per-level
    sum over the pixels.

    Returns
    -------
    list of float
        The successive means (thresholds), in the mosaic's units.
    """
    blocks = as_dask(mosaic).to_delayed().ravel()
    parts = dask.compute(*[dask.delayed(_lit_values)(b) for b in blocks])
    values, where = np.unique(np.concatenate([v for v, _ in parts]), return_inverse=True)
    counts = np.bincount(where, weights=np.concatenate([c for _, c in parts]), minlength=len(values))
    light = values * counts  # exact in float64: counts < 2**53 / max value
    breaks: list[float] = []
    cut = 0.0
    prev_n = None
    for _ in range(max_levels):
        sel = values > cut
        n = int(counts[sel].sum())
        if n < 2:
            break
        if prev_n is not None and n / prev_n > head_share:
            break
        cut = float(light[sel].sum()) / n
        breaks.append(cut)
        prev_n = n
    return breaks


def _lit_values(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values > 0 of one block (float64) and their pixel counts (NaN is never lit)."""
    x = np.asarray(block)
    values, counts = np.unique(x[x > 0], return_counts=True)
    return values.astype(np.float64), counts.astype(np.float64)


def resolve_threshold(mosaic: xr.DataArray, threshold: Threshold, headtail_level: int) -> float:
    checked = check_lit_threshold(threshold)
    if checked != "headtail":
        return checked
    breaks = headtail_breaks(mosaic)
    if not breaks:
        raise NightlightError("threshold='headtail': the mosaic has fewer than 2 lit pixels (value > 0).")
    return breaks[min(headtail_level, len(breaks)) - 1]
