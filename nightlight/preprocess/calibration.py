"""Fitted calibrations ``target ≈ f(source)`` (linear, quadratic, power, sigmoid).

Fitted on valid overlapping pixels with R² / RMSE / bias on held-out pixels;
:meth:`Calibration.apply` is lazy; :meth:`Calibration.to_json` makes a run
reproducible (used for DMSP ↔ VIIRS harmonisation, Li et al. 2020).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from nightlight._backend import ArrayLike, as2d, as_dask, is_dask, map_pixels
from nightlight._resources import catalog_path
from nightlight._version import __version__
from nightlight.errors import CatalogError, FitError, GridMismatchError
from nightlight.grid import chunk_edges, require_same_grid
from nightlight.kernels import pixel as kc

MODELS_FIT = ("linear", "quadratic", "power", "sigmoid")
_N_PARAMS = {"linear": 2, "quadratic": 3, "power": 2, "sigmoid": 4}


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
            raise FitError(
                f"Calibration: model {self.model!r} takes {_N_PARAMS[self.model]} parameters, got {len(self.params)}."
            )
        if self.clip is not None:
            self.clip = (float(self.clip[0]), float(self.clip[1]))

    def _block(self, b: np.ndarray) -> np.ndarray:
        lo, hi = self.clip if self.clip is not None else (-np.inf, np.inf)
        p = np.array(self.params, dtype=np.float64)
        mid = kc.MODEL_IDS[self.model]
        return as2d(lambda x, out: kc.apply_model(x, mid, p, lo, hi, out))(b)

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
            "nightlight_version": __version__,
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text (floats written with Python's round-trip repr, so reading it back is exact)."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> Calibration:
        """Read :meth:`to_json` output: JSON text, a file path, or ``catalog:calibration/NAME.json``."""
        s = os.fspath(text_or_path)
        if not s.lstrip().startswith("{"):
            p = catalog_path(*s[len("catalog:") :].split("/")) if s.startswith("catalog:") else Path(s)
            if not p.is_file():
                raise CatalogError(
                    f"{s}: no such file in the shipped catalog."
                    if s.startswith("catalog:")
                    else f"calibration {s!r}: file not found. Pass a JSON file written by Calibration.to_json()."
                )
            s = p.read_text(encoding="utf-8")
        d = json.loads(s)
        d["clip"] = None if d.get("clip") is None else tuple(d["clip"])  # params: tuple'd by __post_init__
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

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


def fit_scores(y: np.ndarray, yhat: np.ndarray) -> dict:
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
    if p0 is None and model == "power":
        ok = (x + 1 > 0) & (y + 1 > 0)
        b, loga = tuple(np.polyfit(np.log(x[ok] + 1), np.log(y[ok] + 1), 1)) if ok.sum() > 2 else (1.0, 0.0)
        p0 = (math.exp(loga), b)
    elif p0 is None:  # sigmoid
        lo, hi = np.percentile(y, [1, 99])
        xs = np.percentile(x, [5, 50, 95])
        p0 = (max(hi - lo, 1e-6), 4.0 / max(xs[2] - xs[0], 1e-6), xs[1], lo)
    try:
        # the one NumPy form of the models; p0 tells curve_fit how many parameters there are
        popt, _ = curve_fit(lambda v, *p: _predict_np(model, p, v), x, y, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise FitError(
            f"fit: the {model} model did not converge on {x.size} pixels ({exc}). "
            "Try another model, pass p0= starting values, or check that source and target overlap."
        ) from exc
    return tuple(float(v) for v in popt)


def _sample_block(s: ArrayLike, t: ArrayLike, m: ArrayLike | None, p: float, seed: int, k: int) -> np.ndarray:
    rng = np.random.default_rng([seed, k])
    s = np.asarray(s, dtype=np.float64).ravel()
    t = np.asarray(t, dtype=np.float64).ravel()
    keep = np.isfinite(s) & np.isfinite(t)
    if m is not None:
        keep &= np.asarray(m, dtype=bool).ravel()
    if p < 1.0:
        keep &= rng.random(s.size) < p
    return np.stack([s[keep], t[keep]])


def aligned_blocks(
    first: ArrayLike, second: ArrayLike, mask: ArrayLike | None
) -> Iterator[tuple[tuple[Any, Any, Any], int, int]]:
    """The dask blocks of ``first``, ``second`` and ``mask`` (or None) on one chunking, row-major.

    The chunking is ``first``'s (2048 × 2048 for NumPy input); the others are
    rechunked to it. Yields ``((first_block, second_block, mask_block), row0, col0)``,
    the block's offset in the mosaic — the per-block walk of the pixel-pair samplers
    (:func:`_pairs` here, :func:`nightlight.preprocess.invariant.candidates`).
    """
    f = as_dask(first, chunks=2048)
    s = as_dask(second).rechunk(f.chunks)
    m = None if mask is None else as_dask(mask).rechunk(f.chunks)
    rows, cols = chunk_edges(f.chunks)
    # a chunk as a Delayed computes to the chunk itself; ``.blocks[i, j]`` computes to a copy of it
    fd, sd = f.to_delayed(), s.to_delayed()
    md = None if m is None else m.to_delayed()
    for i, j in np.ndindex(*f.numblocks):
        yield (fd[i, j], sd[i, j], None if md is None else md[i, j]), int(rows[i]), int(cols[j])


def _pairs(
    source: ArrayLike, target: ArrayLike, mask: ArrayLike | None, sample: int | None, seed: int, label: str
) -> np.ndarray:
    """(2, n) array of valid (source, target) pixel pairs, sampled when large."""
    if (
        isinstance(source, xr.DataArray)
        and isinstance(target, xr.DataArray)
        and source.rio.crs is not None
        and target.rio.crs is not None
    ):
        require_same_grid(source, target, names=(f"source{label}", f"target{label}"))
    if np.shape(source) != np.shape(target):
        raise GridMismatchError(
            f"fit: source{label} has shape {np.shape(source)} but target{label} has {np.shape(target)}; "
            "they must be the same pixels. Resample one onto the other first (nightlight.align_to)."
        )
    if mask is not None and np.shape(mask) != np.shape(source):
        raise GridMismatchError(
            f"fit: mask{label} shape {np.shape(mask)} differs from source shape {np.shape(source)}."
        )
    size = int(np.prod(np.shape(source)))
    p = 1.0 if sample is None or sample >= size else sample / size
    if is_dask(source, target):
        import dask

        tasks = [
            dask.delayed(_sample_block)(*blocks, p, seed, k)
            for k, (blocks, _, _) in enumerate(aligned_blocks(source, target, mask))
        ]
        parts = dask.compute(*tasks)
        return np.concatenate(parts, axis=1) if parts else np.empty((2, 0))
    pr = _sample_block(source, target, mask, 1.0, seed, 0)
    if sample is not None and pr.shape[1] > sample:
        idx = np.random.default_rng([seed, 0]).choice(pr.shape[1], size=sample, replace=False)
        pr = pr[:, np.sort(idx)]
    return pr


def _pooled(x: ArrayLike | Sequence[ArrayLike]) -> list[ArrayLike]:
    """The arrays ``fit`` pools: a Sequence (list, tuple) holds several; an array (NumPy, DataArray, dask) is one."""
    return list(x) if isinstance(x, Sequence) else [x]


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
    srcs = _pooled(source)
    tgts = _pooled(target)
    masks: list[ArrayLike | None] = list(mask) if isinstance(mask, Sequence) else [mask] * len(srcs)
    if len(srcs) != len(tgts) or len(masks) != len(srcs):
        raise FitError(
            f"fit: {len(srcs)} source arrays but {len(tgts)} target arrays (and {len(masks)} masks); "
            "pair them one to one."
        )
    per = None if sample is None else max(1, sample // len(srcs))
    pairs = np.concatenate(
        [
            _pairs(s, t, m, per, seed + i, f"[{i}]" if len(srcs) > 1 else "")
            for i, (s, t, m) in enumerate(zip(srcs, tgts, masks))
        ],
        axis=1,
    )
    n = pairs.shape[1]
    if n < max(min_pixels, _N_PARAMS[model] + 2):
        raise FitError(
            f"fit: only {n} valid overlapping pixels (source and target both finite"
            f"{', inside mask' if mask is not None else ''}); "
            f"at least {max(min_pixels, _N_PARAMS[model] + 2)} are needed. "
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
    tr, te = fit_scores(y[train], pred(train)), fit_scores(y[test], pred(test))
    metrics = {**te, **{f"{k}_train": v for k, v in tr.items()}}
    return Calibration(
        model=model,
        params=params,
        clip=clip,
        metrics=metrics,
        n_train=int(train.size),
        n_test=int(test.size),
        seed=seed,
        meta=dict(meta or {}),
    )
