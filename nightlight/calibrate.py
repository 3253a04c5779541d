"""Make brightness comparable across years and sensors (METHOD.md, "Cross-sensor calibration").

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
                            CRS units) — see :func:`nightlight.denoise.cap_outliers`
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

import csv
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from nightlight.errors import CatalogError, FitError, GridMismatchError, UnitsError
from nightlight.kernels import calibrate as kc

DMSP_MAX_DN = 63.0
MODELS_FIT = ("linear", "quadratic", "power", "sigmoid")
_N_PARAMS = {"linear": 2, "quadratic": 3, "power": 2, "sigmoid": 4}

ArrayLike = np.ndarray | xr.DataArray


# ---------------------------------------------------------------------------
# Helpers shared by calibrate / denoise / harmonize: lazy per-block application
# ---------------------------------------------------------------------------

def _float_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def map_pixels(data: ArrayLike, func: Callable[[np.ndarray], np.ndarray], *, name: str = "result") -> ArrayLike:
    """Apply a per-pixel block function lazily; keep coords, attrs and CRS.

    ``func`` gets a 2-D float block and returns a float block of the same shape. NumPy
    input → NumPy output; DataArray (dask or not) → DataArray of the same kind.
    """
    if isinstance(data, xr.DataArray):
        arr = data.data
        out_dtype = _float_dtype(data.dtype)
        if hasattr(arr, "dask"):
            new = arr.map_blocks(lambda b: func(np.asarray(b, dtype=out_dtype)), dtype=out_dtype)
        else:
            new = func(np.asarray(arr, dtype=out_dtype))
        return data.copy(data=new)
    arr = np.asarray(data)
    return func(arr.astype(_float_dtype(arr.dtype), copy=False))


def _as2d(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Run a 2-D kernel ``fn(block, out)`` on blocks of any dimension ≥ 1."""

    def run(block: np.ndarray) -> np.ndarray:
        b = np.ascontiguousarray(block)
        shape = b.shape
        b2 = b.reshape(1, -1) if b.ndim == 1 else b.reshape(-1, shape[-1])
        out = np.empty_like(b2)
        fn(b2, out)
        return out.reshape(shape)

    return run


def _version() -> str:
    import nightlight

    return nightlight.__version__


# ---------------------------------------------------------------------------
# Units checks (DN vs radiance mix-ups)
# ---------------------------------------------------------------------------

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
            + ("Negative values and values above 63 look like VIIRS radiance (nW/cm²/sr): "
               "for VIIRS use nightlight.harmonize.harmonize_viirs / the denoise steps, not DMSP inter-calibration. "
               if hi > DMSP_MAX_DN or lo < 0 else "")
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
    if float(v.max()) == DMSP_MAX_DN and v.min() >= 0 and np.all(v == np.round(v)) and np.mean(v == DMSP_MAX_DN) >= 0.01:
        warnings.warn(
            f"{name}: whole numbers 0–63 with {np.mean(v == DMSP_MAX_DN):.1%} of pixels at exactly 63 — this looks like "
            "DMSP-OLS DN, not VIIRS radiance (nW/cm²/sr). Use nightlight.calibrate.intercalibrate for DMSP.",
            UserWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------
# Catalog of published DMSP inter-calibration coefficients
# ---------------------------------------------------------------------------

_TABLE: list[dict] | None = None


def coefficients() -> list[dict]:
    """All rows of ``catalog/calibration/dmsp_intercalibration.csv`` (see its README for sources)."""
    global _TABLE
    if _TABLE is None:
        from nightlight import catalog_path

        path = catalog_path("calibration", "dmsp_intercalibration.csv")
        with path.open("r", encoding="utf-8") as f:
            rows = []
            for r in csv.DictReader(f):
                r["year"] = int(r["year"])
                r["step"] = int(r["step"])
                for k in ("c0", "c1", "c2"):
                    r[k] = float(r[k]) if r[k] != "" else 0.0
                rows.append(r)
        _TABLE = rows
    return _TABLE


def _available(model: str | None = None) -> str:
    rows = coefficients()
    if model is None:
        return ", ".join(sorted({r["model"] for r in rows}))
    by_sat: dict[str, list[int]] = {}
    for r in rows:
        if r["model"] == model and r["step"] == 1:
            by_sat.setdefault(r["satellite"], []).append(r["year"])
    return "; ".join(
        f"{s} {min(y)}–{max(y)}" + ("" if len(y) == max(y) - min(y) + 1 else f" ({sorted(y)})")
        for s, y in sorted(by_sat.items())
    )


def calibration_steps(satellite: str, year: int, model: str = "elvidge2014", *, allow_suspect: bool = False) -> list[dict]:
    """Catalog rows (ordered steps) calibrating ``satellite``/``year`` with ``model``.

    Raises
    ------
    CatalogError
        Unknown model or satellite-year (the message lists what exists), or a row
        marked suspect while ``allow_suspect`` is False.
    """
    model = model.lower()
    rows = coefficients()
    if model not in {r["model"] for r in rows}:
        raise CatalogError(f"model={model!r} is not in the calibration catalog. Available models: {_available()}.")
    sat = satellite.upper()
    hit = sorted((r for r in rows if r["model"] == model and r["satellite"] == sat and r["year"] == int(year)),
                 key=lambda r: r["step"])
    if not hit:
        raise CatalogError(
            f"model={model!r} has no coefficients for satellite={satellite!r}, year={year}. "
            f"Available for {model}: {_available(model)}."
        )
    bad = [r for r in hit if r["status"] != "ok"]
    if bad and not allow_suspect:
        raise CatalogError(
            f"{model} {sat} {year}: this row is marked suspect in catalog/calibration ({bad[0]['note']}). "
            "Pick another model or satellite for this year, or pass allow_suspect=True to use it anyway."
        )
    return hit


# ---------------------------------------------------------------------------
# DMSP inter-calibration
# ---------------------------------------------------------------------------

def _intercalibrate_one(dn: ArrayLike, steps: list[dict], keep_zero: bool, name: str) -> ArrayLike:
    coefs = np.array([[r["c0"], r["c1"], r["c2"]] for r in steps], dtype=np.float64)
    forms = np.array([kc.FORM_IDS[r["form"]] for r in steps], dtype=np.int64)

    def block(b: np.ndarray) -> np.ndarray:
        check_dn(b, name)
        return _as2d(lambda x, out: kc.dmsp_chain(x, coefs, forms, keep_zero, out))(b)

    return map_pixels(dn, block)


def intercalibrate(
    dmsp: ArrayLike | Mapping[str, ArrayLike],
    satellite: str | None = None,
    year: int | None = None,
    model: str = "elvidge2014",
    *,
    allow_suspect: bool = False,
    keep_zero: bool = False,
) -> ArrayLike:
    """Inter-calibrate DMSP-OLS stable-lights DN to the model's reference satellite-year.

    ``DN' = c0 + c1·DN + c2·DN²`` (Elvidge et al. 2009, 2014; Liu et al. 2012; Li & Zhou
    2017 stepwise, two steps for F16) or ``DN' + 1 = a·(DN + 1)^b`` (Wu et al. 2013),
    clipped to [0, 63] DN. Per-pixel work runs in a numba kernel, lazily per chunk.

    Parameters
    ----------
    dmsp : DataArray, ndarray, or mapping satellite → mosaic
        DN 0–63 (NaN = nodata). A mapping such as ``{"F15": a, "F16": b}`` calibrates
        each satellite of ``year`` and returns their mean (NaN-aware) — the usual
        practice when two satellites cover a year. Mosaics must share one grid.
    satellite : str
        ``"F10"`` … ``"F18"``; omitted when ``dmsp`` is a mapping.
    year : int
    model : str
        ``"elvidge2009"``, ``"elvidge2014"`` (default), ``"liu2012"``, ``"wu2013"``, ``"lizhou2017"``.
    allow_suspect : bool
        Use rows the catalog marks suspect (e.g. Elvidge 2014 F18 2004–2012).
    keep_zero : bool
        Keep DN 0 at 0 (otherwise the intercept lifts dark background, as in the papers).

    Returns
    -------
    Same kind as the input, float32, calibrated DN in [0, 63].

    Raises
    ------
    CatalogError
        Unknown model / satellite-year, or a suspect row without ``allow_suspect``.
    UnitsError
        Values outside 0–63 (raised when the chunk is computed for dask input).
    """
    if year is None:
        raise CatalogError("intercalibrate: year= is required (the coefficients are per satellite-year).")
    if isinstance(dmsp, Mapping):
        if not dmsp:
            raise CatalogError("intercalibrate: the mapping of satellite → mosaic is empty.")
        outs = []
        names = list(dmsp)
        for sat, mosaic in dmsp.items():
            steps = calibration_steps(sat, year, model, allow_suspect=allow_suspect)
            outs.append(_intercalibrate_one(mosaic, steps, keep_zero, f"dmsp[{sat!r}]"))
        if all(isinstance(o, xr.DataArray) for o in outs) and outs[0].rio.crs is not None:
            from nightlight.grid import require_same_grid

            for n, o in zip(names[1:], outs[1:]):
                require_same_grid(outs[0], o, names=(f"dmsp[{names[0]!r}]", f"dmsp[{n!r}]"))
        elif len({np.shape(o) for o in outs}) > 1:
            raise GridMismatchError(f"intercalibrate: the satellites' arrays differ in shape: {[np.shape(o) for o in outs]}.")
        if isinstance(outs[0], xr.DataArray):
            stacked = xr.Variable.concat([o.variable for o in outs], dim="satellite")
            mean = stacked.mean("satellite", skipna=True)
            res = outs[0].copy(data=mean.data)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = np.nanmean(np.stack(outs), axis=0).astype(np.float32)
        if isinstance(res, xr.DataArray):
            res.attrs.update({"calibration": f"{model} {'+'.join(names)} {year}", "units": "DN"})
        return res
    if satellite is None:
        raise CatalogError(f"intercalibrate: satellite= is required. Available for {model}: {_available(model.lower())}.")
    steps = calibration_steps(satellite, year, model, allow_suspect=allow_suspect)
    res = _intercalibrate_one(dmsp, steps, keep_zero, "dmsp")
    if isinstance(res, xr.DataArray):
        res.attrs.update({"calibration": f"{model} {satellite} {year}", "units": "DN"})
    return res


# ---------------------------------------------------------------------------
# Fitted calibrations
# ---------------------------------------------------------------------------

@dataclass
class Calibration:
    """A fitted ``target ≈ f(source)`` with its goodness of fit, serialisable to JSON.

    Attributes
    ----------
    model : str
        ``linear`` (a + b·x), ``quadratic`` (c0 + c1·x + c2·x²), ``power``
        ((y + 1) = a·(x + 1)^b, Wu 2013) or ``sigmoid`` (L / (1 + e^(−k(x − x0))) + b,
        Li et al. 2020).
    params : tuple of float
        Coefficients in the order above.
    clip : (float, float) or None
        Output clip range (e.g. (0, 63) for DMSP-like DN).
    metrics : dict
        ``r2``, ``rmse``, ``bias`` on held-out pixels (``*_train`` on the training ones).
    n_train, n_test, seed : int
    meta : dict
        Free-form provenance (source/target names, years, preprocessing).
    """

    model: str
    params: tuple[float, ...]
    clip: tuple[float, float] | None = None
    metrics: dict = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    seed: int = 0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODELS_FIT:
            raise CatalogError(f"Calibration: model={self.model!r} is unknown. Available: {', '.join(MODELS_FIT)}.")
        self.params = tuple(float(p) for p in self.params)
        if len(self.params) != _N_PARAMS[self.model]:
            raise FitError(f"Calibration: model {self.model!r} takes {_N_PARAMS[self.model]} parameters, got {len(self.params)}.")
        if self.clip is not None:
            self.clip = (float(self.clip[0]), float(self.clip[1]))

    def _block(self, b: np.ndarray) -> np.ndarray:
        lo, hi = self.clip if self.clip is not None else (-np.inf, np.inf)
        p = np.array(self.params, dtype=np.float64)
        mid = kc.MODEL_IDS[self.model]
        return _as2d(lambda x, out: kc.apply_model(x, mid, p, lo, hi, out))(b)

    def apply(self, mosaic: ArrayLike) -> ArrayLike:
        """``clip(f(mosaic))`` per pixel (numba), lazily per chunk; NaN stays NaN."""
        out = map_pixels(mosaic, self._block)
        if isinstance(out, xr.DataArray):
            out.attrs["calibration"] = f"{self.model} {list(self.params)}"
        return out

    __call__ = apply

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "params": list(self.params),
            "clip": None if self.clip is None else list(self.clip),
            "metrics": self.metrics,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "seed": self.seed,
            "meta": self.meta,
            "nightlight_version": _version(),
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text (floats written with Python's round-trip repr, so reading it back is exact)."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=True)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> "Calibration":
        """Read :meth:`to_json` output: JSON text, a file path, or ``catalog:calibration/NAME.json``."""
        s = os.fspath(text_or_path)
        if s.lstrip().startswith("{"):
            d = json.loads(s)
        else:
            if s.startswith("catalog:"):
                from nightlight import catalog_path

                p = catalog_path(*s[len("catalog:"):].split("/"))
                if not p.is_file():
                    raise CatalogError(f"{s}: no such file in the shipped catalog.")
                d = json.loads(p.read_text(encoding="utf-8"))
            else:
                if not os.path.isfile(s):
                    raise CatalogError(f"calibration {s!r}: file not found. Pass a JSON file written by Calibration.to_json().")
                with open(s, encoding="utf-8") as f:
                    d = json.load(f)
        d.pop("nightlight_version", None)
        clip = d.get("clip")
        return cls(
            model=d["model"], params=tuple(d["params"]), clip=None if clip is None else tuple(clip),
            metrics=d.get("metrics", {}), n_train=d.get("n_train", 0), n_test=d.get("n_test", 0),
            seed=d.get("seed", 0), meta=d.get("meta", {}),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calibration) and self.to_dict() == other.to_dict()


def _predict_np(model: str, p: Sequence[float], x: np.ndarray) -> np.ndarray:
    """NumPy form of the models (used for fitting; the numba kernel is used to apply)."""
    if model == "linear":
        return p[0] + p[1] * x
    if model == "quadratic":
        return p[0] + p[1] * x + p[2] * x * x
    if model == "power":
        return p[0] * np.power(np.maximum(x + 1.0, 0.0), p[1]) - 1.0
    with np.errstate(over="ignore"):
        return p[0] / (1.0 + np.exp(-p[1] * (x - p[2]))) + p[3]


def _scores(y: np.ndarray, yhat: np.ndarray) -> dict:
    resid = yhat - y
    ss_res = float(np.sum(resid**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "rmse": math.sqrt(ss_res / y.size),
        "bias": float(resid.mean()),
    }


def _fit_params(model: str, x: np.ndarray, y: np.ndarray, p0: Sequence[float] | None) -> tuple[float, ...]:
    from scipy.optimize import curve_fit

    if model in ("linear", "quadratic"):
        deg = 1 if model == "linear" else 2
        return tuple(np.polynomial.polynomial.polyfit(x, y, deg))
    if model == "power":
        f = lambda x, a, b: a * np.power(np.maximum(x + 1.0, 0.0), b) - 1.0  # noqa: E731
        if p0 is None:
            ok = (x + 1 > 0) & (y + 1 > 0)
            b, loga = np.polyfit(np.log(x[ok] + 1), np.log(y[ok] + 1), 1) if ok.sum() > 2 else (1.0, 0.0)
            p0 = (math.exp(loga), b)
    else:
        def f(x, L, k, x0, b):
            with np.errstate(over="ignore"):
                return L / (1.0 + np.exp(-k * (x - x0))) + b

        if p0 is None:
            lo, hi = np.percentile(y, [1, 99])
            xs = np.percentile(x, [5, 50, 95])
            p0 = (max(hi - lo, 1e-6), 4.0 / max(xs[2] - xs[0], 1e-6), xs[1], lo)
    try:
        popt, _ = curve_fit(f, x, y, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise FitError(
            f"fit: the {model} model did not converge on {x.size} pixels ({exc}). "
            "Try another model, pass p0= starting values, or check that source and target overlap."
        ) from exc
    return tuple(float(v) for v in popt)


def _is_dask(a: Any) -> bool:
    return isinstance(a, xr.DataArray) and hasattr(a.data, "dask")


def _sample_block(s: np.ndarray, t: np.ndarray, m: np.ndarray | None, p: float, seed: int, k: int) -> np.ndarray:
    rng = np.random.default_rng([seed, k])
    s = np.asarray(s, dtype=np.float64).ravel()
    t = np.asarray(t, dtype=np.float64).ravel()
    keep = np.isfinite(s) & np.isfinite(t)
    if m is not None:
        keep &= np.asarray(m, dtype=bool).ravel()
    if p < 1.0:
        keep &= rng.random(s.size) < p
    return np.stack([s[keep], t[keep]])


def _pairs(source: ArrayLike, target: ArrayLike, mask: ArrayLike | None, sample: int | None, seed: int, label: str) -> np.ndarray:
    """(2, n) array of valid (source, target) pixel pairs, sampled when large."""
    if isinstance(source, xr.DataArray) and isinstance(target, xr.DataArray) \
            and source.rio.crs is not None and target.rio.crs is not None:
        from nightlight.grid import require_same_grid

        require_same_grid(source, target, names=(f"source{label}", f"target{label}"))
    if np.shape(source) != np.shape(target):
        raise GridMismatchError(
            f"fit: source{label} has shape {np.shape(source)} but target{label} has {np.shape(target)}; "
            "they must be the same pixels. Resample one onto the other first (nightlight.align_to)."
        )
    if mask is not None and np.shape(mask) != np.shape(source):
        raise GridMismatchError(f"fit: mask{label} shape {np.shape(mask)} differs from source shape {np.shape(source)}.")
    size = int(np.prod(np.shape(source)))
    p = 1.0 if sample is None or sample >= size else sample / size
    if _is_dask(source) or _is_dask(target):
        import dask
        import dask.array as dsa

        s = source.data if _is_dask(source) else dsa.from_array(np.asarray(source), chunks=2048)
        t = (target.data if isinstance(target, xr.DataArray) else dsa.asarray(target)).rechunk(s.chunks)
        mm = None if mask is None else dsa.asarray(mask.data if isinstance(mask, xr.DataArray) else mask).rechunk(s.chunks)
        tasks = []
        for k, idx in enumerate(np.ndindex(*s.numblocks)):
            tasks.append(dask.delayed(_sample_block)(s.blocks[idx], t.blocks[idx], None if mm is None else mm.blocks[idx], p, seed, k))
        parts = dask.compute(*tasks)
        return np.concatenate(parts, axis=1) if parts else np.empty((2, 0))
    m = None if mask is None else np.asarray(mask)
    s_np = np.asarray(source)
    t_np = np.asarray(target)
    pr = _sample_block(s_np, t_np, m, 1.0, seed, 0)
    if sample is not None and pr.shape[1] > sample:
        idx = np.random.default_rng([seed, 0]).choice(pr.shape[1], size=sample, replace=False)
        pr = pr[:, np.sort(idx)]
    return pr


def fit(
    source: ArrayLike | Sequence[ArrayLike],
    target: ArrayLike | Sequence[ArrayLike],
    *,
    model: str = "sigmoid",
    sample: int | None = 200_000,
    test_fraction: float = 0.25,
    seed: int = 0,
    mask: ArrayLike | Sequence[ArrayLike] | None = None,
    clip: tuple[float, float] | None = None,
    min_pixels: int = 30,
    p0: Sequence[float] | None = None,
    meta: Mapping | None = None,
) -> Calibration:
    """Fit ``target ≈ f(source)`` on valid overlapping pixels and score it on held-out pixels.

    Parameters
    ----------
    source, target : ndarray or DataArray, or sequences of them (pooled, e.g. 2012 and 2013)
        The same pixels (georeferenced DataArrays must share a grid: GridMismatchError
        otherwise; plain arrays must share a shape). NaN marks nodata.
    model : {"sigmoid", "quadratic", "power", "linear"}
        Sigmoid as in Li et al. 2020 (VIIRS → DMSP-like); quadratic as Elvidge 2009;
        power as Wu 2013.
    sample : int or None
        Keep at most this many valid pixel pairs (seeded random sample; for dask input
        each chunk is sampled with its own seed, so the mosaic is never loaded whole).
    test_fraction : float
        Share of the sampled pixels held out for the reported R² / RMSE / bias.
    seed : int
    mask : optional boolean array(s), True = use the pixel (e.g. DMSP DN > 7 and < 63).
    clip : (lo, hi), optional
        Clip predictions (also used when scoring), e.g. (0, 63) for DMSP-like DN.
    min_pixels : int
        Fewer valid pairs than this raise :class:`FitError`.
    p0 : optional starting values for the non-linear models.
    meta : optional provenance stored in the result.

    Returns
    -------
    Calibration
    """
    if model not in MODELS_FIT:
        raise CatalogError(f"fit: model={model!r} is unknown. Available: {', '.join(MODELS_FIT)}.")
    if not 0.0 < test_fraction < 1.0:
        raise FitError(f"fit: test_fraction={test_fraction} must be between 0 and 1 (e.g. 0.25).")
    srcs = list(source) if isinstance(source, (list, tuple)) else [source]
    tgts = list(target) if isinstance(target, (list, tuple)) else [target]
    masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(srcs)
    if len(srcs) != len(tgts) or len(masks) != len(srcs):
        raise FitError(f"fit: {len(srcs)} source arrays but {len(tgts)} target arrays (and {len(masks)} masks); pair them one to one.")
    per = None if sample is None else max(1, sample // len(srcs))
    pairs = np.concatenate(
        [_pairs(s, t, m, per, seed + i, f"[{i}]" if len(srcs) > 1 else "") for i, (s, t, m) in enumerate(zip(srcs, tgts, masks))],
        axis=1,
    )
    n = pairs.shape[1]
    if n < max(min_pixels, _N_PARAMS[model] + 2):
        raise FitError(
            f"fit: only {n} valid overlapping pixels (source and target both finite"
            f"{', inside mask' if mask is not None else ''}); at least {max(min_pixels, _N_PARAMS[model] + 2)} are needed. "
            "Use a larger area, more years, or a looser mask."
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    test, train = order[:n_test], order[n_test:]
    x, y = pairs[0], pairs[1]
    params = _fit_params(model, x[train], y[train], p0)
    lo, hi = clip if clip is not None else (-np.inf, np.inf)
    pred = lambda idx: np.clip(_predict_np(model, params, x[idx]), lo, hi)  # noqa: E731
    tr, te = _scores(y[train], pred(train)), _scores(y[test], pred(test))
    metrics = {**te, **{f"{k}_train": v for k, v in tr.items()}}
    return Calibration(
        model=model, params=params, clip=clip, metrics=metrics, n_train=int(train.size),
        n_test=int(test.size), seed=seed, meta=dict(meta or {}),
    )


# ---------------------------------------------------------------------------
# Named steps for the CLI and detect_shrinking
# ---------------------------------------------------------------------------

_VIIRS_STEPS = {"negatives_to_zero", "negatives_to_nan", "noise_floor", "cap", "background", "flare_mask", "blur", "aggregate"}
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
        if ":" in item and (item.index(":") < item.index("=") if "=" in item else True) and not item.startswith("calibration="):
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
        (name, params), = step.items()
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
    from nightlight import denoise, harmonize

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
                "For VIIRS → DMSP-like use the 'calibration' step with a fitted sigmoid (nightlight.harmonize)."
            )
        rec_params: Any = params
        if name == "negatives_to_zero":
            out = denoise.clean(out, negatives="zero")
        elif name == "negatives_to_nan":
            out = denoise.clean(out, negatives="nan")
        elif name == "noise_floor":
            floor = float(params if not isinstance(params, Mapping) else params.get("floor", 0.6)) if params is not None else 0.6
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
            rec_params = {"source": str(params) if not isinstance(params, Calibration) else "in-memory", **cal.to_dict()}
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
        record.append({"step": name, "params": rec_params, "nightlight_version": _version()})
    if isinstance(out, xr.DataArray):
        out.attrs["nightlight_steps"] = json.dumps(record)
    return out, record
