"""Units of night-light mosaics: what a value means, what values are plausible, and what is dark.

Two families of products (docs/method.md, "The sensors"):

==============  =====================  ====================  ==================  ==========
units           products               plausible values      sentinels refused   dark floor
==============  =====================  ====================  ==================  ==========
``nW/cm2/sr``   VIIRS DNB (VNL, Black  −10 … 100,000         −999, −9999, 65535,  0.5
                Marble), VIIRS-like                          ±3.4e38
``DN``          DMSP-OLS stable        0 … 63                (same)               7
                lights, DMSP-like
==============  =====================  ====================  ==================  ==========

Where a mosaic's units come from, first match wins (:func:`resolve_units`):

1. ``units=`` given by the caller (``open_mosaic(..., units="DN")``, CLI ``--units``);
2. the file's metadata: the band's unit (``gdal_edit -units``) or a ``units`` tag;
3. the ``units`` attribute of a DataArray passed in;
4. an **inference, with a warning**: a file or variable name that names the sensor
   (``DMSP``, ``OLS``, ``stable_lights``, ``F10``…``F18`` → DN; ``VIIRS``, ``VNL``,
   ``VNP46``, ``NPP``, ``DNB``, ``Black Marble`` → radiance); else a floating-point
   dtype → radiance; else ``unknown``.

``unknown`` mosaics are checked only against the sentinels; comparing two years whose
units are known and differ is refused (:func:`nightlight.preprocess.inputs.prepare_inputs`).

The plausible ranges are deliberately wide — they catch undeclared nodata (−999 summed
as light, 65535 making an 85 km² "city" in the sea), not calibration errors. Radiance
below −10 nW/cm²/sr does not occur in VNL or Black Marble (noise is a few tenths);
above 100,000 nW/cm²/sr no city pixel reaches (the brightest gas flares read ~10⁴).
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from nightlight.errors import ImplausibleValueError, UnitsError

RADIANCE = "nW/cm2/sr"
DN = "DN"
UNKNOWN = "unknown"

#: Plausible value range (inclusive) of each unit family.
PLAUSIBLE = {RADIANCE: (-10.0, 1.0e5), DN: (0.0, 63.0)}
#: Values that are nodata sentinels of common tools, never light.
SENTINELS = (-999.0, -9999.0, 65535.0, 3.4e38, -3.4e38)
#: Default ``too_dark`` floor of each family (mean base-year value per pixel): VNL v2
#: zeroes cells averaging < 0.6 nW/cm²/sr (Elvidge et al. 2021); Li et al. 2020 advise DN > 7.
DARK_FLOOR = {RADIANCE: 0.5, DN: 7.0, UNKNOWN: 0.5}

_ALIASES = {
    "nw/cm2/sr": RADIANCE,
    "nw/cm²/sr": RADIANCE,
    "nw cm-2 sr-1": RADIANCE,
    "nw·cm⁻²·sr⁻¹": RADIANCE,
    "nanowatts/cm2/sr": RADIANCE,
    "radiance": RADIANCE,
    "dn": DN,
    "digital number": DN,
    "digital numbers": DN,
    UNKNOWN: UNKNOWN,
}
_DN_NAME = re.compile(r"dmsp|\bols\b|_ols|ols_|stable[_-]?lights|\bf1[0-8]|f1[0-8]\d{4}", re.IGNORECASE)
_RADIANCE_NAME = re.compile(r"viirs|vnl|vnp46|\bnpp|npp[_-]|dnb|black[_-]?marble", re.IGNORECASE)


def canonical_units(text: str | None) -> str | None:
    """``"nW/cm²/sr"`` → ``"nW/cm2/sr"``, ``"dn"`` → ``"DN"``; None for None; :class:`UnitsError` if unknown."""
    if text is None:
        return None
    key = str(text).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise UnitsError(
        f"units={text!r} is not a night-light unit nightlight knows; use {RADIANCE!r} (VIIRS radiance), "
        f"{DN!r} (DMSP-OLS digital numbers) or {UNKNOWN!r}."
    )


def infer_units(name: str, dtype: np.dtype | str) -> tuple[str, str]:
    """(units, how) from a file/variable name and dtype — the documented inference of step 4."""
    if _DN_NAME.search(name):
        return DN, f"the name {name!r} names DMSP-OLS"
    if _RADIANCE_NAME.search(name):
        return RADIANCE, f"the name {name!r} names VIIRS"
    if np.issubdtype(np.dtype(dtype), np.floating):
        return RADIANCE, f"the values are floating point ({np.dtype(dtype)})"
    return UNKNOWN, f"neither the name {name!r} nor the dtype ({np.dtype(dtype)}) says"


def resolve_units(explicit: str | None, metadata: str | None, name: str, dtype: np.dtype | str) -> tuple[str, str]:
    """The units of a file and where they came from (see the module docstring); warns when inferred."""
    for value, how in ((explicit, "given"), (metadata, "the file's metadata")):
        if value:
            return str(canonical_units(value)), how
    units, why = infer_units(name, dtype)
    warnings.warn(
        f"{name}: units not declared; taken as {units!r} because {why}. Pass units='nW/cm2/sr' or units='DN' "
        "(CLI --units) to say so explicitly.",
        UserWarning,
        stacklevel=3,
    )
    return units, f"inferred: {why}"


def check_plausible(block: np.ndarray, units: str, *, source: str, where: str) -> None:
    """Raise :class:`ImplausibleValueError` if ``block`` holds values no product in ``units`` produces.

    ``where`` says which part of the mosaic (e.g. ``"rows 0–2048, cols 4096–6144"``).
    NaN is nodata and passes; ±inf is refused like any implausible value.
    """
    v = np.asarray(block).ravel()
    if v.size == 0:
        return
    # fmin/fmax skip NaN (nodata) and keep ±inf, in one vectorised sweep each and without a
    # masked copy: the check runs on every block read, and the masks made it a third of a pass.
    lo, hi = float(np.fmin.reduce(v)), float(np.fmax.reduce(v))
    if np.isinf(lo) or np.isinf(hi):
        # ±inf is no measurement either (NaN is nodata): summed, it made a city's change −inf, status ok
        bad_inf = float(v[np.isinf(v)][0])
        raise ImplausibleValueError(
            f"{source}: value {bad_inf:g} at {where} is not a finite number — no night-light product measures "
            f"it, so it is almost certainly undeclared nodata. Fix: open it with nodata={bad_inf:g} (CLI "
            f"--nodata {bad_inf:g}), or replace the infinite values in the file."
        )
    if np.isnan(lo):  # every value is nodata
        return
    bad: float | None = None
    for s in SENTINELS:
        # the gate allows isclose's tolerance: float32 holds the sentinel 3.4e38 as 3.39999995e38
        near = 1e-6 * abs(s)
        if lo - near <= s <= hi + near and np.any(np.isclose(v[np.isfinite(v)], s, rtol=1e-6, atol=0.0)):
            bad = s
            break
    if bad is None and units in PLAUSIBLE:
        plo, phi = PLAUSIBLE[units]
        if lo < plo:
            bad = lo
        elif hi > phi:
            bad = hi
    if bad is None:
        return
    kind = (
        "a common nodata sentinel"
        if bad in SENTINELS
        else f"outside the plausible range {PLAUSIBLE[units][0]:g} … {PLAUSIBLE[units][1]:g} of {units}"
    )
    raise ImplausibleValueError(
        f"{source}: value {bad:g} at {where} is {kind} — no night-light product measures it, so it is almost "
        f"certainly undeclared nodata. Fix: open it with nodata={bad:g} (CLI --nodata {bad:g}); if the values "
        f"are right but in other units, pass units= ({RADIANCE!r} or {DN!r})."
    )


def dark_floor_for(units: str) -> float:
    """Default ``too_dark`` floor for mosaics in ``units`` (:data:`DARK_FLOOR`)."""
    return DARK_FLOOR.get(units, DARK_FLOOR[UNKNOWN])


# --------------------------------------------------------------------------- value heuristics (DN vs radiance mix-ups)
#: The top of the DMSP-OLS 6-bit scale (saturation).
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
            "Negative values and values above 63 look like VIIRS radiance (nW/cm²/sr): "
            "for VIIRS use nightlight.preprocess.harmonize.harmonize_viirs / the denoise steps, "
            "not DMSP inter-calibration. Fix: pass the DMSP stable-lights DN band (0–63)."
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
