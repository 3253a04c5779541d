"""The one NumPy | dask dispatch (nightlight._backend): same answers, coords/attrs/CRS kept.

Chunks that do not divide the shape (37 × 41 in 10 × 7 blocks) put ragged blocks on
both edges, where per-block code goes wrong first.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from nightlight._backend import as_dask, dispatch, float_dtype, is_dask, map_pixels
from nightlight.grid import Grid

SHAPE, CHUNKS = (37, 41), (10, 7)
T = Affine(1 / 120, 0, 100.0, 0, -1 / 120, 40.0)


def mosaic(dtype=np.float32, chunks=None, seed=0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    v = np.clip(rng.lognormal(1.0, 1.0, SHAPE) * 10, 0, 250).astype(dtype)
    if np.issubdtype(np.dtype(dtype), np.floating):
        v[rng.random(SHAPE) < 0.05] = np.nan
    da = Grid(CRS.from_epsg(4326), T, SHAPE).wrap(v, name="m", attrs={"units": "nW/cm2/sr", "source": "test"})
    return da.chunk(dict(zip(("y", "x"), chunks))) if chunks else da


def assert_georef_kept(out: xr.DataArray, ref: xr.DataArray) -> None:
    assert out.dims == ref.dims and out.name == ref.name
    assert ref.attrs.items() <= out.attrs.items()  # kept (a step may add its own record)
    np.testing.assert_array_equal(out["x"].values, ref["x"].values)
    np.testing.assert_array_equal(out["y"].values, ref["y"].values)
    assert out.rio.crs == ref.rio.crs
    assert out.rio.transform() == ref.rio.transform()


def test_is_dask_is_the_one_laziness_test():
    a = np.ones((3, 3))
    d = dsa.ones((3, 3), chunks=2)
    assert not is_dask(a) and not is_dask(xr.DataArray(a)) and not is_dask(1.5) and not is_dask(None)
    assert is_dask(d) and is_dask(xr.DataArray(d)) and is_dask(d.sum())  # a 0-d dask array too
    assert is_dask(a, None, d) and not is_dask(a, 2.0, xr.DataArray(a))
    assert not is_dask()


def test_as_dask_wraps_numpy_and_never_rechunks_dask():
    d = dsa.ones(SHAPE, chunks=CHUNKS)
    assert as_dask(d) is d and as_dask(xr.DataArray(d)) is d
    w = as_dask(np.arange(12).reshape(3, 4), chunks=2)
    assert isinstance(w, dsa.Array) and w.chunks == ((2, 1), (2, 2))
    np.testing.assert_array_equal(w.compute(), np.arange(12).reshape(3, 4))


def test_dispatch_picks_the_runner_from_the_inputs_and_rewraps():
    calls = []

    def np_run(a, k):
        calls.append(("numpy", type(a)))
        return a * k

    def dk_run(a, k):
        calls.append(("dask", type(a)))
        return a * k

    plain = mosaic()
    lazy = mosaic(chunks=CHUNKS)
    out_np = dispatch(plain, np_run, dk_run, 2.0)
    out_dk = dispatch(lazy, np_run, dk_run, 2.0)
    assert calls == [("numpy", np.ndarray), ("dask", dsa.Array)]
    assert not is_dask(out_np) and is_dask(out_dk)
    assert_georef_kept(out_np, plain)
    assert_georef_kept(out_dk, plain)
    np.testing.assert_array_equal(out_dk.values, out_np.values)
    # a lazy argument makes the whole call lazy, the NumPy data handed over as dask
    calls.clear()
    out = dispatch(plain.values, np_run, dk_run, dsa.from_array(np.float32(3.0)))
    assert calls == [("dask", dsa.Array)] and isinstance(out, dsa.Array)
    np.testing.assert_allclose(out.compute(), plain.values * 3, equal_nan=True)
    # plain arrays in, plain arrays out
    assert isinstance(dispatch(plain.values, np_run, dk_run, 1.0), np.ndarray)


def test_dispatch_refuses_a_runner_that_changes_the_shape_of_a_dataarray():
    with pytest.raises(ValueError):
        dispatch(mosaic(), lambda a: a[::2], lambda a: a[::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
def test_map_pixels_numpy_equals_dask_with_uneven_chunks(dtype):
    func = np.sqrt  # the independent reference is NumPy itself on the whole array
    plain = mosaic(dtype)
    lazy = mosaic(dtype, chunks=CHUNKS)
    ref = func(plain.values.astype(float_dtype(dtype)))
    a, b = map_pixels(plain, func), map_pixels(lazy, func)
    assert is_dask(b) and not is_dask(a)
    assert a.dtype == b.dtype == (np.float64 if dtype == np.float64 else np.float32)
    np.testing.assert_array_equal(a.values, ref)
    np.testing.assert_array_equal(b.values, ref)
    assert_georef_kept(a, plain)
    assert_georef_kept(b, plain)
    np.testing.assert_array_equal(map_pixels(plain.values, func), ref)  # NumPy in, NumPy out


def _blur_reference(v: np.ndarray, sigma: float) -> np.ndarray:
    valid = np.isfinite(v)
    num = ndimage.gaussian_filter(np.where(valid, v, 0.0), sigma, mode="constant", truncate=2.5)
    den = ndimage.gaussian_filter(valid.astype(np.float64), sigma, mode="constant", truncate=2.5)
    return np.where(valid, num / den, np.nan)


def _library_functions():
    from nightlight.preprocess import denoise as D
    from nightlight.preprocess import harmonize as H
    from nightlight.preprocess.calibration import Calibration

    cal = Calibration("sigmoid", (60.0, 1.2, 2.0, 0.5), clip=(0.0, 63.0))
    return {
        "clean": lambda m: D.clean(m, negatives="zero", floor=0.6, cap=200.0),
        "background_test": lambda m: D.background_test(m, threshold=5.0),
        "gaussian_blur": lambda m: H.gaussian_blur(m, sigma=1.5),
        "calibration.apply": cal.apply,
        "mask_flares": lambda m: D.mask_flares(m, points=[(100.05, 39.9), (100.3, 39.75)], radius=0.02),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_library_functions()))
def test_library_functions_give_the_same_answer_on_numpy_and_dask(name):
    func = _library_functions()[name]
    plain = mosaic()
    a, b = func(plain), func(mosaic(chunks=CHUNKS))
    assert not is_dask(a) and is_dask(b)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-6, equal_nan=True)
    assert_georef_kept(a, plain)
    assert_georef_kept(b, plain)


def test_gaussian_blur_equals_scipy_on_the_whole_array_for_both_backends():
    from nightlight.preprocess.harmonize import gaussian_blur

    v = mosaic(np.float64).values
    ref = _blur_reference(v, 1.5)
    for m in (mosaic(np.float64), mosaic(np.float64, chunks=CHUNKS)):
        np.testing.assert_allclose(gaussian_blur(m, sigma=1.5).values, ref, rtol=1e-10, equal_nan=True)
