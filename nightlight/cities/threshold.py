"""Lit thresholds: a number in the mosaic's units, or Jiang's head/tail breaks."""

from __future__ import annotations

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
    One lazy pass over the mosaic per level.

    Returns
    -------
    list of float
        The successive means (thresholds), in the mosaic's units.
    """
    data = as_dask(mosaic)
    breaks: list[float] = []
    cut = 0.0
    prev_n = None
    for _ in range(max_levels):
        sel = data > cut
        n, total = dask.compute(sel.sum(), dsa.where(sel, data, 0).sum(dtype=np.float64))
        n = int(n)
        if n < 2:
            break
        if prev_n is not None and n / prev_n > head_share:
            break
        cut = float(total) / n
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
