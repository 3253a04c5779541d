"""Per-pixel calibration kernels (numba) on plain NumPy arrays: fitted models, DMSP inter-calibration.

No xarray, no dask, no I/O: ``nightlight.preprocess.calibration`` (:func:`apply_model`)
and ``nightlight.preprocess.dmsp`` (:func:`dmsp_chain`) wrap these per chunk. Every
kernel writes into a caller-allocated ``out`` (so dask blocks reuse one allocation)
and leaves NaN (nodata) as NaN. ``error_model="numpy"``: a float division by zero
gives inf/NaN instead of raising, which also lets LLVM vectorize the loops (the
Python error model's zero check blocks it). ``nogil=True``: dask's threads run
chunks in parallel. The NumPy twins are in ``tests/preprocess/test_calibrate.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Model ids understood by :func:`apply_model` (the order is part of the kernel ABI).
LINEAR, QUADRATIC, POWER, SIGMOID = 0, 1, 2, 3
MODEL_IDS = {"linear": LINEAR, "quadratic": QUADRATIC, "power": POWER, "sigmoid": SIGMOID}
#: Forms of a DMSP inter-calibration step (catalog column ``form``).
FORM_IDS = {"quadratic": 0, "power": 1}


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _model(x, model, p):
    if model == LINEAR:
        return p[0] + p[1] * x
    if model == QUADRATIC:
        return p[0] + p[1] * x + p[2] * x * x
    if model == POWER:
        # y + 1 = a (x + 1)^b  (Wu et al. 2013); x + 1 < 0 has no real power → NaN
        base = x + 1.0
        if base < 0.0:
            return np.nan
        return p[0] * base ** p[1] - 1.0
    # sigmoid: y = L / (1 + exp(-k (x - x0))) + b  (Li et al. 2020)
    z = -p[1] * (x - p[2])
    if z > 700.0:  # exp overflow: the curve is at its lower asymptote
        return p[3]
    return p[0] / (1.0 + math.exp(z)) + p[3]


@njit(cache=True, nogil=True, error_model="numpy")
def apply_model(x, model, params, lo, hi, out):
    """``out = clip(f(x), lo, hi)`` for a fitted model; NaN in → NaN out.

    Parameters
    ----------
    x, out : 2-D float arrays of one shape
    model : int, one of :data:`MODEL_IDS`
    params : 1-D float64 array (model coefficients, see :func:`_model`)
    lo, hi : float, clip bounds (``-inf``/``inf`` for none)
    """
    ny, nx = x.shape
    for i in range(ny):
        for j in range(nx):
            v = x[i, j]
            if math.isnan(v):
                out[i, j] = np.nan
                continue
            y = _model(v, model, params)
            if y < lo:
                y = lo
            elif y > hi:
                y = hi
            out[i, j] = y
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def dmsp_chain(dn, coefs, forms, keep_zero, out):
    """Inter-calibrate DMSP DN through one or more steps, clipping to [0, 63] after each.

    Step ``s`` is ``DN' = c0 + c1 DN + c2 DN²`` (form 0, Elvidge 2009/2014, Liu 2012,
    Li & Zhou 2017) or ``DN' + 1 = c0 (DN + 1)^c1`` (form 1, Wu 2013).

    Parameters
    ----------
    dn, out : 2-D float arrays (DN 0–63; NaN = nodata)
    coefs : (n_steps, 3) float64
    forms : (n_steps,) int64
    keep_zero : bool
        Keep DN 0 (no light detected) at 0 instead of the step's intercept.
    """
    ny, nx = dn.shape
    nstep = coefs.shape[0]
    for i in range(ny):
        for j in range(nx):
            v = dn[i, j]
            if math.isnan(v):
                out[i, j] = np.nan
                continue
            if keep_zero and v == 0.0:
                out[i, j] = 0.0
                continue
            for s in range(nstep):
                if forms[s] == 0:
                    v = coefs[s, 0] + coefs[s, 1] * v + coefs[s, 2] * v * v
                else:
                    v = coefs[s, 0] * (v + 1.0) ** coefs[s, 1] - 1.0
                if v < 0.0:
                    v = 0.0
                elif v > 63.0:
                    v = 63.0
            out[i, j] = v
    return out


@njit(cache=True, nogil=True)
def lit_pairs(x, y, mask, level, row0, col0, width):
    """The pixels of a block lit in ``x`` (``≥ level``) and finite in both years, in row-major order.

    Parameters
    ----------
    x, y : 2-D arrays of one shape (the reference and the other year; NaN = nodata)
    mask : 2-D bool array (True = excluded) or None
    level : scalar of ``x``'s type (NumPy compares a float32 block with the level as float32)
    row0, col0, width : the block's offset and the mosaic's width, for the global indices

    Returns
    -------
    index : 1-D int64, global row-major pixel index of each pixel kept
    xv, yv : 1-D float64, its values
    excluded : int, lit and finite pixels dropped by ``mask``
    """
    ny, nx = x.shape
    n = 0
    for i in range(ny):
        for j in range(nx):
            n += x[i, j] >= level
    index = np.empty(n, np.int64)
    xv = np.empty(n)
    yv = np.empty(n)
    k = excluded = 0
    for i in range(ny):
        for j in range(nx):
            if not x[i, j] >= level:  # NaN compares False
                continue
            a, b = float(x[i, j]), float(y[i, j])
            if not (math.isfinite(a) and math.isfinite(b)):
                continue
            if mask is not None and mask[i, j]:
                excluded += 1
                continue
            index[k], xv[k], yv[k] = (i + row0) * width + j + col0, a, b
            k += 1
    return index[:k], xv[:k], yv[:k], excluded
