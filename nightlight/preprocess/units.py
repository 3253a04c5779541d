"""Units checks: DMSP DN (0–63) vs VIIRS radiance (nW/cm²/sr) mix-ups."""

from __future__ import annotations

import warnings

import numpy as np

from nightlight.errors import UnitsError

DMSP_MAX_DN = 63.0


def check_dn(block: np.ndarray, name: str = "dmsp") -> None:
    """Raise :class:`UnitsError` unless ``block`` looks like DMSP DN (0–63).

    Values above 63 or below 0 are almost always VIIRS radiance (nW/cm²/sr) or
    calibrated data passed by mistake; a block that is mostly non-integer warns.
    """
    v = block[np.isfinite(block)]
    if v.size == 0:
        return
    lo, hi = float(v.min()), float(v.max())
    if lo < 0 or hi > DMSP_MAX_DN:
        raise UnitsError(
            f"{name}: values span [{lo:.4g}, {hi:.4g}] but DMSP-OLS DN must lie in 0–63. "
            + (
                "Negative values and values above 63 look like VIIRS radiance (nW/cm²/sr): "
                "for VIIRS use nightlight.preprocess.harmonize.harmonize_viirs / the denoise steps, "
                "not DMSP inter-calibration. "
                if hi > DMSP_MAX_DN or lo < 0
                else ""
            )
            + "Fix: pass the DMSP stable-lights DN band (0–63)."
        )
    frac = np.mean(v != np.round(v))
    if frac > 0.5:
        warnings.warn(
            f"{name}: {frac:.0%} of values are not whole numbers; raw DMSP-OLS DN are integers 0–63. "
            "Is this already calibrated DN, or VIIRS radiance rescaled to 0–63?",
            UserWarning,
            stacklevel=3,
        )


def check_radiance(block: np.ndarray, name: str = "viirs") -> None:
    """Warn when a block meant to be VIIRS radiance looks like DMSP DN.

    Radiance is float with no saturation; DMSP DN is integer 0–63 with saturated
    city cores at exactly 63. Whole numbers only, max exactly 63 and ≥ 1% of pixels at
    63 is the DN signature.
    """
    v = block[np.isfinite(block)]
    if v.size < 16:
        return
    if (
        float(v.max()) == DMSP_MAX_DN
        and v.min() >= 0
        and np.all(v == np.round(v))
        and np.mean(v == DMSP_MAX_DN) >= 0.01
    ):
        warnings.warn(
            f"{name}: whole numbers 0–63 with {np.mean(v == DMSP_MAX_DN):.1%} of pixels at exactly 63 — this looks "
            "like DMSP-OLS DN, not VIIRS radiance (nW/cm²/sr). Use nightlight.preprocess.intercalibrate for DMSP.",
            UserWarning,
            stacklevel=3,
        )
