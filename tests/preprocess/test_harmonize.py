"""VIIRS → DMSP-like harmonization (nightlight.preprocess.harmonize), Li et al. 2020."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

import nightlight.preprocess.harmonize as H
from nightlight.errors import GridMismatchError
from nightlight.grid import Grid
from nightlight.kernels import resample as kr
from nightlight.preprocess.calibration import Calibration, _predict_np, fit_scores
from nightlight.testing import assert_chunk_invariant, chunkings, georeferenced, mosaics

#: 30″ pixels from (100°E, 40°N) unless res= says otherwise
georef = partial(georeferenced, origin=(100.0, 40.0), res=1 / 120)

V = 1 / 240  # 15″ in degrees
nanvals = st.one_of(st.floats(0, 100), st.just(float("nan")))


def twin_smooth121(x):
    w = np.outer([1, 2, 1], [1, 2, 1]).astype(float)
    valid = np.isfinite(x)
    num = ndimage.correlate(np.where(valid, x, 0.0), w, mode="constant", cval=0.0)
    den = ndimage.correlate(valid.astype(float), w, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


@pytest.mark.slow
@given(arrays(np.float64, (7, 6), elements=nanvals))
def test_smooth121_kernel_equals_scipy_twin(x):
    out = np.empty_like(x)
    kr.smooth121(x, out)
    np.testing.assert_allclose(out, twin_smooth121(x), rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.slow
@given(arrays(np.float64, (6, 8), elements=nanvals))
def test_coarsen_mean2_kernel_equals_numpy_twin(x):
    out = np.empty((3, 4))
    kr.coarsen_mean2(x, out)
    with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        ref = np.nanmean(x.reshape(3, 2, 4, 2), axis=(1, 3))
    np.testing.assert_allclose(out, ref, rtol=1e-12, equal_nan=True)


def test_blur_depth_and_chunk_invariance():
    assert H.blur_depth(2.0, 2.5) == 5
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 50, (83, 71)).astype(np.float32)
    x[40:43, 10:12] = np.nan
    ref = H.gaussian_blur(x, sigma=2.0)
    # away from NaN and the edges the normalized blur is scipy's blur
    inner = ndimage.gaussian_filter(np.nan_to_num(x).astype(float), 2.0, truncate=2.5, mode="constant")
    np.testing.assert_allclose(ref[5:30, 20:60], inner[5:30, 20:60], rtol=1e-5)
    assert np.isnan(ref[41, 11])
    for ch in (9, (30, 71), 83):
        got = H.gaussian_blur(georef(x, chunks=ch), sigma=2.0)
        np.testing.assert_allclose(got.values, ref, rtol=1e-6)


# min_side 6 > the largest halo (blur_depth(2.0) = 5 px): dask's map_overlap refuses a
# halo deeper than the whole array (a 1-pixel mosaic fails on dask, works in memory).
@pytest.mark.slow
@settings(max_examples=30)  # map_overlap with a halo up to 5 px, ~60 ms an example
@given(mosaics(24, min_side=6, min_value=0.0, max_value=200.0), st.data())
def test_blur_numpy_equals_dask_for_any_chunking(x, data):
    """The halo is blur_depth(σ) pixels; chunks smaller than it still give the whole-array blur."""
    ch = data.draw(chunkings(x.shape, max_blocks=6), label="chunks")
    sigma = data.draw(st.sampled_from([0.5, 1.0, 2.0]), label="sigma")
    assert_chunk_invariant(lambda d: H.gaussian_blur(d, sigma=sigma), georef(x, res=V), [ch], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_aggregate_centers_and_edges_chunk_invariant():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, (41, 37)).astype(np.float32)
    x[3, 3] = np.nan
    ref_c = twin_smooth121(x.astype(float))[::2, ::2]
    da = georef(x, res=V)
    for ch in (None, 8, (13, 37)):
        src = da if ch is None else georef(x, res=V, chunks=ch)
        c = H.aggregate(src, alignment="centers")
        np.testing.assert_allclose(c.values, ref_c, rtol=1e-6)
        e = H.aggregate(src, alignment="edges")
        with np.errstate(invalid="ignore"):
            ref_e = np.nanmean(x[:40, :36].reshape(20, 2, 18, 2), axis=(1, 3))
        np.testing.assert_allclose(e.values, ref_e, rtol=1e-6)
    # transforms: centres → 30″ pixel 0 centred on 15″ pixel 0; edges → same origin
    tc = c.rio.transform()
    assert tc.a == pytest.approx(2 * V) and tc.c == pytest.approx(100 - V / 2)
    assert e.rio.transform().c == pytest.approx(100.0)
    np.testing.assert_allclose(c.x.values, da.x.values[::2])


def test_aggregate_to_target_grid_and_misalignment():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 10, (60, 50)).astype(np.float64)
    v = georef(x, res=V, chunks=17)
    # edge-aligned target starting 4 VIIRS px right and 6 down, 10 x 12 px
    tgt_e = Grid(v.rio.crs, Affine(2 * V, 0, 100 + 4 * V, 0, -2 * V, 40 - 6 * V), (10, 12))
    out = H.aggregate_to(v, tgt_e)
    ref = x[6:26, 4:28].reshape(10, 2, 12, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(out.values, ref, rtol=1e-12)
    assert Grid.of(out).same_as(tgt_e)
    # centre-aligned target (the global VIIRS/DMSP layout), running past the VIIRS edge → NaN there
    tgt_c = Grid(v.rio.crs, Affine(2 * V, 0, 100 + 2.5 * V, 0, -2 * V, 40 - 0.5 * V), (31, 5))
    out_c = H.aggregate_to(v, tgt_c).values
    sm = twin_smooth121(x)
    np.testing.assert_allclose(out_c[:30], sm[1::2, 3:13:2][:30], rtol=1e-12)
    assert np.isnan(out_c[30]).all()
    bad = Grid(v.rio.crs, Affine(2 * V, 0, 100 + 0.3 * V, 0, -2 * V, 40), (5, 5))
    with pytest.raises(GridMismatchError, match="neither on VIIRS pixel"):
        H.aggregate_to(v, bad)
    with pytest.raises(GridMismatchError, match="twice"):
        H.aggregate_to(v, Grid(v.rio.crs, Affine(3 * V, 0, 100, 0, -3 * V, 40), (5, 5)))


@pytest.mark.slow
def test_harmonization_recovers_a_synthetic_sigmoid_chunk_invariant():
    rng = np.random.default_rng(3)
    rad = rng.lognormal(1.0, 1.2, (120, 100))
    v = georef(rad, res=V)
    x = H.prepare_viirs(v)  # floor 1, blur σ=2, log1p, 30″ (centres)
    true = (60.0, 3.0, float(np.nanmedian(x.values)), 2.0)  # x0 mid-range so both asymptotes are sampled
    dmsp = np.round(
        np.clip(_predict_np("sigmoid", true, x.values) + rng.normal(0, 0.7, x.shape), 0, 63)
    )  # DN are integers
    d = georef(dmsp, origin=(float(x.rio.transform().c), float(x.rio.transform().f)), res=2 * V)
    cal = H.fit_harmonization(v, d, sample=None)
    np.testing.assert_allclose(cal.params, true, rtol=0.1, atol=0.3)
    xs = np.linspace(np.nanmin(x.values), np.nanmax(x.values), 200)
    assert np.max(np.abs(_predict_np("sigmoid", cal.params, xs) - _predict_np("sigmoid", true, xs))) < 0.5  # DN
    assert cal.metrics["r2"] > 0.9 and cal.clip == (0.0, 63.0)
    a = H.harmonize_viirs(v, cal, target=d).values
    b = H.harmonize_viirs(georef(rad, res=V, chunks=(37, 41)), cal, target=d).values
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    assert np.nanmax(a) <= 63 and np.nanmin(a) >= 0


@pytest.mark.realdata
def test_real_harmonized_regions_fit_and_tracking(shared_file):
    """Loose pins of docs/calibration-results.md (benchmarks/calibration_real_data.py)."""

    def load(city, sensor, y):
        return np.load(shared_file("harmonized-regions", city, sensor, f"ntl_{y}.npy"))

    expect = {"abidjan": (0.80, 10.0, 0.75), "paris": (0.70, 4.5, 0.55)}
    for city, (r2_min, rmse_max, r2_later) in expect.items():
        d = [load(city, "DMSP", y) for y in (2012, 2013)]
        assert d[0].dtype == np.uint8 and load(city, "VIIRS", 2012).dtype == np.float32
        cal = H.fit_harmonization([load(city, "VIIRS", y) for y in (2012, 2013)], d, prepare=False, sample=None, seed=0)
        assert cal.metrics["r2"] > r2_min and cal.metrics["rmse"] < rmse_max
        for y in (2014, 2016, 2018):
            pred = H.harmonize_viirs(load(city, "VIIRS", y), cal, prepare=False)
            dm = load(city, "DMSP", y).astype(float)
            s = fit_scores(dm.ravel(), np.asarray(pred, float).ravel())
            assert s["r2"] > r2_later, (city, y, s)
            assert abs(pred.sum() / dm.sum() - 1) < 0.08, (city, y)
    assert np.mean(np.stack([load("paris", "DMSP", y) for y in (2012, 2013)]) == 63) > 0.5


def test_shipped_catalog_calibration_applies_through_steps():
    cal = Calibration.from_json("catalog:calibration/viirslike_to_dmsplike_abidjan_2012_2013.json")
    assert cal.model == "sigmoid" and cal.clip == (0.0, 63.0) and cal.metrics["r2"] > 0.8
    from nightlight.preprocess import apply_steps, parse_steps

    rad = georef(np.random.default_rng(5).lognormal(1, 1.5, (30, 20)), chunks=7)
    out, rec = apply_steps(
        rad,
        parse_steps("log1p,calibration=catalog:calibration/viirslike_to_dmsplike_abidjan_2012_2013.json"),
        sensor="viirs",
    )
    np.testing.assert_allclose(out.values, H.harmonize_viirs(rad.values, cal, prepare=False), rtol=1e-6)
    assert rec[1]["params"]["params"] == list(cal.params)
