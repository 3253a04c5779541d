"""Monthly → annual VIIRS composites (nightlight.preprocess.composite)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nightlight.errors import GridMismatchError, InvalidRasterError
from nightlight.kernels import composite as kcomp
from nightlight.preprocess.composite import annual_composite, open_monthly
from nightlight.testing import assert_chunk_invariant, chunkings


def twin(rad, cnt, min_count):
    keep = np.isfinite(rad) & (cnt >= min_count) & (cnt > 0)
    w = np.where(keep, cnt, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(w.sum(0) > 0, (np.where(keep, rad, 0) * w).sum(0) / w.sum(0), np.nan)
    med = np.full(rad.shape[1:], np.nan)
    for i, j in np.ndindex(*rad.shape[1:]):
        v = rad[keep[:, i, j], i, j]
        if v.size:
            med[i, j] = np.median(v)
    return mean, med, w.sum(0)


@pytest.mark.slow
@given(
    arrays(np.float64, (12, 3, 4), elements=st.one_of(st.floats(-2, 300), st.just(float("nan")))),
    arrays(np.float64, (12, 3, 4), elements=st.integers(0, 25).map(float)),
    st.integers(1, 5),
)
def test_composite_kernel_equals_numpy_twin(rad, cnt, min_count):
    mean, med, nobs = (np.empty((3, 4)) for _ in range(3))
    kcomp.composite(rad, cnt, min_count, mean, med, nobs)
    rm, rmed, rn = twin(rad, cnt, min_count)
    np.testing.assert_allclose(mean, rm, rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(med, rmed, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(nobs, rn)


def monthly(nt=36, ny=9, nx=11, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(nt) * 30.44 + 41274  # days since 1900-01-01, from 2013-01
    rad = xr.DataArray(
        rng.gamma(2, 5, (nt, ny, nx)).astype(np.float32),
        dims=("time", "y", "x"),
        coords={"time": ("time", t, {"units": "days since 1900-01-01"}), "y": np.arange(ny), "x": np.arange(nx)},
    )
    cnt = rad.copy(data=rng.integers(0, 20, (nt, ny, nx)).astype(np.uint16))
    return rad, cnt


def test_annual_composite_year_selection_and_dask():
    rad, cnt = monthly()
    ds = annual_composite(rad, cnt, 2014, min_count=2)
    assert ds.attrs["months"] == 12
    rm, rmed, _ = twin(rad.values[12:24].astype(float), cnt.values[12:24].astype(float), 2)
    np.testing.assert_allclose(ds["mean"].values, rm, rtol=1e-6)
    np.testing.assert_allclose(ds["median"].values, rmed, rtol=1e-6)
    lazy = annual_composite(
        rad.chunk({"time": 5, "y": 4, "x": 6}), cnt.chunk({"time": 7, "y": 4, "x": 6}), 2014, min_count=2
    )
    assert hasattr(lazy["mean"].data, "dask")
    for v in ("mean", "median", "nobs"):
        np.testing.assert_allclose(lazy[v].values, ds[v].values, rtol=1e-12)
    with pytest.raises(InvalidRasterError, match="years present"):
        annual_composite(rad, cnt, 2020)
    with pytest.raises(GridMismatchError):
        annual_composite(rad, cnt.isel(x=slice(0, 5)), 2014)


@pytest.mark.slow
@settings(max_examples=30)  # a 36 × 9 × 11 stack through dask per example (~0.1 s)
@given(st.integers(0, 2**16), st.data())
def test_annual_composite_does_not_depend_on_chunks(seed, data):
    rad, cnt = monthly(seed=seed)
    rad = rad.where(np.random.default_rng(seed).random(rad.shape) > 0.1)  # some NaN months
    ch = data.draw(chunkings(rad.shape, max_blocks=4), label="chunks")
    assert_chunk_invariant(lambda r, c: annual_composite(r, c, 2014, min_count=2), (rad, cnt), [ch], rtol=1e-12)


@pytest.mark.realdata
def test_mumbai_2013_2016(shared_file):
    rad, cnt = open_monthly(
        str(shared_file("mumbai-viirs-monthly", "mumbai_radiance.nc")),
        str(shared_file("mumbai-viirs-monthly", "mumbai_clouds.nc")),
    )
    assert rad.shape == cnt.shape == (131, 101, 48)
    tot = {}
    for y in (2013, 2016):
        ds = annual_composite(rad, cnt, y)
        assert ds.attrs["months"] == 12
        tot[y] = {v: float(ds[v].sum()) for v in ("mean", "median")}
    # docs/calibration-results.md: ~79,200 (mean) and ~74,000 (median) nW/cm²/sr; change within ±3 %
    assert 70_000 < tot[2013]["mean"] < 90_000 and tot[2013]["median"] < tot[2013]["mean"]
    for v in ("mean", "median"):
        assert abs(tot[2016][v] / tot[2013][v] - 1) < 0.03
