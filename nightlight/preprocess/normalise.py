"""Brightness correction between years: relative radiometric normalisation on pseudo-invariant pixels.

The study corrected brightness between 2013 and 2016 before comparing (docs/method.md).
The standard way (Schott, Salvaggio & Volchok 1988; Canty & Nielsen 2008): fit
``after ≈ a·before + b`` on pixels that did not change, then put the later year on
the reference's radiometry, ``after′ = (after − b) / a``.

Which pixels (the pseudo-invariant set, :mod:`nightlight.preprocess.invariant`)
    * **outside the cities under test** (``exclude``, dilated by ``buffer`` px): else
      a real, widespread decline of those cities is absorbed into the correction;
    * **lit in both years**: ``before ≥ level`` and ``after ≥ a·level + b`` — the same
      level on the reference scale, so the selection stays symmetric between the
      years under the fitted map (a fixed level on the later year cuts its noise from
      below whenever a ≠ 1; a level on the reference alone keeps pixels whose noise
      lifted them over it — regression to the mean). On integer data (DN, 8-bit
      copies) ``after`` is compared with a seeded within-bin dither, as the value
      lies anywhere in its bin; without it the level jumps by whole units as ``a``
      moves and the alternation below locks onto the jump;
    * **stable**: the log residual ``log after − log(a·before + b)`` within
      ``median ± k·σ̂`` (σ̂ = 1.4826·MAD), re-selected around each new fit until the
      set settles.

What model, fitted how
    ``model="gain"`` (default): ``a·x``. A calibration or processing change scales
    radiance; an offset needs invariant pixels over a wide range of brightness, and
    outside the cities they are dim: on the China VIIRS-like 2013→2016 copies the
    two regressions (2016 on 2013, 2013 on 2016) of the stable set give slopes 0.6
    and 2.0 — the offset there is set by noise. ``model="linear"`` (``a·x + b``,
    docs/method.md's form) when the pixels do span a range; a warning says when they do not.
    Each regression is a Huber M-estimate (c = 1.345 σ̂) by Gauss–Newton IRLS **on the
    log residual**: noise grows with brightness, and in log space every pixel has
    about the same leverage (d log(a·x+b)/da = x/(a·x+b) ≈ 1/a), so a few bright
    pixels cannot dominate as they do a least-squares line in radiance. Both years
    are noisy alike, so y-on-x flattens the slope and x-on-y steepens it; the fit is
    their geometric mean (the line pivots where the two cross), which cancels the
    attenuation to first order and makes swapping the years invert the map.
    Not Theil–Sen: on integer data its pairwise slopes pile up on exact ratios
    (Δy = Δx gives exactly 1) and the median sticks to them.

The result, a :class:`Normalisation`, is a linear :class:`Calibration` (the
``calibration=PATH`` step re-applies a saved one) with ``gain``, ``offset``, pixel
counts and R²/RMSE/bias of the corrected later year on held-out stable pixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from nightlight._backend import ArrayLike, as_dask, is_dask
from nightlight.errors import FitError, ParameterError
from nightlight.grid import Grid
from nightlight.io.zones import ZoneRead, zone_pixels, zone_read
from nightlight.preprocess.calibration import Calibration, fit_scores
from nightlight.preprocess.invariant import candidates, exclusion_mask, exclusion_zones, uniform

MODELS = ("gain", "linear")
HUBER_C = 1.345
#: Below this squared correlation of log before/log after on the stable pixels, a linear fit warns.
MIN_R2_LOG_LINEAR = 0.8
_MAD_SIGMA = 1.482602218505602  # 1 / Φ⁻¹(3/4): MAD → σ for normal residuals
_TEST_STREAM, _DITHER_STREAM = 1, 2


class Normalisation(Calibration):
    """A fitted ``after ≈ gain·before + offset`` on pseudo-invariant pixels, applied as its inverse.

    A linear :class:`Calibration`, ``params = (−offset/gain, 1/gain)`` (``before ≈ p0 +
    p1·after``). ``metrics``: the corrected later year against the reference on held-out
    stable pixels (reference units; ``*_train`` on the fitted ones, ``*_lit`` on all held-out
    pixels lit in both years). ``meta``: the selection (level, exclusion, band, counts), diagnostics.
    """

    @property
    def gain(self) -> float:
        """``a`` of ``after ≈ a·before + b`` (unitless)."""
        return float(self.meta.get("gain", 1.0 / self.params[1]))

    @property
    def offset(self) -> float:
        """``b`` of ``after ≈ a·before + b`` (units of the mosaics)."""
        return float(self.meta.get("offset", -self.params[0] / self.params[1]))

    @property
    def n_pixels(self) -> int:
        """Stable pixels the coefficients were fitted on."""
        return self.n_train

    def apply(self, mosaic: ArrayLike) -> ArrayLike:
        """``(after − offset) / gain`` per pixel, lazily (dask stays dask); NaN stays NaN."""
        out = super().apply(mosaic)
        if isinstance(out, xr.DataArray):
            out.attrs["normalised"] = f"(x - {self.offset!r}) / {self.gain!r}"
        return out

    __call__ = apply


def fit_normalisation(
    before: ArrayLike,
    after: ArrayLike,
    *,
    level: float,
    exclude: Any = None,
    buffer: int = 2,
    model: str = "gain",
    k: float = 3.0,
    max_iter: int = 20,
    sample: int = 100_000,
    test_fraction: float = 0.25,
    seed: int = 0,
    min_pixels: int = 100,
    meta: Mapping | None = None,
) -> Normalisation:
    """Fit ``after ≈ a·before (+ b)`` on stable lit pixels outside ``exclude`` (see the module docstring).

    Parameters
    ----------
    before, after : DataArray or ndarray
        The reference year and the year to correct, on one grid (georeferenced
        DataArrays are checked: :class:`GridMismatchError`; resample first with
        ``nightlight.align_to``). NaN = nodata. Dask input is read once, block by block.
    level : float > 0
        Lit level in the mosaics' units (e.g. 5 nW/cm²/sr VIIRS, 20 DN DMSP, 3 for the
        8-bit China VIIRS-like copies).
    exclude : optional
        The cities under test, never used: a boolean or label (nonzero = city) raster
        on the grid (DataArray, ndarray or path), or polygons (GeoDataFrame, GeoSeries,
        vector or CSV path; reprojected, every touched pixel excluded).
    buffer : int ≥ 0
        Dilate the exclusion by this many pixels (a square), to leave out city fringes.
    model : {"gain", "linear"}
        ``a·x`` or ``a·x + b``.
    k : float > 0
        Half-width of the stability band, in robust σ of the log residual.
    max_iter : int
        Re-selections of the stable set at most (``meta["converged"]`` says if it settled).
    sample : int
        Candidate pixels kept (a seeded sample that does not depend on the chunking).
    test_fraction : float in (0, 1)
        Share of them held out for the reported metrics.
    seed : int
    min_pixels : int
        Fewer stable training pixels raise :class:`FitError`.
    meta : optional provenance stored in the result.

    Returns
    -------
    Normalisation
    """
    _check_params(model, level, buffer, k, sample, test_fraction, max_iter)
    zones = exclusion_zones(exclude, before)
    mask = exclusion_mask(exclude if zones is None else zones, before, buffer=int(buffer))
    read = _zone_read(zones, before, after)
    c = candidates(
        before, after, mask, level=float(level), sample=int(sample), seed=int(seed), also=read.block if read else None
    )
    if read is not None:
        read.keep(c["also"], by_block=True)
    x, y, h = c["before"], c["after"], c["hash"]
    integer = bool(x.size) and bool(np.all(x == np.floor(x)) and np.all(y == np.floor(y)))
    lvl = float(np.ceil(level)) if integer else float(level)  # integer x ≥ level ⇔ x ≥ ceil(level)
    jitter = uniform(h, _DITHER_STREAM) if integer else np.zeros(x.size)
    test = uniform(h, _TEST_STREAM) < test_fraction
    tr = ~test
    too_few = lambda n: FitError(  # noqa: E731
        f"fit_normalisation: only {n} stable lit pixels outside the exclusion ({c['n_candidates']} candidates "
        f"≥ level {level}, {c['n_excluded']} excluded); at least {min_pixels} are needed. Lower `level`, "
        "shrink `buffer`/`exclude`, or use a larger area."
    )
    if tr.sum() < min_pixels:
        raise too_few(0)
    fit = _stable_fit(x[tr], y[tr], jitter[tr], lvl, model, float(k), int(max_iter))
    a, b, keep, centre, sigma = fit["a"], fit["b"], fit["keep"], fit["centre"], fit["sigma"]
    if keep.sum() < min_pixels:
        raise too_few(int(keep.sum()))
    xs, ys = x[test], y[test]
    r_test = _log_residual(xs, ys, jitter[test], a, b, lvl)
    lit_test = np.isfinite(r_test)
    stable_test = lit_test & (np.abs(r_test - centre) <= k * sigma)
    xt, yt = x[tr][keep], y[tr][keep]
    metrics = fit_scores(xs[stable_test], (ys[stable_test] - b) / a) if stable_test.sum() > 1 else {}
    metrics.update({f"{m}_train": v for m, v in fit_scores(xt, (yt - b) / a).items()})
    if lit_test.sum() > 1:
        metrics.update({f"{m}_lit": v for m, v in fit_scores(xs[lit_test], (ys[lit_test] - b) / a).items()})
    r2_log = float(np.corrcoef(np.log(xt), np.log(yt))[0, 1] ** 2) if xt.size > 2 else float("nan")
    if model == "linear" and not r2_log >= MIN_R2_LOG_LINEAR:
        warnings.warn(
            f"fit_normalisation: the stable pixels span too little brightness to fix an offset (r² of log values "
            f"{r2_log:.2f}; slopes of after-on-before {fit['a_forward']:.3f} and before-on-after "
            f"{fit['a_reverse']:.3f}): gain {a:.4f}, offset {b:+.4f} are set largely by noise. Use model='gain'.",
            UserWarning,
            stacklevel=2,
        )
    info = {
        "method": "relative radiometric normalisation on pseudo-invariant pixels "
        "(Huber IRLS on log residuals, geometric mean of both regressions)",
        "model": model,
        "gain": a,
        "offset": b,
        "level": float(level),
        "integer_valued": integer,
        "k": float(k),
        "band_centre": centre,
        "band_sigma_log": sigma,
        "buffer_px": int(buffer),
        "n_candidates": c["n_candidates"],
        "n_excluded": c["n_excluded"],
        "n_sampled": int(x.size),
        "stable_share": float(keep.sum() / max(1, keep.size)),
        "r2_log": r2_log,
        "slope_forward": fit["a_forward"],
        "slope_reverse": fit["a_reverse"],
        "iterations": fit["iterations"],
        "converged": fit["converged"],
        **dict(meta or {}),
    }
    params = (0.0 if b == 0 else -b / a, 1.0 / a)
    return Normalisation("linear", params, None, metrics, int(keep.sum()), int(stable_test.sum()), int(seed), info)


def _zone_read(zones: np.ndarray | None, before: ArrayLike, after: ArrayLike) -> ZoneRead | None:
    """Pixel-traced exclusion zones (the natural cities under test): their pixels of both years are read in the
    fit's pass and kept with the arrays (:mod:`nightlight.io.zones`), so the decline test does not read them again."""
    if zones is None or not (isinstance(before, xr.DataArray) and isinstance(after, xr.DataArray)):
        return None
    if not (is_dask(before) and is_dask(after)) or as_dask(before).chunks != as_dask(after).chunks:
        return None
    grid = Grid.of(before, name="before")
    pixels = zone_pixels(zones, grid)
    return None if pixels is None else zone_read(zones, pixels, [before, after], grid)


def normalise_to(after: ArrayLike, before: ArrayLike, **kwargs: Any) -> tuple[ArrayLike, Normalisation]:
    """``after`` on the radiometry of ``before``: the lazy corrected mosaic and its :class:`Normalisation`.

    Keywords as :func:`fit_normalisation` (``level`` is required; ``exclude`` keeps
    the cities under test out of the fit).
    """
    fit = fit_normalisation(before, after, **kwargs)
    return fit.apply(after), fit


def _check_params(model: str, level: Any, buffer: Any, k: Any, sample: Any, test_fraction: Any, max_iter: Any) -> None:
    if model not in MODELS:
        raise ParameterError(f"fit_normalisation: model={model!r}; use one of {', '.join(MODELS)}.")
    number = lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool)  # noqa: E731
    integer = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    for name, v, ok, hint in (
        ("level", level, number(level) and np.isfinite(level) and level > 0, "> 0 in mosaic units, e.g. 5"),
        ("buffer", buffer, integer(buffer) and buffer >= 0, "whole pixels ≥ 0, e.g. 2"),
        ("k", k, number(k) and k > 0, "> 0 robust σ, e.g. 3"),
        ("sample", sample, integer(sample) and sample >= 10, "an int ≥ 10, e.g. 100000"),
        ("test_fraction", test_fraction, number(test_fraction) and 0 < test_fraction < 1, "in (0, 1), e.g. 0.25"),
        ("max_iter", max_iter, integer(max_iter) and max_iter >= 1, "an int ≥ 1, e.g. 20"),
    ):
        if not ok:
            raise ParameterError(f"fit_normalisation: {name}={v!r} is out of range; use {hint}.")


# --------------------------------------------------------------------------- the robust fit
def _mad_sigma(r: np.ndarray) -> tuple[float, float]:
    med = float(np.median(r))
    return med, _MAD_SIGMA * float(np.median(np.abs(r - med)))


def _log_residual(x: np.ndarray, y: np.ndarray, jitter: np.ndarray, a: float, b: float, level: float) -> np.ndarray:
    """``log y − log(a·x + b)`` where the later year is lit too (``y + jitter ≥ a·level + b``, y > 0), else NaN."""
    pred = a * x + b
    lit = (y + jitter >= a * level + b) & (y > 0) & (pred > 0)
    r = np.full(x.shape, np.nan)
    r[lit] = np.log(y[lit]) - np.log(pred[lit])
    return r


def _stable_fit(x, y, jitter, level: float, model: str, k: float, max_iter: int) -> dict:
    """Alternate the stable-set selection and the fit until the set settles."""
    pos = y > 0
    if not pos.any():
        raise FitError("fit_normalisation: no candidate pixel is lit in the later year; check the mosaics and level.")
    fit = {"a": float(np.median(y[pos] / x[pos])), "b": 0.0, "a_forward": np.nan, "a_reverse": np.nan}
    seen: set[bytes] = set()
    used = np.zeros(x.shape, bool)  # the set the current fit was made on
    centre = sigma = 0.0
    for it in range(1, max_iter + 1):
        r = _log_residual(x, y, jitter, fit["a"], fit["b"], level)
        lit = np.isfinite(r)
        centre, sigma = _mad_sigma(r[lit]) if lit.any() else (0.0, 0.0)
        keep = lit & (np.abs(r - centre) <= k * sigma)  # NaN (not lit in both years) compares False
        key = np.packbits(keep).tobytes()
        # settled: a set seen before (a fixed point, or a cycle between sets a pixel apart), or one
        # that differs from the last by < 0.1 % of its pixels (the fit then moves far less than its error)
        settled = bool(key in seen or np.count_nonzero(keep != used) < 1e-3 * keep.sum())
        if settled or keep.sum() < 3:
            return {**fit, "keep": used, "centre": centre, "sigma": sigma, "iterations": it - 1, "converged": settled}
        seen.add(key)
        fit = _symmetric_fit(x[keep], y[keep], model, fit["a"], fit["b"])
        used = keep
    return {**fit, "keep": used, "centre": centre, "sigma": sigma, "iterations": max_iter, "converged": False}


def _symmetric_fit(x: np.ndarray, y: np.ndarray, model: str, a: float, b: float) -> dict:
    """Geometric mean of the robust regressions of y on x and of x on y, pivoting where the two lines cross."""
    a1, b1 = irls(x, y, model, a, b)
    c, d = irls(y, x, model, 1.0 / a, -b / a)
    a2, b2 = 1.0 / c, -d / c
    g = float(np.sqrt(a1 * a2))
    rho = 0.5 if abs(a1 - a2) <= 1e-12 * g else (a1 - g) / (a1 - a2)
    return {"a": g, "b": 0.0 if model == "gain" else b1 + rho * (b2 - b1), "a_forward": a1, "a_reverse": a2}


def huber_weights(r: np.ndarray, scale: float, c: float = HUBER_C) -> np.ndarray:
    """Huber IRLS weights ``min(1, c·scale/|r|)``."""
    t = c * max(scale, 1e-300)
    ar = np.abs(r)
    return np.where(ar <= t, 1.0, t / np.maximum(ar, 1e-300))


def irls(x: np.ndarray, y: np.ndarray, model: str, a: float, b: float = 0.0, tol: float = 1e-9) -> tuple[float, float]:
    """Huber M-estimate of ``log y = log(a·x + b) + ε`` (``b = 0`` for ``model="gain"``) by Gauss–Newton IRLS.

    The Huber threshold is ``HUBER_C`` × the MAD σ of the residuals at the start
    values, then held fixed: one convex (gain) or smooth (linear) problem. Returns (a, b).
    """
    ly = np.log(y)
    scale = _mad_sigma(ly - np.log(a * x + b))[1]
    x_min = float(x.min())
    for _ in range(60):
        pred = a * x + b
        r = ly - np.log(pred)
        w = huber_weights(r, scale)
        if model == "gain":
            a_new, b_new = a * float(np.exp(np.sum(w * r) / np.sum(w))), 0.0
        else:
            # weighted normal equations of the Gauss–Newton step; d log(a·x + b)/d(a, b) = (x, 1)/(a·x + b)
            u = 1.0 / pred
            wu, wr = w * u * u, w * u * r
            s11, s12, s22 = float(np.dot(wu, x * x)), float(np.dot(wu, x)), float(wu.sum())
            g1, g2 = float(np.dot(wr, x)), float(wr.sum())
            det = s11 * s22 - s12 * s12
            if not det > 1e-12 * s11 * s22:
                raise FitError(
                    "fit_normalisation: the stable pixels all have the same brightness, so a·x + b has no "
                    "unique fit; use model='gain' or a lower level."
                )
            da_, db_ = (s22 * g1 - s12 * g2) / det, (s11 * g2 - s12 * g1) / det
            t = 1.0
            while (a + t * da_) * x_min + b + t * db_ <= 0 and t > 1e-6:  # stay where log(a·x + b) exists
                t /= 2
            a_new, b_new = a + t * da_, b + t * db_
        done = abs(a_new - a) <= tol * abs(a) and abs(b_new - b) <= tol * (abs(b) + abs(a))
        a, b = float(a_new), float(b_new)
        if done:
            break
    return a, b
