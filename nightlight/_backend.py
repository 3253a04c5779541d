"""One NumPy | dask dispatch for per-block work (the xarray-spatial pattern).

Every stage that applies a block function to a mosaic goes through here, so "is it
lazy?" is asked in one place and coordinates, attributes and CRS are put back the
same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

ArrayLike = np.ndarray | xr.DataArray


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
