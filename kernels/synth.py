"""The renderer of the synthetic world (numba): one chunk of a mosaic, noisy or noiseless.

:func:`render_chunk` sums the cities' light (``synth_city``) row by row and adds
the sensor's counter-based noise (``synth_noise``): a pixel's value is a pure
function of (seed, year, global row, global column), so a chunk does not depend on
how the mosaic is chunked, and any chunk of a global mosaic is generated on its own.

The kernels of the synthetic world, by job:

* ``synth_noise`` — counter-based randomness (splitmix64 hashes → uniforms, normals);
* ``synth_city`` — the noiseless city model: parameter columns, profile, sensor
  response, pixel windows and areas, disc placement;
* ``synth_truth`` — the exact ground truth (lit extent, light, brightness factors);
* ``synth`` (here) — the renderer.

The slow, obviously-correct NumPy twins live in ``tests/synthetic/test_synth.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .synth_city import C_AMP, VIIRS, city_g, city_window, pixel_lat, pixel_lon, sensor_value
from .synth_noise import pixel_normal, row_key


@njit(cache=True, nogil=True)  # nogil: dask's threads generate chunks in parallel
def render_chunk(
    grow0: int,
    gcol0: int,
    h: int,
    w: int,
    res: float,
    cities: np.ndarray,
    sensor: int,
    key: np.uint64,
    noise: bool,
    background: float,
    sigma0: float,
    sigma_rel: float,
    gain: float,
    x0: float,
    table: np.ndarray,
) -> np.ndarray:
    """One chunk of a synthetic mosaic (float32), global rows ``grow0:grow0+h``, cols ``gcol0:gcol0+w``.

    VIIRS: ``background + L + (sigma0 + sigma_rel * L) * z`` in nW/cm²/sr, where L
    is the cities' light and z a counter-based standard normal.
    DMSP: ``clip(round(dmsp_response(L) + sigma0 * z), 0, 63)`` in DN.
    With ``noise=False`` the noiseless model is returned (DMSP: unrounded DN), the
    quantity the ground-truth table is computed from.

    Works one row at a time with a float64 row buffer (stays in cache; no
    chunk-sized temporary), visiting only the cities whose window holds the row.
    """
    n = cities.shape[0]
    win = np.empty((n, 5), np.int64)  # city index, row0, row1, col0, col1 (clipped)
    m = 0
    for k in range(n):
        r0, r1, c0, c1 = city_window(cities[k], res)
        r0, r1 = max(r0, grow0), min(r1, grow0 + h)
        c0, c1 = max(c0, gcol0), min(c1, gcol0 + w)
        if r0 < r1 and c0 < c1:
            win[m, 0], win[m, 1], win[m, 2], win[m, 3], win[m, 4] = k, r0, r1, c0, c1
            m += 1
    out = np.empty((h, w), np.float32)
    light = np.zeros(w, np.float64)
    for i in range(h):
        gr = grow0 + i
        lat = pixel_lat(gr, res)
        for q in range(m):
            if win[q, 1] <= gr < win[q, 2]:
                city = cities[win[q, 0]]
                amp = city[C_AMP]
                for gc in range(win[q, 3], win[q, 4]):
                    light[gc - gcol0] += amp * city_g(pixel_lon(gc, res), lat, city)
        rk = row_key(key, gr)
        for j in range(w):
            L = light[j]
            v = sensor_value(L, sensor, background, gain, x0)
            if noise:
                z = pixel_normal(rk, gcol0 + j, table)
                if sensor == VIIRS:
                    v += (sigma0 + sigma_rel * L) * z
                else:
                    # np.floor keeps float64 (math.floor would round-trip through int64)
                    v = min(max(np.floor(v + sigma0 * z + 0.5), 0.0), 63.0)
            out[i, j] = v
            light[j] = 0.0
    return out
