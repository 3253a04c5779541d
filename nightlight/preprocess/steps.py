"""Make brightness comparable across years and sensors (METHOD.md, "Cross-sensor calibration").

The step registry: names → functions of the other preprocess modules. Nothing
imports this module back.

- :func:`intercalibrate` — DMSP-OLS DN inter-calibration per satellite-year from the
  published tables in ``catalog/calibration/`` (Elvidge 2009/2014, Liu 2012, Wu 2013,
  Li & Zhou 2017), clipped to [0, 63] DN, averaged after calibration when two
  satellites cover a year.
- :func:`fit` → :class:`Calibration` — fit ``target ≈ f(source)`` (linear, quadratic,
  power, sigmoid) on valid overlapping pixels, with R² / RMSE / bias on held-out
  pixels; :meth:`Calibration.apply` is lazy; :meth:`Calibration.to_json` makes a run
  reproducible.
- :func:`apply_steps` / :func:`parse_steps` — the one entry point the CLI and
  ``detect_shrinking`` use to run named pre-processing steps and record them.

Step names understood by :func:`apply_steps` (string, or ``{name: params}``; CLI form
``name``, ``name=value`` or ``name:key=value:key=value``, comma-separated):

==========================  =========================================================================
``negatives_to_zero``       VIIRS radiance < 0 → 0
``negatives_to_nan``        VIIRS radiance < 0 → NaN (nodata)
``noise_floor=F``           VIIRS radiance in [0, F) → 0 (VNL v2 uses 0.6 nW/cm²/sr)
``cap``                     cap outliers: ``{"percentile": 99.99}``, ``{"value": V}`` or
                            ``{"core": [xmin, ymin, xmax, ymax]}`` (brightest pixel of a city core,
                            CRS units) — see :func:`nightlight.preprocess.denoise.cap_outliers`
``background``              3×3 data-range background test: ``{"threshold": T}`` nW/cm²/sr
``flare_mask``              ``{"raster": path}`` (nonzero = flare/fire → NaN) or
                            ``{"points": path, "radius": R}`` (vector file, R in CRS units)
``intercalibrate``          DMSP only: ``{"satellite": "F16", "year": 2007, "model": "elvidge2014",
                            "allow_suspect": false, "keep_zero": false}``
``calibration=PATH``        apply a fitted :class:`Calibration` JSON (file path, or
                            ``catalog:calibration/NAME.json`` for a shipped one)
``blur``                    Gaussian blur mimicking DMSP's footprint: ``{"sigma": 2.0, "truncate": 2.5}`` (px)
``log1p``                   ``log(1 + x)``
``aggregate``               15″ → 30″: ``{"factor": 2, "alignment": "centers" | "edges"}``
==========================  =========================================================================

The record returned with the result lists, per step, its name, its parameters and
the nightlight version, so a reader of the output knows what was done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from nightlight._backend import map_pixels
from nightlight._version import __version__
from nightlight.errors import CatalogError, UnitsError
from nightlight.preprocess import denoise, harmonize
from nightlight.preprocess.calibration import Calibration
from nightlight.preprocess.dmsp import intercalibrate

_VIIRS_STEPS = {
    "negatives_to_zero",
    "negatives_to_nan",
    "noise_floor",
    "cap",
    "background",
    "flare_mask",
    "blur",
    "aggregate",
}
_DMSP_STEPS = {"intercalibrate"}
STEP_NAMES = tuple(sorted(_VIIRS_STEPS | _DMSP_STEPS | {"calibration", "log1p"}))


def _scalar(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip()


def parse_steps(text: str) -> list[str | dict]:
    """Parse the CLI form of steps.

    ``"negatives_to_zero,noise_floor=0.6,cap:percentile=99.99,intercalibrate:satellite=F16:year=2007"``
    → ``["negatives_to_zero", {"noise_floor": 0.6}, {"cap": {"percentile": 99.99}},
    {"intercalibrate": {"satellite": "F16", "year": 2007}}]``.
    """
    steps: list[str | dict] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if (
            ":" in item
            and (item.index(":") < item.index("=") if "=" in item else True)
            and not item.startswith("calibration=")
        ):
            name, *kvs = item.split(":")
            params = {}
            for kv in kvs:
                if "=" not in kv:
                    raise CatalogError(f"parse_steps: {item!r}: expected key=value after ':', got {kv!r}.")
                k, v = kv.split("=", 1)
                params[k.strip()] = _scalar(v)
            steps.append({name.strip(): params})
        elif "=" in item:
            k, v = item.split("=", 1)
            steps.append({k.strip(): _scalar(v) if k.strip() != "calibration" else v.strip()})
        else:
            steps.append(item)
    for s in steps:
        _step_name(s)
    return steps


def _step_name(step: str | Mapping) -> tuple[str, Any]:
    if isinstance(step, str):
        name, params = step, None
    elif isinstance(step, Mapping) and len(step) == 1:
        ((name, params),) = step.items()
    else:
        raise CatalogError(f"apply_steps: a step must be a name or a one-key mapping {{name: params}}, got {step!r}.")
    if name not in STEP_NAMES:
        raise CatalogError(f"apply_steps: unknown step {name!r}. Available steps: {', '.join(STEP_NAMES)}.")
    return name, params


def apply_steps(
    mosaic: xr.DataArray,
    steps: Sequence[str | Mapping],
    *,
    sensor: str | None = None,
) -> tuple[xr.DataArray, list[dict]]:
    """Apply named pre-processing steps lazily, in order, and record what was done.

    Parameters
    ----------
    mosaic : xarray.DataArray
        A mosaic from :func:`nightlight.open_mosaic` (dask-backed stays dask-backed).
    steps : sequence of str or {name: params}
        See the module docstring for names and parameters; :func:`parse_steps` makes
        them from the CLI form.
    sensor : {"dmsp", "viirs"} or None
        When given, steps that belong to the other sensor raise :class:`UnitsError`.

    Returns
    -------
    (DataArray, list of dict)
        The result and a JSON-serialisable record: one ``{"step", "params",
        "nightlight_version"}`` per step (calibration steps carry the full coefficients
        and held-out metrics).
    """
    sensor = sensor.lower() if sensor else None
    if sensor not in (None, "dmsp", "viirs"):
        raise UnitsError(f"apply_steps: sensor={sensor!r} is unknown; use 'dmsp', 'viirs' or None.")
    record: list[dict] = []
    out = mosaic
    for step in steps:
        name, params = _step_name(step)
        if sensor == "dmsp" and name in _VIIRS_STEPS:
            raise UnitsError(
                f"apply_steps: step {name!r} is a VIIRS radiance step but sensor='dmsp'. "
                "DMSP DN need 'intercalibrate'; if the mosaic really is VIIRS, pass sensor='viirs'."
            )
        if sensor == "viirs" and name in _DMSP_STEPS:
            raise UnitsError(
                f"apply_steps: step {name!r} calibrates DMSP DN (0–63) but sensor='viirs'. "
                "For VIIRS → DMSP-like use the 'calibration' step with a fitted sigmoid (nightlight.preprocess.harmonize)."
            )
        rec_params: Any = params
        if name == "negatives_to_zero":
            out = denoise.clean(out, negatives="zero")
        elif name == "negatives_to_nan":
            out = denoise.clean(out, negatives="nan")
        elif name == "noise_floor":
            floor = (
                float(params if not isinstance(params, Mapping) else params.get("floor", 0.6))
                if params is not None
                else 0.6
            )
            out = denoise.clean(out, negatives="keep", floor=floor)
            rec_params = floor
        elif name == "cap":
            out = denoise.cap_outliers(out, **dict(params or {"percentile": 99.99}))
            rec_params = dict(params or {"percentile": 99.99})
        elif name == "background":
            p = dict(params) if isinstance(params, Mapping) else {"threshold": params}
            out = denoise.background_test(out, **p)
            rec_params = p
        elif name == "flare_mask":
            p = dict(params or {})
            out = denoise.mask_flares(out, **p)
            rec_params = {k: str(v) for k, v in p.items()}
        elif name == "intercalibrate":
            p = dict(params or {})
            out = intercalibrate(out, **p)
        elif name == "calibration":
            cal = params if isinstance(params, Calibration) else Calibration.from_json(params)
            out = cal.apply(out)
            rec_params = {
                "source": str(params) if not isinstance(params, Calibration) else "in-memory",
                **cal.to_dict(),
            }
        elif name == "blur":
            p = dict(params or {})
            out = harmonize.gaussian_blur(out, **p)
            rec_params = p
        elif name == "log1p":
            out = map_pixels(out, np.log1p)
        elif name == "aggregate":
            p = dict(params or {})
            out = harmonize.aggregate(out, **p)
            rec_params = p
        record.append({"step": name, "params": rec_params, "nightlight_version": __version__})
    if isinstance(out, xr.DataArray):
        out.attrs["nightlight_steps"] = json.dumps(record)
    return out, record
