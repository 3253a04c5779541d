"""The step registry: named pre-processing steps → the functions of the other preprocess modules.

Nothing imports this module back (:data:`STEPS` maps each name to its runner).

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
``normalise``               brightness correction to a reference year on pseudo-invariant pixels:
                            ``{"reference": PATH, "level": L, "exclude": POLYGONS_OR_MASK, "buffer": 2,
                            "model": "gain" | "linear", "align": None | "nearest"}`` — the reference year
                            passes unchanged, every other year is fitted to it (:func:`normalise_step`,
                            :func:`nightlight.preprocess.normalise.fit_normalisation`)
==========================  =========================================================================

The record returned with the result lists, per step, its name, its parameters and
the nightlight version, so a reader of the output knows what was done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from nightlight._backend import is_dask, map_pixels
from nightlight._version import __version__
from nightlight.errors import CatalogError, ParameterError, UnitsError
from nightlight.io.raster import open_mosaic, source_identity, source_label
from nightlight.preprocess import denoise, harmonize
from nightlight.preprocess.calibration import Calibration
from nightlight.preprocess.dmsp import intercalibrate
from nightlight.preprocess.normalise import fit_normalisation


@dataclass(frozen=True)
class Step:
    """A named pre-processing step: which sensor it belongs to and how to run it.

    ``run(mosaic, params)`` returns the new mosaic and the parameters to record.
    """

    sensor: str | None  # "viirs", "dmsp" or None (either)
    run: Callable[[Any, Any], tuple[Any, Any]]


def _mapping(params: Any, default: dict | None = None) -> dict:
    return dict(params) if params else dict(default or {})


def _noise_floor(da: Any, params: Any) -> tuple[Any, Any]:
    floor = 0.6 if params is None else float(params.get("floor", 0.6) if isinstance(params, Mapping) else params)
    return denoise.clean(da, negatives="keep", floor=floor), floor


def _background(da: Any, params: Any) -> tuple[Any, Any]:
    p = dict(params) if isinstance(params, Mapping) else {"threshold": params}
    return denoise.background_test(da, **p), p


def _flare_mask(da: Any, params: Any) -> tuple[Any, Any]:
    p = _mapping(params)
    return denoise.mask_flares(da, **p), {k: str(v) for k, v in p.items()}


def _calibration(da: Any, params: Any) -> tuple[Any, Any]:
    cal = params if isinstance(params, Calibration) else Calibration.from_json(params)
    source = "in-memory" if isinstance(params, Calibration) else str(params)
    return cal.apply(da), {"source": source, **cal.to_dict()}


#: Parameters of the ``normalise`` step (``reference`` and ``align`` are its own, the rest go to the fit).
NORMALISE_KEYS = frozenset("reference align level exclude buffer model k max_iter sample seed min_pixels".split())


def normalise_step(mosaic: xr.DataArray, params: Any) -> tuple[xr.DataArray, dict]:
    """The ``normalise`` step: put ``mosaic`` on a reference year's radiometry (pseudo-invariant pixels).

    ``params``: ``{"reference": PATH_OR_DATAARRAY, "level": L, "exclude": POLYGONS_OR_MASK,
    "buffer": 2, "model": "gain", "align": None | "nearest" | …, "k", "sample", "seed"}``.
    The same steps run on every mosaic of a run, so every year is fitted to the one
    reference; the reference itself (the same object or the same file) passes through
    unchanged. ``align`` resamples the reference onto the mosaic's grid for the fit
    only (``nightlight.align_to``), for years whose grids differ by a fraction of a pixel.
    The fit reads both mosaics once, when the step is applied. A path reference is
    read as it is on disk: put ``normalise`` first among the steps (or pass a
    reference DataArray prepared like the other years).
    """
    p = dict(params) if isinstance(params, Mapping) else {"reference": params}
    if p.get("reference") is None or "level" not in p:
        raise ParameterError(
            "normalise step: needs `reference` (the base-year mosaic: path or DataArray) and `level` (lit level in "
            "mosaic units), e.g. {'normalise': {'reference': '2013.tif', 'level': 3, 'exclude': 'cities.gpkg'}} "
            "or on the command line normalise:reference=2013.tif:level=3:exclude=cities.gpkg."
        )
    unknown = sorted(set(p) - NORMALISE_KEYS)
    if unknown:
        raise ParameterError(f"normalise step: unknown parameter(s) {unknown}; known: {sorted(NORMALISE_KEYS)}.")
    ref, align, exclude = p.pop("reference"), p.pop("align", None), p.get("exclude")
    label = _label(ref)
    record = {"reference": label, "exclude": None if exclude is None else _label(exclude), "align": align}
    record.update({key: v for key, v in p.items() if key != "exclude"})
    if _same_source(mosaic, ref):
        return mosaic, {**record, "identity": True}
    ref_da = open_mosaic(ref, chunks=mosaic.data.chunksize if is_dask(mosaic) else None)
    if align:
        from nightlight.io.align import align_to

        ref_da = align_to(ref_da, mosaic, resampling=str(align))
    fit = fit_normalisation(ref_da, mosaic, meta={"reference": label, "exclude": record["exclude"]}, **p)
    out: Any = fit.apply(mosaic)
    return out, {**record, "identity": False, "fit": fit.to_dict()}


def _label(obj: Any) -> str:
    """How to record a reference or an exclusion: its path, a DataArray's source, or its type and size."""
    if isinstance(obj, (str, os.PathLike, xr.DataArray)):
        return source_label(obj)
    return f"{type(obj).__name__} ({len(obj)} rows)" if hasattr(obj, "__len__") else type(obj).__name__


def _same_source(mosaic: xr.DataArray, ref: Any) -> bool:
    """True when ``mosaic`` is the reference: the same object, or read from the same file/URL."""
    if mosaic is ref:
        return True
    src = mosaic.attrs.get("source")
    other = ref if isinstance(ref, (str, os.PathLike)) else getattr(ref, "attrs", {}).get("source")
    return bool(src and other) and source_identity(str(src)) == source_identity(other)


def _with_params(func: Callable[..., Any], default: dict | None = None) -> Callable[[Any, Any], tuple[Any, Any]]:
    """A step that passes its mapping of parameters (else ``default``) to ``func`` as keywords and records them."""

    def run(da: Any, params: Any) -> tuple[Any, Any]:
        p = _mapping(params, default)
        return func(da, **p), p

    return run


#: The registry: step name → :class:`Step`. Add a step here (and to the table above).
STEPS: dict[str, Step] = {
    "negatives_to_zero": Step("viirs", lambda da, p: (denoise.clean(da, negatives="zero"), p)),
    "negatives_to_nan": Step("viirs", lambda da, p: (denoise.clean(da, negatives="nan"), p)),
    "noise_floor": Step("viirs", _noise_floor),
    "cap": Step("viirs", _with_params(denoise.cap_outliers, {"percentile": 99.99})),
    "background": Step("viirs", _background),
    "flare_mask": Step("viirs", _flare_mask),
    "blur": Step("viirs", _with_params(harmonize.gaussian_blur)),
    "aggregate": Step("viirs", _with_params(harmonize.aggregate)),
    "intercalibrate": Step("dmsp", lambda da, p: (intercalibrate(da, **_mapping(p)), p)),
    "calibration": Step(None, _calibration),
    "log1p": Step(None, lambda da, p: (map_pixels(da, np.log1p), p)),
    "normalise": Step(None, normalise_step),
}
STEP_NAMES = tuple(sorted(STEPS))


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
        _check_sensor(name, sensor)
        out, rec_params = STEPS[name].run(out, params)
        record.append({"step": name, "params": rec_params, "nightlight_version": __version__})
    if isinstance(out, xr.DataArray):
        out.attrs["nightlight_steps"] = json.dumps(record)
    return out, record


def _check_sensor(name: str, sensor: str | None) -> None:
    """Refuse a step of the other sensor family when the caller named the sensor."""
    owner = STEPS[name].sensor
    if sensor == "dmsp" and owner == "viirs":
        raise UnitsError(
            f"apply_steps: step {name!r} is a VIIRS radiance step but sensor='dmsp'. "
            "DMSP DN need 'intercalibrate'; if the mosaic really is VIIRS, pass sensor='viirs'."
        )
    if sensor == "viirs" and owner == "dmsp":
        raise UnitsError(
            f"apply_steps: step {name!r} calibrates DMSP DN (0–63) but sensor='viirs'. For VIIRS → DMSP-like "
            "use the 'calibration' step with a fitted sigmoid (nightlight.preprocess.harmonize)."
        )
