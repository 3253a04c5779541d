"""Code paths rewritten while making mypy pass (issue 9, item 10)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import nightlight.preprocess as C

# --- the bug: intercalibrate of a mapping that mixes DataArrays and plain arrays ---------------------------------


@pytest.mark.parametrize("first_is_dataarray", [True, False])
def test_intercalibrate_mixed_mapping_is_the_nan_mean_whatever_the_order(first_is_dataarray):
    # Before the fix, a DataArray first and an ndarray after it raised AttributeError
    # ('numpy.ndarray' object has no attribute 'variable'); the other order worked.
    rng = np.random.default_rng(7)
    a, b = (rng.integers(0, 64, (6, 8)).astype(np.float32) for _ in range(2))
    a[0, 0] = np.nan
    da = xr.DataArray(a, dims=("y", "x"))
    mapping = {"F15": da, "F16": b} if first_is_dataarray else {"F16": b, "F15": da}
    out = C.intercalibrate(mapping, year=2005, model="elvidge2014")
    # reference: each satellite calibrated alone, then the NaN-aware mean in plain NumPy
    ea, eb = C.intercalibrate(a, "F15", 2005), C.intercalibrate(b, "F16", 2005)
    ref = np.where(np.isnan(ea), eb, (ea + eb) / 2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32  # a mix keeps no grid: the array path
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_intercalibrate_all_dataarrays_still_gives_a_dataarray_with_provenance():
    da = xr.DataArray(np.full((3, 4), 20.0, np.float32), dims=("y", "x"))
    out = C.intercalibrate({"F15": da, "F16": da.copy()}, year=2005)
    assert isinstance(out, xr.DataArray)
    assert out.attrs["calibration"] == "elvidge2014 F15+F16 2005" and out.attrs["units"] == "DN"
