"""How :meth:`World.mosaic` cuts a synthetic mosaic into dask chunks, and renders one.

The graph of a mosaic has one task per chunk; each task carries only the cities
whose support meets its chunk (:func:`city_windows`, the vectorized twin of the
kernel's window) and calls the renderer kernel (:func:`render`). The checked chunk
shape and the dask name token are here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nightlight.errors import NightlightError
from nightlight.kernels import synth as ksynth
from nightlight.kernels import synth_city as kcity
from nightlight.kernels import synth_noise as knoise
from nightlight.synthetic.model import SensorModel

if TYPE_CHECKING:
    from nightlight.synthetic.world import World

#: Normal quantile table of the noise kernel (built once, 33 kB).
_NORMAL_TABLE = knoise.normal_table()


def city_windows(cities: np.ndarray, res: float):
    """Vectorized twin of the kernel ``synth_city.city_window``: global pixel rows/cols of each support."""
    r_km = cities[:, kcity.C_SUPPORT_KM]
    lat = cities[:, kcity.C_LAT]
    dlat = r_km / kcity.KM_PER_DEG_LAT
    dlon = r_km / cities[:, kcity.C_KMX]
    row0 = np.floor((90.0 - (lat + dlat)) / res) - 1
    row1 = np.ceil((90.0 - (lat - dlat)) / res) + 1
    col0 = np.floor((cities[:, kcity.C_LON] - dlon + 180.0) / res) - 1
    col1 = np.ceil((cities[:, kcity.C_LON] + dlon + 180.0) / res) + 1
    return row0, row1, col0, col1


def render(grow0, gcol0, h, w, model: SensorModel, cities, key, noise) -> np.ndarray:
    """One chunk (the task of a mosaic's graph): global rows ``grow0:grow0+h``, cols ``gcol0:gcol0+w``."""
    return ksynth.render_chunk(
        grow0,
        gcol0,
        h,
        w,
        model.res,
        cities,
        model.code,
        key,
        noise,
        model.background,
        model.sigma0,
        model.sigma_rel,
        model.gain,
        model.x0,
        _NORMAL_TABLE,
    )


def chunk_pair(chunks) -> tuple[int, int]:
    """``chunks`` (an int or a pair) as a checked (rows, cols) pair of positive ints."""
    if isinstance(chunks, (int, np.integer)):
        chunks = (int(chunks), int(chunks))
    try:
        ch = (int(chunks[0]), int(chunks[1]))
    except (TypeError, ValueError, IndexError):
        raise NightlightError(f"chunks={chunks!r}: give an int or a (rows, cols) pair of positive ints.") from None
    if min(ch) < 1:
        raise NightlightError(f"chunks={chunks!r}: chunk edges must be positive.")
    return ch


def dask_token(world: World, year: int, noise: bool, ch) -> str:
    """Dask name token: everything a mosaic's values depend on (not the chunk functions)."""
    from dask.base import tokenize

    return tokenize(
        world.seed, world.sensor, world.grid.transform, world.grid.shape, year, noise, ch, world._cities, world._factors
    )
