"""Exact ground truth of the synthetic world (numba): each city's lit extent, light and brightness factors.

:func:`city_truth` evaluates every city's profile on the pixel grid with the
renderer's own function (``synth_city.city_g``), so the base-year lit extent and the
light inside it are what the noiseless mosaic holds, and solves the brightness
factor that makes the change of that light the planted change. The NumPy checks
are in ``tests/synthetic/test_synth.py`` (the noiseless mosaics against the truth table).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .synth_city import (
    C_AMP,
    C_CORE,
    C_EDGE_W,
    C_INV_A,
    C_INV_B,
    C_INV_S,
    C_RHO_MAX,
    C_SUPPORT_KM,
    VIIRS,
    city_g,
    city_window,
    lit_rho,
    pixel_area_km2,
    pixel_lat,
    pixel_lon,
    sensor_value,
)


@njit(cache=True, nogil=True)
def _lit_sum(g_lit, amp, sensor, background, gain, x0):
    """S: the sum of noiseless sensor values over lit pixels of unit-peak profile ``g_lit`` at peak ``amp``."""
    s = 0.0
    for i in range(g_lit.size):
        s += sensor_value(amp * g_lit[i], sensor, background, gain, x0)
    return s


@njit(cache=True, nogil=True)
def _solve_factor(g_lit, peak, goal, s1, c, f_max, sensor, background, gain, x0):
    """f with S(f) = goal, S monotone: Illinois regula falsi (superlinear), bisection-safe."""
    if c < 0.0:
        a, fa, b, fb = 0.0, _lit_sum(g_lit, 0.0, sensor, background, gain, x0) - goal, 1.0, s1 - goal
    else:
        a, fa, b = 1.0, s1 - goal, f_max
        fb = _lit_sum(g_lit, peak * f_max, sensor, background, gain, x0) - goal
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    side = 0
    x = 0.5 * (a + b)
    for _ in range(200):
        x = (a * fb - b * fa) / (fb - fa)
        if not (a < x < b):
            x = 0.5 * (a + b)
        fx = _lit_sum(g_lit, peak * x, sensor, background, gain, x0) - goal
        if abs(fx) <= 1e-13 * goal or b - a < 1e-15:
            break
        if (fx < 0.0) == (fa < 0.0):
            a, fa = x, fx
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = x, fx
            if side == 1:
                fa *= 0.5
            side = 1
    return x


@njit(cache=True, nogil=True)
def city_truth(
    cities: np.ndarray,
    res: float,
    sensor: int,
    threshold: float,
    background: float,
    gain: float,
    x0: float,
    target: np.ndarray,
    progress: np.ndarray,
    f_max: float,
) -> tuple:
    """Exact ground truth of every city on the pixel grid, and its brightness factors.

    For city k (``cities[k, C_AMP]`` = base-year peak): the base-year lit extent is
    the set of its pixels whose noiseless value (VIIRS ``background + L``, DMSP
    ``dmsp_response(L)``) is ``>= threshold``; S(f) is the sum of noiseless values
    over that extent when the city's light is scaled by f. The last-year factor
    solves ``S(f) / S(1) - 1 = target[k]`` (closed form for VIIRS, Illinois
    regula falsi for the saturating DMSP response); where DMSP saturation makes the target
    unreachable below ``f_max`` the factor is ``1 + target`` and the change is what
    the sensor shows. Year t uses ``1 + (f - 1) * progress[k, t]``. A city without
    lit pixels gets ``f = 1 + target`` and changes ``f_t - 1`` (change of its total light).

    Returns
    -------
    factors : (n, n_years) brightness factors (1 in the first year when progress is 0)
    changes : (n, n_years) relative change of S vs the first year
    lit_px : (n,) base-year lit pixel count
    lit_area : (n,) base-year lit area, km²
    base_sum : (n,) S(1): noiseless base-year total light inside the lit extent
    """
    n = cities.shape[0]
    ny = progress.shape[1]
    factors = np.ones((n, ny))
    changes = np.zeros((n, ny))
    lit_px = np.zeros(n, np.int64)
    lit_area = np.zeros(n)
    base_sum = np.zeros(n)
    for k in range(n):
        city = cities[k]
        peak = city[C_AMP]
        # lit pixels lie inside rho <= rho_T: evaluate only that ellipse's bounding
        # disc (+ margin); the lit test below is the renderer's exact one
        if sensor == VIIRS:
            need = (threshold - background) / peak
        else:
            need = x0 * math.expm1(threshold / gain) / peak
        rho_t = lit_rho(need, city[C_CORE], city[C_INV_S], city[C_EDGE_W], city[C_RHO_MAX])
        r_km = min(rho_t * 1.001 / min(city[C_INV_A], city[C_INV_B]), city[C_SUPPORT_KM])
        r0, r1, c0, c1 = city_window(city, res, r_km)
        g_lit = np.empty((r1 - r0) * (c1 - c0))  # the unit-peak profile of the lit pixels
        m = 0
        area = 0.0
        for gr in range(r0, r1):
            lat, pa = pixel_lat(gr, res), pixel_area_km2(gr, res)
            for gc in range(c0, c1):
                g = city_g(pixel_lon(gc, res), lat, city)
                if g > 0.0 and sensor_value(peak * g, sensor, background, gain, x0) >= threshold:
                    g_lit[m] = g
                    m += 1
                    area += pa
        g_lit = g_lit[:m]
        lit_px[k] = m
        lit_area[k] = area
        c = target[k]
        f = 1.0 + c  # kept without lit pixels, and where DMSP saturation puts the target out of reach
        s1 = _lit_sum(g_lit, peak, sensor, background, gain, x0)  # 0.0 without lit pixels
        base_sum[k] = s1
        if m > 0 and sensor == VIIRS:
            f = 1.0 + c * s1 / (s1 - background * m)
        elif m > 0:
            goal = s1 * (1.0 + c)
            if not _lit_sum(g_lit, peak * f_max, sensor, background, gain, x0) < goal:
                f = _solve_factor(g_lit, peak, goal, s1, c, f_max, sensor, background, gain, x0)
        for t in range(ny):
            ft = 1.0 + (f - 1.0) * progress[k, t]
            factors[k, t] = ft
            # without lit pixels: the change of the city's total light
            changes[k, t] = _lit_sum(g_lit, peak * ft, sensor, background, gain, x0) / s1 - 1.0 if m > 0 else ft - 1.0
    return factors, changes, lit_px, lit_area, base_sum
