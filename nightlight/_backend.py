"""One NumPy | dask dispatch (the xarray-spatial pattern, its ``ArrayTypeFunctionMapping``).

Every function of the package that runs on NumPy or dask arrays asks "is it lazy?"
through :func:`is_dask` and runs through :func:`dispatch`: a NumPy runner and a dask
runner, one of them chosen from the inputs, and coords, attributes and CRS put back
the same way everywhere (``DataArray.copy(data=…)`` keeps coordinates, ``attrs`` and
rioxarray's ``spatial_ref``). Per-pixel block functions go through :func:`map_pixels`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dask.array as dsa
import numpy as np
import xarray as xr

#: Held around every call of rasterio's in-memory GDAL helpers (``features.shapes``,
#: ``features.rasterize``/``geometry_mask``, ``warp.reproject``) made in block tasks. Each runs
#: inside ``warnings.catch_warnings()`` + ``simplefilter("ignore")``, and the warning filters are
#: process-wide: when two threads are inside such a block at once, the one to leave last puts the
#: other's "ignore every warning" back for the whole process (a batch lost every CheckpointWarning
#: after its cities stage). Nothing is lost by taking turns: GDAL holds the GIL in these calls
#: (two threads took 1.1-1.2x the serial time for each of them on this 2-core machine).
IN_MEMORY_GDAL_LOCK = threading.Lock()

ArrayLike = np.ndarray | xr.DataArray


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, xr.DataArray) else x


def is_dask(*xs: Any) -> bool:
    """True when any of ``xs`` is lazy: a dask array, or a DataArray backed by one.

    Anything else (NumPy arrays, DataArrays holding NumPy, numbers, None) is eager.
    """
    return any(isinstance(_raw(x), dsa.Array) for x in xs)


def as_dask(x: Any, *, chunks: Any = "auto") -> dsa.Array:
    """The dask array behind ``x``, or ``x`` wrapped in one with ``chunks`` (never rechunks a dask input)."""
    raw = _raw(x)
    return raw if is_dask(raw) else dsa.from_array(np.asarray(raw), chunks=chunks)


def float_dtype(dtype: Any) -> np.dtype:
    """float64 stays float64; everything else computes in float32 (the mosaics' own precision)."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def dispatch(
    data: Any,
    numpy_func: Callable[..., Any],
    dask_func: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """Run ``numpy_func`` or ``dask_func`` on the array inside ``data``; put coords/attrs/CRS back.

    Parameters
    ----------
    data : ndarray, dask array or DataArray
        The main input. Its raw array (``np.ndarray`` or ``dask.array.Array``) is
        the runner's first argument.
    numpy_func, dask_func : callable
        ``f(array, *args, **kwargs)``. ``dask_func`` runs when ``data`` or any of
        ``args``/``kwargs`` is lazy (:func:`is_dask`) — ``data`` is then given as a
        dask array even if it was NumPy, so a lazy argument (a 0-d dask cap, a dask
        counts raster) keeps the whole result lazy.
    *args, **kwargs
        Passed to the runner unchanged.

    Returns
    -------
    The runner's result; for a DataArray ``data`` it must have the same shape and is
    returned as ``data.copy(data=result)`` (same dims, coords, attrs, CRS).
    """
    raw = _raw(data)
    if is_dask(raw, *args, *kwargs.values()):
        out = dask_func(as_dask(raw), *args, **kwargs)
    else:
        out = numpy_func(np.asarray(raw), *args, **kwargs)
    if isinstance(data, xr.DataArray):
        return data.copy(data=out)
    return out


def map_pixels(data: ArrayLike, func: Callable[[np.ndarray], np.ndarray]) -> ArrayLike:
    """Apply a per-pixel block function lazily; keep coords, attrs and CRS.

    ``func`` gets a 2-D float block (float32, or float64 for float64 input) and
    returns a float block of the same shape. NumPy → NumPy, dask → dask (one task a
    chunk), DataArray → DataArray of the same kind.
    """

    def run_dask(a: dsa.Array) -> dsa.Array:
        dt = float_dtype(a.dtype)
        # the module-level function, which Array.map_blocks calls: the method is wrapped by
        # functools.wraps, whose stub (_Wrapped) does not bind ``self``, so mypy rejects its calls
        return dsa.map_blocks(lambda b: func(np.asarray(b, dtype=dt)), a, dtype=dt)

    return dispatch(data, lambda a: func(a.astype(float_dtype(a.dtype), copy=False)), run_dask)


def as2d(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Run a 2-D kernel ``fn(block, out)`` on blocks of any dimension ≥ 1."""

    def run(block: np.ndarray) -> np.ndarray:
        b = np.ascontiguousarray(block)
        shape = b.shape
        b2 = b.reshape(1, -1) if b.ndim == 1 else b.reshape(-1, shape[-1])
        out = np.empty_like(b2)
        fn(b2, out)
        return out.reshape(shape)

    return run
