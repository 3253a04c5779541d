"""Stage 2: make brightness comparable across years and sensors (docs/method.md, "Making years comparable").

- :mod:`.dmsp` — DMSP-OLS satellite-year inter-calibration from published tables;
- :mod:`.calibration` — fitted ``target ≈ f(source)`` calibrations (:class:`Calibration`);
- :mod:`.harmonize` — DMSP ↔ VIIRS harmonisation (Li et al. 2020);
- :mod:`.denoise` — VIIRS negatives, noise floor, outliers, background, flares;
- :mod:`.composite` — monthly → annual composites;
- :mod:`.normalise` — brightness correction between years on pseudo-invariant pixels
  (:func:`fit_normalisation` → :class:`Normalisation`, :func:`normalise_to`);
- :mod:`.steps` — the registry of named steps (``--preprocess``, ``detect_shrinking(preprocess=)``).
"""

from nightlight.preprocess import composite, denoise, harmonize
from nightlight.preprocess.calibration import Calibration, fit
from nightlight.preprocess.dmsp import calibration_steps, coefficients, intercalibrate
from nightlight.preprocess.normalise import Normalisation, fit_normalisation, normalise_to
from nightlight.preprocess.steps import apply_steps, parse_steps

__all__ = [
    "Calibration",
    "Normalisation",
    "apply_steps",
    "calibration_steps",
    "coefficients",
    "composite",
    "denoise",
    "fit",
    "fit_normalisation",
    "harmonize",
    "intercalibrate",
    "normalise_to",
    "parse_steps",
]
