"""The decline rule (Jiang, Zhai, Meng & Long 2020) and the checks on a run's per-city changes.

A city is shrinking when its total light in the fixed base-year extent falls by
≥ ``threshold`` (10 %); cities that cannot be measured get a status of their own and are
never classified; a run in which nearly all cities move together is a product change.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from nightlight.errors import ProductChangeError

#: Least share of a city's pixels that must be valid in every year of the run (the
#: common valid mask) for the city to be classified; below it ``status="partial_data"``.

#: When at least this share of the classified cities (and at least
#: :data:`COMMON_SHIFT_MIN_CITIES` of them) move by more than the decline threshold in
#: the same direction, the run is refused as a product change (gain, calibration,
#: processing version) rather than read as shrinking cities.
COMMON_SHIFT_SHARE = 0.9
COMMON_SHIFT_MIN_CITIES = 10

#: DMSP-OLS DN saturate at 63 in bright cores (docs/method.md): a saturated pixel cannot show
#: decline until it falls below 63, so decline in a mostly saturated city is understated.
DMSP_SATURATED_DN = 63.0
#: Cities whose base-year pixels are at least this share saturated are flagged
#: (``saturation_dominated``): their change measures the unsaturated fringe only.
SATURATION_DOMINATED = 0.5

STATUSES = ("ok", "too_dark", "partial_data", "no_data", "outside", "empty_geometry")


def classify_decline(
    light_before: np.ndarray,
    light_after: np.ndarray,
    *,
    threshold: float,
    too_dark: np.ndarray | None = None,
    partial: np.ndarray | None = None,
    no_data: np.ndarray | None = None,
    outside: np.ndarray | None = None,
    empty: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decline rule of Jiang, Zhai, Meng & Long (2020) on per-city light totals.

    ``change = (after − before) / before`` (computed this way, not ``after/before − 1``:
    DN sums are whole numbers, an exact −10 % occurs, and the ratio form lands one
    ulp above it); ``shrinking = status == "ok" and change ≤ −threshold``.

    Parameters
    ----------
    light_before, light_after : arrays
        Total light in the fixed base-year extent (DN or nW/cm²/sr × pixels).
    threshold : float
        Relative decline that counts as shrinking (0.10 = 10 %).
    too_dark, partial, no_data, outside, empty : bool arrays, optional
        Cities not to classify; the later flags win when several apply. ``change``
        is NaN for all but ``too_dark`` (measured, but at the noise floor) and
        ``partial`` (``partial_data``: measured on too small a part of the city).

    Returns
    -------
    change, status, shrinking : arrays (float, object of :data:`STATUSES`, bool)
    """
    before = np.asarray(light_before, dtype=np.float64)
    after = np.asarray(light_after, dtype=np.float64)
    status = np.full(before.shape, "ok", dtype=object)
    flags = (
        (too_dark, "too_dark"),
        (partial, "partial_data"),
        (no_data, "no_data"),
        (outside, "outside"),
        (empty, "empty_geometry"),
    )
    for flag, name in flags:
        if flag is not None:
            status[np.asarray(flag, dtype=bool)] = name
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (after - before) / before
    measurable = ~np.isin(status, ("no_data", "outside", "empty_geometry")) & (before > 0)
    change = np.where(measurable, change, np.nan)
    shrinking = (status == "ok") & (change <= -threshold)
    return change, status, shrinking


def check_common_shift(out: pd.DataFrame, threshold: float, *, allow: bool) -> list[str]:
    """Refuse (or, when allowed, record) a run in which nearly all cities move together."""
    change = out.loc[out["status"] == "ok", "change"].to_numpy()
    n = change.size
    if n < COMMON_SHIFT_MIN_CITIES:
        return []
    down, up = float(np.mean(change <= -threshold)), float(np.mean(change >= threshold))
    share, way = (down, "lost") if down >= up else (up, "gained")
    if share < COMMON_SHIFT_SHARE:
        return []
    msg = (
        f"{share:.0%} of the {n} classified cities {way} at least {threshold:.0%} of their light together "
        f"(median change {np.median(change):+.1%}): that is a change of the product between the two years "
        "(sensor gain, calibration, processing version, a scaled or clipped copy), not shrinking cities. "
        "Harmonize the years first (e.g. a calibration step fitted on stable pixels, --preprocess) or pass "
        "allow_common_shift=True (CLI --allow-common-shift) if the change is real."
    )
    if not allow:
        raise ProductChangeError(msg)
    return [msg]


#: Above this share of too_dark polygons (of at least :data:`COMMON_SHIFT_MIN_CITIES`), the
#: default dark floor was probably meant for other polygons: say so.
TOO_DARK_SHARE = 0.5
#: A declared nodata of 0 masking more than this share of an integer light mosaic probably means dark.
NODATA_ZERO_SHARE = 0.5


def too_dark_warnings(out: pd.DataFrame, dark_floor: float, units: str, *, given: bool) -> list[str]:
    """A warning (also issued) when most polygons are ``too_dark`` under the *default* dark floor."""
    n = len(out)
    dark = int((out["status"] == "too_dark").sum())
    if given or n < COMMON_SHIFT_MIN_CITIES or dark <= TOO_DARK_SHARE * n:
        return []
    msg = (
        f"{dark} of {n} polygons are too_dark (mean base-year value < dark_floor={dark_floor:g} {units}, the "
        "default meant for lit natural cities) and are not classified. Polygons that include dark land "
        "(administrative units, grid cells) need a lower floor: pass dark_floor=1e-6 (CLI --dark-floor 1e-6) to "
        "classify every polygon with any light."
    )
    warnings.warn(msg, UserWarning, stacklevel=3)
    return [msg]


def nodata_zero_warnings(inputs: Any, totals: pd.DataFrame) -> list[str]:
    """A warning (also issued) per integer mosaic where a declared nodata of 0 masks most pixels."""
    out = []
    for name, da in inputs.distinct():
        row = totals[totals["mosaic"] == name]
        integer = np.dtype(str(da.attrs.get("source_dtype", "float32"))).kind in "iu"
        if row.empty or not integer or da.attrs.get("nodata_used") != 0:
            continue
        share = float(row["nodata_pixels"].iloc[0]) / max(int(da.size), 1)
        if share > NODATA_ZERO_SHARE:
            msg = (
                f"{name}: the file declares 0 as nodata, and 0 covers {share:.0%} of it. In an integer light "
                "product 0 usually means dark, not missing; read that way, dark pixels are left out of every sum "
                "instead of counted as 0. If 0 means dark, pass nodata=None (CLI --nodata none)."
            )
            warnings.warn(msg, UserWarning, stacklevel=3)
            out.append(msg)
    return out
