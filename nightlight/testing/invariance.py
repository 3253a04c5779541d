"""Chunk invariance: the same answer for every chunking, with a diff that says where."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from nightlight.testing.builders import Chunks, chunk_dict


def _unchunked(a: Any) -> Any:
    if isinstance(a, xr.DataArray):
        return a.compute() if a.chunks is not None else a
    return np.asarray(a)


def _chunked(a: Any, chunks: Chunks) -> Any:
    if isinstance(a, xr.DataArray):
        return a.chunk(chunk_dict(chunks, a.dims))
    a = np.asarray(a)
    spec = chunk_dict(chunks, list(range(a.ndim)))
    return dsa.from_array(a, chunks=tuple(spec[d] for d in range(a.ndim)))


def _diff_arrays(expected: Any, got: Any, rtol: float, atol: float, where: str) -> None:
    e, g = np.asarray(expected), np.asarray(got)
    if e.shape != g.shape:
        raise AssertionError(f"{where}: shape {g.shape}, expected {e.shape}")
    if e.dtype.kind in "iub" and g.dtype.kind in "iub":
        bad = e != g  # exact: ids and counts (float64 would round large ints)
    elif e.dtype.kind in "fiub" and g.dtype.kind in "fiub":
        bad = ~np.isclose(g.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    elif "O" in (e.dtype.kind, g.dtype.kind):
        pairs = zip(e.ravel().tolist(), g.ravel().tolist())
        bad = np.array([not _same_object(a, b) for a, b in pairs], dtype=bool).reshape(e.shape)
    else:
        bad = e != g
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        if e.ndim == 0:
            shown = f"{g.tolist()!r} vs {e.tolist()!r}"
        else:
            shown = "; ".join(
                f"at {tuple(map(int, ix))}: {_item(g, ix)!r} vs {_item(e, ix)!r}" for ix in np.argwhere(bad)[:5]
            )
        raise AssertionError(
            f"{where}: {int(bad.sum())} of {bad.size} values differ (rtol={rtol}, atol={atol}); got vs expected {shown}"
        )


def _item(a: np.ndarray, ix: np.ndarray) -> Any:
    return np.asarray(a[tuple(ix)]).tolist()  # plain Python value (object arrays: the object)


def _same_object(a: Any, b: Any) -> bool:
    if isinstance(a, shapely.Geometry) and isinstance(b, shapely.Geometry):
        return bool(a.is_empty and b.is_empty) or bool(shapely.equals(a, b))
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def _compare(expected: Any, got: Any, rtol: float, atol: float, where: str) -> None:
    if isinstance(expected, pd.DataFrame):
        if list(got.columns) != list(expected.columns) or not got.index.equals(expected.index):
            raise AssertionError(f"{where}: columns/index {list(got.columns)} vs {list(expected.columns)}")
        for col in expected.columns:
            _diff_arrays(expected[col].to_numpy(), got[col].to_numpy(), rtol, atol, f"{where}[{col!r}]")
    elif isinstance(expected, pd.Series):
        _diff_arrays(expected.to_numpy(), got.to_numpy(), rtol, atol, where)
    elif isinstance(expected, xr.DataArray):
        if got.dims != expected.dims:
            raise AssertionError(f"{where}: dims {got.dims}, expected {expected.dims}")
        for d in expected.dims:
            if d in expected.coords:
                _diff_arrays(expected[d].values, got[d].values, 0.0, 0.0, f"{where} coordinate {d!r}")
        _diff_arrays(expected.values, got.values, rtol, atol, where)
    elif isinstance(expected, xr.Dataset):
        for k in expected.data_vars:
            _compare(expected[k], got[k], rtol, atol, f"{where}[{k!r}]")
    elif isinstance(expected, Mapping):
        if set(got) != set(expected):
            raise AssertionError(f"{where}: keys {sorted(got)} vs {sorted(expected)}")
        for k in expected:
            _compare(expected[k], got[k], rtol, atol, f"{where}[{k!r}]")
    elif isinstance(expected, tuple | list) and not np.isscalar(expected):
        if len(got) != len(expected):
            raise AssertionError(f"{where}: {len(got)} items, expected {len(expected)}: {got!r} vs {expected!r}")
        if all(isinstance(v, int | float | np.number) for v in [*expected, *got]):
            _diff_arrays(np.array(expected), np.array(got), rtol, atol, where)
        else:
            for i, (e, g) in enumerate(zip(expected, got)):
                _compare(e, g, rtol, atol, f"{where}[{i}]")
    else:
        _diff_arrays(expected, got, rtol, atol, where)


def assert_chunk_invariant(
    func: Callable[..., Any],
    data: Any,
    chunkings: Iterable[Chunks],
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> Any:
    """Assert that ``func`` gives the same result on unchunked and on chunked input.

    ``func(data)`` on in-memory input is the reference; then for every chunking
    ``func`` runs on the input chunked that way (dask), is computed, and is compared
    with the reference — arrays, DataArrays (values and dimension coordinates),
    DataFrames (column by column, geometries with ``shapely.equals``), lists, tuples,
    dicts and scalars. NaN equals NaN.

    Parameters
    ----------
    func : callable
        Takes the input(s) and returns a result (lazy results are computed).
    data : DataArray, ndarray, or a tuple/list of them
        The input; a tuple/list is passed as separate arguments, all chunked alike.
    chunkings : iterable of chunk specifications
        E.g. ``[7, (13, 5), {"y": 3, "x": -1}]`` or draws of :func:`chunkings`.
    rtol, atol : float
        Tolerances (default exact: block-wise float sums may need ``rtol=1e-12``).

    Returns
    -------
    The reference result.

    Raises
    ------
    AssertionError
        Naming the chunking, the part of the result (column, key, index) and the
        first differing values.
    """
    args = tuple(data) if isinstance(data, tuple | list) else (data,)
    label = getattr(func, "__qualname__", repr(func))
    # dask.compute walks lists, tuples and dicts and computes the dask arrays and lazy xarray objects in them
    (expected,) = dask.compute(func(*(_unchunked(a) for a in args)))
    for chunks in chunkings:
        (got,) = dask.compute(func(*(_chunked(a, chunks) for a in args)))
        try:
            _compare(expected, got, rtol, atol, "result")
        except AssertionError as err:
            raise AssertionError(f"{label} with chunks={chunks!r} differs from the unchunked result: {err}") from None
    return expected
