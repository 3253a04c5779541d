"""VIIRS denoising (nightlight.preprocess.denoise, kernels/denoise.py)."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

import nightlight.preprocess.denoise as D
from nightlight.errors import GridMismatchError, UnitsError
from nightlight.kernels import denoise as kd
from nightlight.testing import assert_chunk_invariant, chunkings, georeferenced, mosaics

#: 30″ pixels from (100°E, 40°N)
georef = partial(georeferenced, origin=(100.0, 40.0), res=1 / 120)

vals = st.one_of(st.floats(-3, 500, width=32), st.just(float("nan")))


def twin_clean(x, neg, floor, cap):
    y = x.astype(np.float64)
    if neg == "zero":
        y = np.where(y < 0, 0, y)
    elif neg == "nan":
        y = np.where(y < 0, np.nan, y)
    y = np.where((y >= 0) & (y < floor), 0, y)
    return np.minimum(y, cap)


@given(
    arrays(np.float32, (6, 7), elements=vals),
    st.sampled_from(["zero", "nan", "keep"]),
    st.floats(0, 2),
    st.floats(10, 600),
)
def test_clean_kernel_equals_numpy_twin(x, neg, floor, cap):
    out = np.empty_like(x)
    kd.clean_radiance(x, D._NEG[neg], floor, cap, out)
    np.testing.assert_allclose(out, twin_clean(x, neg, floor, cap).astype(np.float32), equal_nan=True)


def twin_range(x):
    def rng(w):
        w = w[np.isfinite(w)]
        return w.max() - w.min() if w.size else np.nan

    r = ndimage.generic_filter(x.astype(np.float64), rng, size=3, mode="constant", cval=np.nan)
    return np.where(np.isnan(x), np.nan, r)


@pytest.mark.slow
@given(arrays(np.float64, (5, 8), elements=st.one_of(st.floats(0, 100), st.just(float("nan")))))
def test_data_range_kernel_equals_scipy_twin(x):
    out = np.empty_like(x)
    kd.data_range3x3(x, out)
    np.testing.assert_allclose(out, twin_range(x), equal_nan=True)


@pytest.mark.slow
def test_background_test_chunk_invariant_and_correct():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.3, (57, 43)).astype(np.float32)
    x[20:30, 10:20] += rng.uniform(5, 50, (10, 10)).astype(np.float32)
    x[0, 0] = np.nan
    ref = D.background_test(x, threshold=1.0)
    r = twin_range(x)
    np.testing.assert_array_equal(ref, np.where(np.isfinite(x) & (r < 1.0), 0, x))
    assert (ref[40:, 30:] == 0).all() and (ref[21:29, 11:19] > 0).all()
    for ch in (8, (20, 43), 57):
        got = D.background_test(georef(x, chunks=ch), threshold=1.0)
        np.testing.assert_array_equal(got.values, ref)
    # few cloud-free nights → stricter (larger threshold) test
    counts = np.full(x.shape, 12.0)
    counts[:, :20] = 3.0
    strict = D.background_test(x, threshold=1.0, counts=counts)
    thr = np.where(counts < 12, 2.0, 1.0)
    np.testing.assert_array_equal(strict, np.where(np.isfinite(x) & (r < thr), 0, x))
    got = D.background_test(georef(x, chunks=13), threshold=1.0, counts=georef(counts, chunks=13))
    np.testing.assert_array_equal(got.values, strict)


# Three lazy pipelines (two with a 1-pixel halo) per example, ~0.1 s: 30 examples.
@pytest.mark.slow
@settings(max_examples=30)
@given(mosaics(24), st.data())
def test_background_and_core_cap_numpy_equal_dask_for_any_chunking(x, data):
    """The 3×3 test (1-pixel halo) and the core cap on chunks that need not divide the mosaic."""
    ch = data.draw(chunkings(x.shape, max_blocks=6), label="chunks")
    counts = data.draw(arrays(np.float64, x.shape, elements=st.integers(0, 20).map(float)), label="counts")
    assert_chunk_invariant(lambda d: D.background_test(d, threshold=1.0), georef(x), [ch])
    assert_chunk_invariant(
        lambda d, c: D.background_test(d, threshold=1.0, counts=c), (georef(x), georef(counts)), [ch]
    )
    core = np.zeros(x.shape, bool)
    core[: max(1, x.shape[0] // 2), : max(1, x.shape[1] // 2)] = True
    assert_chunk_invariant(lambda d: D.cap_outliers(d, core=core), georef(x), [ch])


def test_cap_percentile_value_and_core():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0, 1.5, (120, 100)).astype(np.float32)
    q = np.percentile(x, 99.9)
    exact = D.cap_outliers(x, percentile=99.9)
    assert exact.max() == pytest.approx(q, rel=1e-6)
    lazy = D.cap_outliers(georef(x, chunks=37), percentile=99.9)
    assert hasattr(lazy.data, "dask")
    cap = float(lazy.max())
    srt = np.sort(x.ravel())
    upper = srt[int(np.ceil(0.999 * (x.size - 1)))]  # next order statistic above the percentile
    assert q <= cap <= upper * 1.006  # histogram bin: ≤ 0.5 % above it
    np.testing.assert_array_equal(D.cap_outliers(x, value=3.0), np.minimum(x, 3.0))
    core = np.zeros(x.shape, bool)
    core[10:20, 10:20] = True
    capped = D.cap_outliers(georef(x, chunks=50), core=core)
    assert float(capped.max()) == pytest.approx(x[10:20, 10:20].max())
    da = georef(x)
    box = (float(da.x[10]), float(da.y[19]), float(da.x[19]), float(da.y[10]))
    assert float(D.cap_outliers(da, core=box).max()) == pytest.approx(x[10:20, 10:20].max())
    with pytest.raises(UnitsError, match="exactly one"):
        D.cap_outliers(x, percentile=99, value=3)


def test_mask_flares_points_and_raster():
    x = np.ones((30, 40), np.float32)
    da = georef(x, chunks=11)
    px = [(float(da.x[5]), float(da.y[7])), (float(da.x[33]), float(da.y[25]))]
    out = D.mask_flares(da, points=px).values
    assert np.isnan(out[7, 5]) and np.isnan(out[25, 33]) and np.isnan(out).sum() == 2
    out2 = D.mask_flares(da, points=px[:1], radius=2.2 / 120).values
    assert np.isnan(out2[7, 5]) and 9 <= np.isnan(out2).sum() <= 49
    m = np.zeros_like(x)
    m[3, 4] = 1
    out3 = D.mask_flares(da, raster=georef(m)).values
    assert np.isnan(out3[3, 4]) and np.isnan(out3).sum() == 1
    with pytest.raises(GridMismatchError):
        D.mask_flares(da, raster=georef(m, origin=(101.0, 40.0)))


def test_dn_passed_as_radiance_warns():
    dn = np.random.default_rng(2).integers(0, 64, (20, 20)).astype(np.float32)
    dn[:5] = 63
    with pytest.warns(UserWarning, match="looks like DMSP-OLS DN"):
        D.clean(dn, floor=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D.clean(dn + 0.25, floor=0.6)


@pytest.mark.slow
def test_real_burundi_negatives(shared_file):
    from nightlight import open_mosaic

    path = shared_file("fixtures", "burundi-viirs")
    tif = sorted(path.glob("*.tif"))
    if not tif:
        pytest.skip(f"no GeoTIFF in {path}")
    da = open_mosaic(tif[0], chunks=128)
    out = D.clean(da, negatives="zero", floor=0.6)
    v = out.values
    assert np.nanmin(v) >= 0 and not ((v > 0) & (v < 0.6)).any()
    assert np.isnan(v).sum() == np.isnan(da.values).sum()
