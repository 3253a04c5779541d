"""Is a city's decline larger than its own year-to-year noise? ``change_p`` and ``shrinking_significant``.

The 10 % rule of Jiang et al. (2020) compares two single years. A city's light also
moves from year to year for reasons that are not urban change (compositing, cloud and
snow masks, calibration drift, the product's own year-to-year variation), so two
single years — and an extent selected on the base year's own noise — flag many cities
that did not shrink (regression to the mean; issue 22). Two remedies live here:

**Multi-year means** (``base_years`` / ``compare_years``): ``light_before`` and
``light_after`` are the means of the yearly totals over the base and the compare
years, which divides the variance of each side by the number of years.

**A per-city test against the city's own variability** (with a yearly series):

- model: ``x_t = log L_t = a + b·t + δ·[t ≥ s] + ε_t``, ε_t independent N(0, σ²) over
  years (multiplicative year-to-year scatter: the same in relative terms for a small
  and a large city of the same noise), a linear trend and at most one step δ in a
  year s between the base and the compare years;
- each city's σ̂ comes from the residuals of that model fitted by least squares over
  all its valid years, with s the year that fits best: ``σ̂² = RSS/(n − 4)`` (the step
  costs its size and its year). The step keeps a real decline out of the noise
  estimate (around a straight line a step of −30 % inflates σ̂ by half and hides
  itself). With fewer than 6 years the step is left out: ``σ̂² = RSS/(n − 2)`` around
  the line, conservative for a step;
- the cities' σ̂ are then shrunk toward the run's common scatter by empirical Bayes
  (Smyth 2004, limma's moderated variances: :func:`moderate`), which steadies an
  estimate made from a handful of years and adds the run's degrees of freedom;
  ``year_scatter`` is that posterior σ (≈ the relative sd of one year's light);
- observed: ``d = log(light_after / light_before) = log(1 + change)``, with the base
  and compare means over |B| and |C| years;
- under H0 (no change between the base and compare periods)
  ``Var d ≈ σ²(1/|B| + 1/|C|)`` (delta method for the log of a mean of |B| years), and
  ``t = d / (σ √(1/|B| + 1/|C|))`` is referred to Student's t with the posterior
  degrees of freedom;
- ``change_p`` = P(T ≤ t): the one-sided p-value of a decline at least as large as the
  observed one if the city had not changed;
- ``change_q`` = Benjamini–Hochberg q-value of ``change_p`` over the classified cities
  of the run (:func:`nightlight.change.trend.benjamini_hochberg`);
- ``shrinking_significant`` = shrinking by the rule **and** ``change_q < alpha``: the
  expected share of false discoveries among the flagged cities is at most ``alpha``.

Limits: the years are taken as independent around the trend; a product whose errors
drift over several years (autocorrelated) makes σ̂ too small and the test too
liberal. Choosing the best step year slightly lowers σ̂ under H0: on the planted
worlds of the tests, 6–8 % of unchanged cities have ``change_p < 0.05`` (5 % would be
exact); after the BH step the flag's false-positive rate stays ≤ 3 %.

The 10 % rule stays the definition of ``shrinking``; the test sits beside it. A city
needs :data:`MIN_SERIES_YEARS` valid, positive yearly totals (the σ̂ of fewer years has
too few degrees of freedom to mean anything), else its p is NaN and it is never
``shrinking_significant``. Validation on planted truth: ``tests/change/test_significance.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special, stats

from nightlight.change.trend import benjamini_hochberg

#: Least valid years of a city's series for ``change_p`` (σ̂ then has ≥ 2 degrees of freedom).
MIN_SERIES_YEARS = 4
#: Least residual degrees of freedom for the model with a step (else the line alone).
STEP_MIN_DOF = 2


def year_scatter(
    values: np.ndarray, years: Sequence[float], *, step_after: float | None = None, step_by: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-city year-to-year scatter of log light around its trend (and a possible step).

    Parameters
    ----------
    values : array (n_cities, n_years)
        Yearly totals of light; NaN or ≤ 0 = no usable value for that year.
    years : sequence of float
        The year of each column.
    step_after, step_by : float, optional
        The step, when the model has one, is in a year ``y`` with
        ``step_after < y ≤ step_by`` (default: any year but the first).

    Returns
    -------
    (sigma, dof) : arrays (n_cities,)
        σ̂ (sd of log light, ≈ relative sd) and its degrees of freedom; NaN and 0 for
        cities with fewer than :data:`MIN_SERIES_YEARS` usable years.
    """
    y = np.asarray(values, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(y > 0, np.log(y), np.nan)
    lo = t[0] if step_after is None else step_after
    hi = t[-1] if step_by is None else step_by
    candidates = [float(c) for c in t if lo < c <= hi]
    sigma = np.full(x.shape[0], np.nan)
    dof = np.zeros(x.shape[0], dtype=np.int64)
    for k, row in enumerate(x):
        ok = np.isfinite(row)
        n = int(ok.sum())
        if n < MIN_SERIES_YEARS:
            continue
        tk, xk = t[ok] - t[ok].mean(), row[ok]
        line = np.column_stack([np.ones(n), tk])
        # the step costs two degrees of freedom (its size and its year): only with ≥ 2 left
        steps = [s for s in candidates if 0 < int((t[ok] >= s).sum()) < n] if n - 4 >= STEP_MIN_DOF else []
        if steps:
            rss = min(_rss(np.column_stack([line, (t[ok] >= s).astype(np.float64)]), xk) for s in steps)
            sigma[k], dof[k] = np.sqrt(rss / (n - 4)), n - 4
        else:
            sigma[k], dof[k] = np.sqrt(_rss(line, xk) / (n - 2)), n - 2
    return sigma, dof


def _rss(design: np.ndarray, x: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return float(np.sum((x - design @ coef) ** 2))


def moderate(sigma: np.ndarray, dof: np.ndarray, family: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Each city's σ̂ shrunk toward the run's common scatter (Smyth 2004, empirical Bayes).

    The cities' σ̂² are modelled as ``s0² χ²_{d}/d`` scatter around draws from a scaled
    inverse-χ² prior with ``d0`` degrees of freedom and scale ``s0²``; ``d0`` and
    ``s0²`` are fitted by the moments of ``log σ̂²`` over ``family`` (limma's
    ``fitFDist``), and the posterior variance ``(d0·s0² + d·σ̂²)/(d0 + d)`` has
    ``d0 + d`` degrees of freedom. A few years per city give a noisy σ̂; the product's
    scatter, shared by the run's cities, steadies it — as much as the cities' σ̂ agree
    (d0 → ∞ when they vary no more than chance, d0 → 0 when they differ widely).

    Returns
    -------
    (sigma, dof, prior)
        Posterior σ and degrees of freedom (inf when d0 is), and ``{"s0": …, "d0": …}``.
    """
    d = np.asarray(dof, dtype=np.float64)
    use = np.asarray(family, dtype=bool) & np.isfinite(sigma) & (sigma > 0) & (d > 0)
    if use.sum() < 3:  # too few cities to fit a prior: the cities' own estimates
        return sigma, d, {"s0": None, "d0": 0.0}
    e = np.log(sigma[use] ** 2) - special.digamma(d[use] / 2) + np.log(d[use] / 2)
    evar = float(np.var(e, ddof=1) - np.mean(special.polygamma(1, d[use] / 2)))
    if evar > 0:
        d0 = 2.0 * _trigamma_inverse(evar)
        s02 = float(np.exp(np.mean(e) + special.digamma(d0 / 2) - np.log(d0 / 2)))
        post = (d0 * s02 + d * sigma**2) / (d0 + d)
        return np.sqrt(post), d0 + d, {"s0": float(np.sqrt(s02)), "d0": float(d0)}
    s02 = float(np.exp(np.mean(e)))
    post_sigma = np.where(np.isfinite(sigma), np.sqrt(s02), np.nan)
    return post_sigma, np.where(d > 0, np.inf, 0.0), {"s0": float(np.sqrt(s02)), "d0": float("inf")}


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (Newton's method of limma's ``trigammaInverse``)."""
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        dif = tri * (1.0 - tri / x) / float(special.polygamma(2, y))
        y += dif
        if -dif / y < 1e-8:
            break
    return y


def change_pvalue(
    change: np.ndarray, sigma: np.ndarray, dof: np.ndarray, *, n_base: int = 1, n_compare: int = 1
) -> np.ndarray:
    """One-sided p-value of a decline at least as large as ``change`` given no true change.

    Parameters
    ----------
    change : array
        Relative change of the (mean) light, compare vs base, > −1.
    sigma, dof : arrays
        Year-to-year scatter of log light and its degrees of freedom (:func:`year_scatter`).
    n_base, n_compare : int
        Years averaged on each side.

    Returns
    -------
    numpy.ndarray
        ``P(T_dof ≤ log(1 + change) / (σ √(1/n_base + 1/n_compare)))``; NaN where any input is
        unusable. σ = 0 (a perfectly straight series) gives 0 for a decline, 1 otherwise.
    """
    change = np.asarray(change, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    dof = np.asarray(dof)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.log1p(change)
        t = d / (sigma * np.sqrt(1.0 / n_base + 1.0 / n_compare))
        p = np.where(np.isinf(dof), stats.norm.cdf(t), stats.t.cdf(t, np.where((dof > 0) & np.isfinite(dof), dof, 1)))
    p = np.where(np.isfinite(d) & np.isfinite(sigma) & (dof > 0), p, np.nan)
    return np.asarray(p, dtype=np.float64)


def significance_columns(
    change: np.ndarray,
    shrinking: np.ndarray,
    classified: np.ndarray,
    values: np.ndarray,
    years: Sequence[float],
    *,
    alpha: float,
    n_base: int = 1,
    n_compare: int = 1,
    step_after: float | None = None,
    step_by: float | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """``year_scatter``, ``change_p``, ``change_q`` and ``shrinking_significant`` of a run's cities.

    Parameters
    ----------
    change, shrinking : arrays (n_cities,)
        The rule's change (base mean → compare mean) and verdict.
    classified : bool array
        Cities the rule classified (``status == "ok"``): the family of the BH correction;
        the others get NaN.
    values : array (n_cities, n_years)
        The yearly totals of the series.
    years : sequence of float
        Their years.
    alpha : float
        False discovery rate of ``shrinking_significant``.
    n_base, n_compare : int
        Years in the base and compare means.
    step_after, step_by : float, optional
        Last base year and first compare year: where the noise model may put a step.
    """
    family = np.asarray(classified, dtype=bool)
    own, own_dof = year_scatter(values, years, step_after=step_after, step_by=step_by)
    sigma, dof, prior = moderate(own, own_dof, family)
    p = change_pvalue(change, sigma, dof, n_base=n_base, n_compare=n_compare)
    p = np.where(family, p, np.nan)
    q = benjamini_hochberg(p)
    significant = np.asarray(shrinking, dtype=bool) & (q < alpha)  # NaN < alpha is False
    columns = {"year_scatter": sigma, "change_p": p, "change_q": q, "shrinking_significant": significant}
    return columns, prior
