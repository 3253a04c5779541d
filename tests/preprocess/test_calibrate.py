"""DMSP inter-calibration, fitted calibrations and named steps (nightlight.preprocess)."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import nightlight.preprocess as C
import nightlight.preprocess.calibration as F
from nightlight.errors import CatalogError, FitError, GridMismatchError, UnitsError
from nightlight.kernels import pixel as kc
from nightlight.testing import assert_chunk_invariant, chunkings, georeferenced, mosaics

#: 30″ pixels from (100°E, 40°N)
georef = partial(georeferenced, origin=(100.0, 40.0), res=1 / 120)


# -- NumPy twins of the kernels --------------------------------------------------------------


def twin_model(model, p, x, lo, hi):
    with np.errstate(over="ignore", invalid="ignore"):
        if model == "linear":
            y = p[0] + p[1] * x
        elif model == "quadratic":
            y = p[0] + p[1] * x + p[2] * x**2
        elif model == "power":
            y = np.where(x + 1 >= 0, p[0] * np.abs(x + 1) ** p[1] - 1, np.nan)
        else:
            y = p[0] / (1 + np.exp(-p[1] * (x - p[2]))) + p[3]
    return np.where(np.isnan(x), np.nan, np.clip(y, lo, hi))


def twin_chain(dn, steps, keep_zero):
    v = dn.astype(np.float64)
    for form, (c0, c1, c2) in steps:
        v = c0 + c1 * v + c2 * v**2 if form == "quadratic" else c0 * (v + 1) ** c1 - 1
        v = np.clip(v, 0, 63)
    if keep_zero:
        v = np.where(dn == 0, 0, v)
    return np.where(np.isnan(dn), np.nan, v)


finite_or_nan = st.one_of(st.floats(-5, 80, width=32), st.just(float("nan")))


@pytest.mark.slow
@given(arrays(np.float32, (7, 9), elements=finite_or_nan), st.sampled_from(sorted(kc.MODEL_IDS)))
def test_apply_model_kernel_equals_numpy_twin(x, model):
    p = {"linear": [1.5, 0.8], "quadratic": [0.3, 1.1, -0.004], "power": [0.9, 1.1], "sigmoid": [58.0, 1.3, 2.5, 2.0]}[
        model
    ]
    out = np.empty_like(x)
    kc.apply_model(x, kc.MODEL_IDS[model], np.array(p, float), 0.0, 63.0, out)
    np.testing.assert_allclose(
        out, twin_model(model, p, x.astype(np.float64), 0, 63).astype(np.float32), rtol=2e-6, atol=2e-5
    )


@pytest.mark.slow
@given(
    arrays(np.float32, (6, 8), elements=st.one_of(st.integers(0, 63).map(float), st.just(float("nan")))), st.booleans()
)
def test_dmsp_chain_kernel_equals_numpy_twin(dn, keep_zero):
    for steps in (
        [("quadratic", (0.6394, 0.9114, 0.0014))],
        [("power", (0.8864, 1.1112, 0.0))],
        [("quadratic", (0.1194, 1.2265, -0.0041)), ("quadratic", (-1.2802, 1.3313, -0.0055))],
    ):
        out = np.empty_like(dn)
        kc.dmsp_chain(dn, np.array([s[1] for s in steps]), np.array([kc.FORM_IDS[s[0]] for s in steps]), keep_zero, out)
        np.testing.assert_allclose(out, twin_chain(dn, steps, keep_zero), rtol=1e-5, atol=1e-4)


# -- catalog and intercalibrate ---------------------------------------------------------------


def test_catalog_rows_and_suspects():
    rows = C.coefficients()
    models = {r["model"] for r in rows}
    assert {"elvidge2009", "elvidge2014", "wu2013", "lizhou2017", "liu2012"} <= models
    suspect = {(r["model"], r["satellite"], r["year"]) for r in rows if r["status"] == "suspect"}
    assert ("elvidge2014", "F18", 2008) in suspect and ("elvidge2014", "F16", 2011) in suspect
    assert ("elvidge2014", "F18", 2013) in suspect and ("elvidge2014", "F16", 2007) not in suspect
    assert len(C.calibration_steps("F16", 2006, "lizhou2017")) == 2


def test_intercalibrate_matches_published_formula_and_clips():
    dn = np.arange(64, dtype=np.float32).reshape(8, 8)
    out = C.intercalibrate(dn, "F16", 2007, "elvidge2014")
    ref = np.clip(0.6394 + 0.9114 * dn + 0.0014 * dn.astype(np.float64) ** 2, 0, 63)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert out.max() <= 63 and out.min() >= 0
    wu = C.intercalibrate(dn, "F12", 1994, "wu2013")
    np.testing.assert_allclose(wu, np.clip(0.4225 * (dn + 1.0) ** 1.3025 - 1, 0, 63), rtol=1e-5)
    assert C.intercalibrate(dn, "F16", 2007, keep_zero=True)[0, 0] == 0


def test_intercalibrate_chunking_does_not_matter():
    rng = np.random.default_rng(3)
    dn = rng.integers(0, 64, (67, 53)).astype(np.float32)
    dn[5:9, 7:11] = np.nan
    ref = C.intercalibrate(dn, "F14", 2001, "lizhou2017")
    for chunks in (16, (23, 50), 67):
        got = C.intercalibrate(georef(dn, chunks=chunks), "F14", 2001, "lizhou2017")
        assert hasattr(got.data, "dask")
        np.testing.assert_array_equal(got.values, ref)
        assert got.rio.crs is not None


dn_values = st.one_of(st.integers(0, 63).map(float), st.just(float("nan")))


# Per-pixel work: any non-dividing chunking exercises it, so 30 examples on ≤ 4 × 4 blocks.
@pytest.mark.slow
@settings(max_examples=30)
@given(
    st.tuples(st.integers(1, 30), st.integers(1, 30)).flatmap(lambda s: arrays(np.float32, s, elements=dn_values)),
    st.data(),
)
def test_intercalibrate_numpy_equals_dask_for_any_chunking(dn, data):
    ch = data.draw(chunkings(dn.shape, max_blocks=4), label="chunks")
    model = data.draw(st.sampled_from(["elvidge2014", "lizhou2017"]), label="model")
    assert_chunk_invariant(lambda d: C.intercalibrate(d, "F16", 2007, model), georef(dn), [ch])


# Two lazy pipelines (five steps, one with a 1-pixel halo) per example, ~0.1 s: 30 examples.
@pytest.mark.slow
@settings(max_examples=30)
@given(mosaics(24, min_value=-1.0, max_value=80.0), st.data())
def test_calibration_and_steps_numpy_equal_dask_for_any_chunking(x, data):
    ch = data.draw(chunkings(x.shape, max_blocks=6), label="chunks")
    model = data.draw(st.sampled_from(sorted(TRUE)), label="model")
    cal = C.Calibration(model, TRUE[model], clip=(0, 63))
    assert_chunk_invariant(cal.apply, georef(x), [ch])
    steps = ["negatives_to_zero", {"noise_floor": 0.6}, {"cap": {"value": 70.0}}, {"background": 0.5}, "log1p"]
    assert_chunk_invariant(lambda d: C.apply_steps(d, steps, sensor="viirs")[0], georef(x), [ch])


def test_two_satellites_averaged_after_calibration():
    rng = np.random.default_rng(4)
    a, b = (rng.integers(0, 64, (20, 30)).astype(np.float32) for _ in range(2))
    a[0, 0] = np.nan
    out = C.intercalibrate({"F15": georef(a), "F16": georef(b)}, year=2005, model="elvidge2014")
    ea, eb = C.intercalibrate(a, "F15", 2005), C.intercalibrate(b, "F16", 2005)
    np.testing.assert_allclose(out.values[1:], ((ea + eb) / 2)[1:], rtol=1e-6)
    assert out.values[0, 0] == pytest.approx(eb[0, 0])  # NaN-aware mean
    with pytest.raises(GridMismatchError):
        C.intercalibrate({"F15": georef(a), "F16": georef(b, origin=(101.0, 40.0))}, year=2005)


def test_intercalibrate_bad_input_messages():
    dn = np.zeros((4, 4), np.float32)
    with pytest.raises(CatalogError, match="Available models"):
        C.intercalibrate(dn, "F16", 2007, "nope")
    with pytest.raises(CatalogError, match="F16 2004–2012"):
        C.intercalibrate(dn, "F16", 1995, "elvidge2014")
    with pytest.raises(CatalogError, match="suspect"):
        C.intercalibrate(dn, "F18", 2010, "elvidge2014")
    C.intercalibrate(dn, "F18", 2010, "elvidge2014", allow_suspect=True)
    with pytest.raises(UnitsError, match="VIIRS radiance"):
        C.intercalibrate(dn + 150.5, "F16", 2007)
    lazy = C.intercalibrate(georef(dn - 3, chunks=2), "F16", 2007)  # lazy: raised at compute
    with pytest.raises(UnitsError):
        lazy.compute()
    with pytest.warns(UserWarning, match="whole numbers"):
        C.intercalibrate(dn + 0.37, "F16", 2007)


# -- fit ------------------------------------------------------------------------------------

TRUE = {
    "sigmoid": (55.0, 1.4, 3.0, 4.0),
    "quadratic": (0.5, 1.2, -0.004),
    "power": (0.8, 1.15),
    "linear": (2.0, 0.7),
}


@pytest.mark.parametrize("model", sorted(TRUE))
def test_fit_recovers_a_known_transform(model):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 6 if model == "sigmoid" else 60, 20000)
    y = F._predict_np(model, TRUE[model], x) + rng.normal(0, 0.5, x.size)
    cal = C.fit(x.reshape(100, 200), y.reshape(100, 200), model=model, sample=8000, seed=1)
    np.testing.assert_allclose(cal.params, TRUE[model], rtol=0.05, atol=0.05)
    assert cal.metrics["rmse"] == pytest.approx(0.5, rel=0.1)
    assert cal.metrics["r2"] > 0.95 and cal.n_train + cal.n_test == 8000
    assert cal.n_test == 2000


def test_fit_on_dask_samples_per_chunk_and_agrees():
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 6, (300, 250)).astype(np.float32)
    y = (F._predict_np("sigmoid", TRUE["sigmoid"], x) + rng.normal(0, 0.5, x.shape)).astype(np.float32)
    x[:10] = np.nan
    cal = C.fit(georef(x, chunks=64), georef(y, chunks=64), model="sigmoid", sample=20000, seed=5)
    again = C.fit(georef(x, chunks=64), georef(y, chunks=64), model="sigmoid", sample=20000, seed=5)
    assert cal == again  # seeded
    assert 15000 < cal.n_train + cal.n_test < 25000
    np.testing.assert_allclose(cal.params, TRUE["sigmoid"], rtol=0.05, atol=0.05)


def test_fit_pools_several_years_and_masks():
    rng = np.random.default_rng(13)
    xs = [rng.uniform(0, 60, (40, 40)) for _ in range(2)]
    ys = [F._predict_np("linear", (1, 0.9), x) + rng.normal(0, 0.1, x.shape) for x in xs]
    cal = C.fit(xs, ys, model="linear", sample=None, mask=[x > 10 for x in xs])
    assert cal.n_train + cal.n_test == sum(int((x > 10).sum()) for x in xs)
    np.testing.assert_allclose(cal.params, (1, 0.9), atol=0.05)


def test_fit_errors():
    x = np.full((10, 10), np.nan)
    x[0, :5] = 1
    with pytest.raises(FitError, match="only 5 valid"):
        C.fit(x, x, model="linear")
    with pytest.raises(GridMismatchError, match="not on the same pixel grid"):
        C.fit(georef(np.ones((5, 5))), georef(np.ones((5, 5)), origin=(100.001, 40.0)), model="linear")
    with pytest.raises(GridMismatchError, match="shape"):
        C.fit(np.ones((5, 5)), np.ones((5, 6)), model="linear")
    with pytest.raises(CatalogError, match="sigmoid"):
        C.fit(np.ones((5, 5)), np.ones((5, 5)), model="cubic")


def test_calibration_json_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(14)
    x = rng.uniform(0, 6, 3000)
    cal = C.fit(
        x,
        F._predict_np("sigmoid", TRUE["sigmoid"], x) + rng.normal(0, 1, x.size),
        clip=(0, 63),
        meta={"source": "synthetic"},
    )
    back = C.Calibration.from_json(cal.to_json())
    assert back == cal and back.params == cal.params and back.metrics == cal.metrics
    p = tmp_path / "cal.json"
    cal.to_json(p)
    back2 = C.Calibration.from_json(p)
    assert back2 == cal
    img = rng.uniform(0, 6, (33, 41)).astype(np.float32)
    np.testing.assert_array_equal(back2.apply(img), cal.apply(img))
    with pytest.raises(CatalogError, match="not found"):
        C.Calibration.from_json(tmp_path / "missing.json")


def test_calibration_apply_is_lazy_and_chunk_invariant():
    cal = C.Calibration("sigmoid", TRUE["sigmoid"], clip=(0, 63))
    rng = np.random.default_rng(15)
    img = rng.uniform(0, 6, (61, 47)).astype(np.float32)
    img[3, 4] = np.nan
    ref = cal.apply(img)
    np.testing.assert_allclose(ref, twin_model("sigmoid", TRUE["sigmoid"], img.astype(float), 0, 63), rtol=1e-5)
    for ch in (10, (61, 13)):
        out = cal.apply(georef(img, chunks=ch))
        assert hasattr(out.data, "dask")
        np.testing.assert_array_equal(out.values, ref)


# -- named steps ----------------------------------------------------------------------------


def test_parse_steps():
    steps = C.parse_steps(
        "negatives_to_zero, noise_floor=0.6,cap:percentile=99.99,"
        "intercalibrate:satellite=F16:year=2007:model=elvidge2014,calibration=/tmp/a:b.json"
    )
    assert steps == [
        "negatives_to_zero",
        {"noise_floor": 0.6},
        {"cap": {"percentile": 99.99}},
        {"intercalibrate": {"satellite": "F16", "year": 2007, "model": "elvidge2014"}},
        {"calibration": "/tmp/a:b.json"},
    ]
    with pytest.raises(CatalogError, match="Available steps"):
        C.parse_steps("negatives_to_zero,denoise_everything")


@pytest.mark.slow
def test_apply_steps_viirs_and_record(tmp_path):
    rng = np.random.default_rng(16)
    rad = rng.normal(2, 3, (40, 50)).astype(np.float32)
    cal = C.Calibration("linear", (0.0, 2.0))
    cal.to_json(tmp_path / "c.json")
    da = georef(rad, chunks=16)
    out, rec = C.apply_steps(
        da,
        ["negatives_to_zero", {"noise_floor": 0.6}, {"cap": {"value": 5.0}}, {"calibration": str(tmp_path / "c.json")}],
        sensor="viirs",
    )
    assert hasattr(out.data, "dask")
    ref = rad.copy()
    ref[ref < 0] = 0
    ref[ref < 0.6] = 0
    ref = np.minimum(ref, 5.0) * 2
    np.testing.assert_allclose(out.values, ref, rtol=1e-6)
    json.dumps(rec)
    assert [r["step"] for r in rec] == ["negatives_to_zero", "noise_floor", "cap", "calibration"]
    assert rec[1]["params"] == 0.6 and rec[3]["params"]["params"] == [0.0, 2.0]
    assert all("nightlight_version" in r for r in rec)
    assert json.loads(out.attrs["nightlight_steps"]) == rec


def test_apply_steps_dmsp_and_sensor_mixups():
    dn = georef(np.random.default_rng(17).integers(0, 64, (20, 20)).astype(np.float32), chunks=8)
    out, rec = C.apply_steps(
        dn, [{"intercalibrate": {"satellite": "F16", "year": 2007, "model": "elvidge2014"}}], sensor="dmsp"
    )
    np.testing.assert_allclose(out.values, C.intercalibrate(dn.values, "F16", 2007), rtol=1e-6)
    with pytest.raises(UnitsError, match="sensor='dmsp'"):
        C.apply_steps(dn, ["negatives_to_zero"], sensor="dmsp")
    with pytest.raises(UnitsError, match="sensor='viirs'"):
        C.apply_steps(dn, [{"intercalibrate": {"satellite": "F16", "year": 2007}}], sensor="viirs")
