"""Lit thresholds: a number in the mosaic's units, or Jiang's head/tail breaks."""

from __future__ import annotations

from typing import Any, Literal

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from nightlight._backend import as_dask
from nightlight.errors import NightlightError, ParameterError

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


def check_threshold(threshold: Any) -> float | Literal["headtail"]:
    """``"headtail"``, or ``threshold`` as a float > 0; else :class:`ParameterError` (library and CLI)."""
    if isinstance(threshold, str):
        if threshold != "headtail":
            raise ParameterError(f"threshold={threshold!r}: use a number (DN or nW/cm²/sr) or 'headtail'.")
        return "headtail"
    not_a_number = ParameterError(f"threshold={threshold!r}: use a number (DN or nW/cm²/sr) or 'headtail'.")
    if threshold is None:
        raise not_a_number
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise not_a_number from None
    if not value > 0:  # also NaN
        raise ParameterError(
            f"threshold={threshold!r}: a lit threshold must be a number > 0 in the mosaic's units — at ≤ 0 every "
            "pixel is lit and the whole mosaic becomes one city; NaN lights nothing. For a built-up mask pass "
            "mask= (or threshold=None with a 0/1 raster)."
        )
    return value


def resolve_threshold(mosaic: xr.DataArray, threshold: Threshold, headtail_level: int) -> float:
    checked = check_threshold(threshold)
    if checked != "headtail":
        return checked
    breaks = headtail_breaks(mosaic)
    if not breaks:
        raise NightlightError("threshold='headtail': the mosaic has fewer than 2 lit pixels (value > 0).")
    return breaks[min(headtail_level, len(breaks)) - 1]
