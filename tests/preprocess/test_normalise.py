"""Brightness correction between years (relative radiometric normalisation on pseudo-invariant pixels).

Planted gains/offsets on synthetic worlds, independent references (scipy's Huber
least squares, rasterio + scipy dilation), dask == NumPy, JSON round trip, the step.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio.features
import scipy.ndimage
import scipy.optimize
import xarray as xr

import nightlight
from nightlight.errors import FitError, GridMismatchError, ParameterError, ProductChangeError
from nightlight.preprocess import Calibration, Normalisation, apply_steps, fit_normalisation, normalise_to, parse_steps
from nightlight.preprocess.invariant import exclusion_mask
from nightlight.preprocess.normalise import HUBER_C, _mad_sigma, irls
from nightlight.synthetic import CHANGE_RANGES, make_world

LEVEL = 5.0  # nW/cm²/sr: the synthetic VIIRS lit threshold


@pytest.fixture(scope="module")
def world():
    """Half the cities shrink (−15…−50 %), half are exactly stable: only noise differs between years there."""
    saved = CHANGE_RANGES["stable"]
    CHANGE_RANGES["stable"] = (0.0, 0.0)  # read when the world is built, not when mosaics are made
    try:
        w = make_world(seed=2, shares=(0.5, 0.5, 0.0))
    finally:
        CHANGE_RANGES["stable"] = saved
    before = w.mosaic(2013)
    cities = nightlight.extract_natural_cities(before, lit_threshold=LEVEL)
    centres = gpd.GeoDataFrame(w.truth[["kind"]], geometry=gpd.points_from_xy(w.truth["lon"], w.truth["lat"]))
    hits = gpd.sjoin(cities, centres.set_crs("EPSG:4326"), predicate="contains")
    shrinking = cities[cities["city_id"].isin(hits.loc[hits["kind"] == "shrinking", "city_id"])]
    return w, before, w.mosaic(2016), shrinking[["city_id", "geometry"]].reset_index(drop=True)


def _planted(after: xr.DataArray, gain: float, offset: float = 0.0) -> xr.DataArray:
    return (after * gain + offset).rio.write_crs("EPSG:4326")


@pytest.mark.slow
def test_planted_gain_and_offset_recovered_with_shrinking_cities_excluded(world):
    _, before, after, shrinking = world
    fit = fit_normalisation(before, _planted(after, 1.2, 0.8), level=LEVEL, exclude=shrinking, model="linear")
    assert fit.gain == pytest.approx(1.2, rel=1e-2)
    # the correction itself is right to 1 % at every lit brightness (the offset trades off with the gain)
    x = np.linspace(LEVEL, 200.0, 100)
    np.testing.assert_allclose(fit.gain * x + fit.offset, 1.2 * x + 0.8, rtol=1e-2)
    assert fit.meta["converged"] and fit.n_pixels > 10_000 and fit.metrics["r2"] > 0.98
    assert fit.meta["n_excluded"] > 0 and fit.meta["model"] == "linear"


def test_planted_gain_recovered_by_the_gain_model(world):
    _, before, after, shrinking = world
    fit = fit_normalisation(before, _planted(after, 1.15), level=LEVEL, exclude=shrinking)
    assert fit.meta["model"] == "gain" and fit.offset == 0.0
    assert fit.gain == pytest.approx(1.15, rel=1e-3)
    # normalised back, the stable cities' pixels match the reference
    assert fit.metrics["bias"] == pytest.approx(0.0, abs=0.05) and fit.metrics["r2"] > 0.98


@pytest.mark.slow
def test_shrinking_cities_not_excluded_bias_the_fit(world):
    _, before, after, shrinking = world
    planted = _planted(after, 1.15)
    excluded = fit_normalisation(before, planted, level=LEVEL, exclude=shrinking)
    ignored = fit_normalisation(before, planted, level=LEVEL)
    err_excluded, err_ignored = abs(excluded.gain / 1.15 - 1), abs(ignored.gain / 1.15 - 1)
    # the shrinking cities' real decline is absorbed into the correction (≈ −5 % here)
    assert ignored.gain < 1.15 and err_ignored > 0.03 and err_ignored > 20 * err_excluded
    lin = fit_normalisation(before, _planted(after, 1.2, 0.8), level=LEVEL, model="linear")
    x = np.linspace(LEVEL, 200.0, 100)
    assert np.max(np.abs(lin.gain * x + lin.offset - (1.2 * x + 0.8)) / (1.2 * x + 0.8)) > 0.03


def test_swapping_the_years_inverts_the_map(world):
    _, before, after, shrinking = world
    planted = _planted(after, 1.15)
    forward = fit_normalisation(before, planted, level=LEVEL, exclude=shrinking)
    backward = fit_normalisation(planted, before, level=LEVEL * 1.15, exclude=shrinking)
    assert forward.gain * backward.gain == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_dask_equals_numpy_whatever_the_chunks(world):
    _, before, after, shrinking = world
    planted = _planted(after, 1.1, 0.3)
    ref = fit_normalisation(before.compute(), planted.compute(), level=LEVEL, exclude=shrinking, model="linear")
    for chunks in ((300, 257), (720, 960), (128, 512)):
        b = before.chunk({"y": chunks[0], "x": chunks[1]})
        a = planted.chunk({"y": chunks[0] // 2 + 1, "x": chunks[1]})  # other chunks than before: rechunked
        fit = fit_normalisation(b, a, level=LEVEL, exclude=shrinking, model="linear")
        assert fit.to_dict() == ref.to_dict(), chunks
    # the exclusion as a mask raster on the grid gives the same fit as the polygons it was made from
    mask = exclusion_mask(shrinking, before.compute(), buffer=0)
    as_mask = fit_normalisation(before, planted, level=LEVEL, exclude=before.copy(data=mask), model="linear")
    assert as_mask.params == ref.params


@pytest.mark.slow
def test_exclusion_mask_matches_rasterio_and_scipy_dilation(world, tmp_path):
    _, before, _, shrinking = world
    t = before.rio.transform()
    full = rasterio.features.rasterize(
        shrinking.geometry, out_shape=before.shape, transform=t, all_touched=True, dtype="uint8"
    ).astype(bool)
    for buffer in (0, 1, 3):
        ref = (
            scipy.ndimage.binary_dilation(full, structure=np.ones((3, 3), bool), iterations=buffer) if buffer else full
        )
        lazy = exclusion_mask(shrinking, before.chunk({"y": 100, "x": 333}), buffer=buffer)
        assert hasattr(lazy, "dask")
        np.testing.assert_array_equal(np.asarray(lazy), ref)
        from_array = exclusion_mask(before.copy(data=full.astype(np.float32)), before.chunk({"y": 97}), buffer=buffer)
        np.testing.assert_array_equal(np.asarray(from_array), ref)
    # a label raster on disk (0 = no city, declared nodata) works the same
    labels = before.copy(data=np.where(full, 7, 0).astype(np.uint8)).rio.write_nodata(0)
    labels.rio.to_raster(tmp_path / "labels.tif")
    np.testing.assert_array_equal(np.asarray(exclusion_mask(str(tmp_path / "labels.tif"), before, buffer=0)), full)


def test_exclusion_mask_of_pixel_traced_polygons_without_rasterisation(monkeypatch):
    """Natural cities touch exactly their own pixels: the mask comes from their pixels, as rasterio's would."""
    from nightlight.io import zones
    from nightlight.testing import georeferenced

    rng = np.random.default_rng(4)
    b = (rng.random((30, 40)) * 20).astype(np.float32)
    b[:6, :8] = 50  # a city on the grid's corner
    b[10:20, 10:22] = 50
    b[13:16, 14:17] = 1  # with a hole
    before = georeferenced(b)
    cities = nightlight.extract_natural_cities(before, lit_threshold=30, min_area_km2=0.01)
    assert len(cities) == 2 and zones.zone_pixels(cities.geometry.to_numpy(), nightlight.Grid.of(before)) is not None
    full = rasterio.features.rasterize(
        cities.geometry, out_shape=b.shape, transform=before.rio.transform(), all_touched=True, dtype="uint8"
    ).astype(bool)
    monkeypatch.setattr(rasterio.features, "rasterize", None)  # the pixel-traced path rasterises nothing
    for buffer in (0, 2):
        ref = scipy.ndimage.binary_dilation(full, np.ones((3, 3), bool), iterations=buffer) if buffer else full
        got = exclusion_mask(cities, before.chunk({"y": 7, "x": 9}), buffer=buffer)
        np.testing.assert_array_equal(np.asarray(got), ref)


def test_irls_matches_scipy_huber_least_squares():
    rng = np.random.default_rng(3)
    x = rng.lognormal(np.log(20), 0.9, 4000)
    y = (1.07 * x + 0.6) * np.exp(rng.standard_t(3, x.size) * 0.05)  # heavy-tailed log noise
    a0, b0 = 1.0, 0.0
    scale = _mad_sigma(np.log(y) - np.log(a0 * x + b0))[1]  # the threshold irls fixes at its start values
    a, b = irls(x, y, "linear", a0, b0, tol=1e-13)
    ref = scipy.optimize.least_squares(
        lambda p: np.log(y) - np.log(p[0] * x + p[1]),
        x0=(a0, b0),
        loss="huber",
        f_scale=HUBER_C * scale,
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
    )
    np.testing.assert_allclose((a, b), ref.x, rtol=1e-7, atol=1e-9)
    g, _ = irls(x, y, "gain", 1.0, tol=1e-13)
    lr = np.log(y / x)
    s = HUBER_C * _mad_sigma(lr)[1]
    huber = lambda m: np.sum(np.where(np.abs(lr - m) <= s, 0.5 * (lr - m) ** 2, s * np.abs(lr - m) - 0.5 * s * s))  # noqa: E731
    m_ref = scipy.optimize.minimize_scalar(huber, bracket=(-1, 1), tol=1e-14).x
    assert np.log(g) == pytest.approx(m_ref, abs=1e-7)


def test_a_few_bright_pixels_do_not_dominate():
    rng = np.random.default_rng(5)
    x = rng.lognormal(np.log(15), 1.0, (300, 300))
    y = 1.1 * x * np.exp(rng.normal(0, 0.05, x.shape))
    bright = x > np.quantile(x, 0.99)
    y[bright] *= 1.06  # 1 % of pixels, the brightest, 6 % off: inside the stability band
    fit = fit_normalisation(x, y, level=2.0)
    ols = float(np.sum(x * y) / np.sum(x * x))  # least squares through the origin, in radiance
    assert abs(fit.gain / 1.1 - 1) < 2e-3
    assert abs(ols / 1.1 - 1) > 1e-2  # the bright pixels pull a least-squares line


@pytest.mark.slow
def test_integer_data_are_fitted_through_their_bins():
    # floor-quantised values near the level (DN, 8-bit copies): the level on the later year
    # moves in whole units with the gain unless the bin is dithered
    rng = np.random.default_rng(0)
    z = rng.lognormal(np.log(4), 0.8, (400, 400))
    x = np.floor(z + rng.normal(0, 0.4, z.shape))
    y = np.floor(1.1 * z + rng.normal(0, 0.44, z.shape))
    x[x < 1], y[y < 1] = np.nan, np.nan  # 0 = dark = nodata, as in the 8-bit China copies
    for level in (2, 3, 5, 8):
        fit = fit_normalisation(x, y, level=level)
        assert fit.meta["integer_valued"]
        assert fit.gain == pytest.approx(1.1, rel=1e-2), level


@pytest.mark.slow
def test_apply_is_lazy_and_the_inverse_map(world):
    _, before, after, shrinking = world
    planted = _planted(after, 1.2, 0.8)
    corrected, fit = normalise_to(planted, before, level=LEVEL, exclude=shrinking, model="linear")
    assert isinstance(fit, Normalisation) and hasattr(corrected.data, "dask")
    assert corrected.chunks == planted.chunks and corrected.rio.crs == planted.rio.crs
    block = planted.isel(y=slice(0, 50), x=slice(0, 60)).values.astype(np.float64)
    got = corrected.isel(y=slice(0, 50), x=slice(0, 60)).values
    np.testing.assert_allclose(got, (block - fit.offset) / fit.gain, rtol=1e-6)
    nan = planted.where(planted.x > planted.x[10])
    assert np.isnan(fit.apply(nan).isel(x=slice(0, 10)).values).all()


@pytest.mark.slow
def test_json_round_trip(world, tmp_path):
    _, before, after, shrinking = world
    fit = fit_normalisation(before, _planted(after, 1.2, 0.8), level=LEVEL, exclude=shrinking, model="linear")
    text = fit.to_json(tmp_path / "norm.json")
    back = Normalisation.from_json(tmp_path / "norm.json")
    assert back == fit and back.gain == fit.gain and back.offset == fit.offset and back.n_pixels == fit.n_pixels
    d = json.loads(text)
    assert d["meta"]["gain"] == fit.gain and d["n_train"] == fit.n_pixels and "r2" in d["metrics"]
    # a saved normalisation is a Calibration: the existing calibration=PATH step re-applies it
    plain = Calibration.from_json(text)
    v = np.array([[5.0, 20.0, np.nan]], dtype=np.float32)
    np.testing.assert_allclose(plain.apply(v), fit.apply(v), rtol=1e-12)
    stepped, _ = apply_steps(after, [{"calibration": str(tmp_path / "norm.json")}])
    np.testing.assert_allclose(stepped.values, fit.apply(after).values, rtol=1e-6)


@pytest.mark.slow
def test_step_normalises_to_the_reference_and_passes_the_reference(world):
    _, before, after, shrinking = world
    planted = _planted(after, 1.15)
    params = {"reference": before, "level": LEVEL, "exclude": shrinking}
    out, record = apply_steps(planted, [{"normalise": params}])
    direct, fit = normalise_to(planted, before, level=LEVEL, exclude=shrinking)
    np.testing.assert_allclose(out.values, direct.values)
    step = record[0]
    assert step["step"] == "normalise" and not step["params"]["identity"]
    assert step["params"]["fit"]["meta"]["gain"] == fit.gain
    assert step["params"]["exclude"].startswith("GeoDataFrame")
    json.dumps(record)  # recordable in the run metadata
    same, rec = apply_steps(before, [{"normalise": params}])
    assert same is before and rec[0]["params"]["identity"]
    assert parse_steps("normalise:reference=/d/2013.tif:level=3:exclude=/d/cities.gpkg:buffer=2") == [
        {"normalise": {"reference": "/d/2013.tif", "level": 3, "exclude": "/d/cities.gpkg", "buffer": 2}}
    ]
    with pytest.raises(ParameterError, match="needs `reference`"):
        apply_steps(planted, [{"normalise": {"reference": before}}])
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['levle'\]"):
        apply_steps(planted, [{"normalise": {"reference": before, "level": 5, "levle": 5}}])


@pytest.mark.slow
def test_detect_shrinking_with_the_step_undoes_a_product_change(world, tmp_path):
    w, before, after, shrinking = world
    paths = {}
    for year, da in ((2013, before), (2016, _planted(after, 0.8))):  # a 20 % darker product in 2016
        paths[year] = tmp_path / f"viirs_{year}.tif"
        da.rio.to_raster(paths[year])
    shrinking.to_file(tmp_path / "shrinking.gpkg")
    cities = nightlight.extract_natural_cities(before, lit_threshold=LEVEL)[["city_id", "geometry"]]
    with pytest.raises(ProductChangeError):
        nightlight.detect_shrinking(cities, paths[2013], paths[2016], patterns=False)
    step = {"normalise": {"reference": str(paths[2013]), "level": LEVEL, "exclude": str(tmp_path / "shrinking.gpkg")}}
    r = nightlight.detect_shrinking(cities, paths[2013], paths[2016], preprocess=[step], patterns=False)
    expected = r["city_id"].isin(shrinking["city_id"])
    ok = r["status"] == "ok"
    assert (r.loc[ok, "shrinking"] == expected[ok]).mean() > 0.97
    pre = r.attrs["nightlight"]["preprocess"]
    assert pre[0][0]["params"]["identity"] and pre[1][0]["params"]["fit"]["meta"]["gain"] == pytest.approx(
        0.8, rel=1e-2
    )


def test_clear_errors(world):
    _, before, after, shrinking = world
    shifted = after.rio.write_transform(after.rio.transform() * nightlight.grid.Affine.translation(0.3, 0))
    shifted = shifted.assign_coords(x=after.x + 0.3 * float(after.x[1] - after.x[0]))
    with pytest.raises(GridMismatchError, match="align_to"):
        fit_normalisation(before, shifted, level=LEVEL)
    for bad in ({"level": 0}, {"level": -1}, {"level": LEVEL, "buffer": 1.5}, {"level": LEVEL, "model": "quadratic"}):
        with pytest.raises(ParameterError):
            fit_normalisation(before, after, **bad)
    with pytest.raises(FitError, match="stable lit pixels"):
        fit_normalisation(before, after, level=1e4)
    with pytest.raises(GridMismatchError, match="mask shape"):
        fit_normalisation(before, after, level=LEVEL, exclude=np.zeros((3, 3), bool))
    rng = np.random.default_rng(1)
    x = rng.uniform(5, 6, (100, 100))  # a narrow range of brightness cannot fix an offset
    with pytest.warns(UserWarning, match="too little brightness to fix an offset"):
        fit_normalisation(x, x * np.exp(rng.normal(0, 0.05, x.shape)), level=5, model="linear")


def test_a_reference_within_the_snap_tolerance_is_accepted():
    """The China VIIRS-like 2013 grid sits 0.017 px off 2016's: the same pixels for the fit (GRID_TOLERANCE_PX)."""
    import numpy as np

    from nightlight.preprocess.normalise import fit_normalisation
    from nightlight.testing import georeferenced

    rng = np.random.default_rng(4)
    x = rng.uniform(5, 50, (64, 64))
    before = georeferenced(x, res=0.01, origin=(10.0, 50.0))
    after = georeferenced(1.1 * x, res=0.01, origin=(10.0 + 0.017 * 0.01, 50.0))
    fit = fit_normalisation(before, after, level=1.0)
    assert fit.gain == pytest.approx(1.1, rel=1e-3)


def test_candidates_equal_the_numpy_selection():
    """The sample's pixels (numba, one sweep) are NumPy's ``x >= level`` (in float32 for float32 blocks),
    finite in both years, outside the mask; a level between float32 neighbours is where a float64 compare differs."""
    from nightlight.preprocess.invariant import candidates

    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, (300, 400)).astype(np.float32)
    y = rng.uniform(0, 10, x.shape).astype(np.float32)
    level = float(np.float32(5.3)) + 1e-8  # rounds down to float32(5.3): NumPy lights the pixels at 5.3
    x[0, :50] = np.float32(5.3)
    x[1, :5], y[2, :5], x[3, :5], y[4, :5] = np.nan, np.nan, np.inf, -np.inf
    mask = rng.random(x.shape) < 0.2
    got = candidates(x, y, mask, level=level, sample=10**6, seed=1)
    lit = x >= level
    keep = lit & np.isfinite(x) & np.isfinite(y) & ~mask
    order = np.argsort(got["index"])
    assert np.array_equal(got["index"][order], np.flatnonzero(keep))
    assert np.array_equal(got["before"][order], x[keep].astype(np.float64))
    assert np.array_equal(got["after"][order], y[keep].astype(np.float64))
    assert got["n_candidates"] == keep.sum()
    assert got["n_excluded"] == (lit & np.isfinite(x) & np.isfinite(y) & mask).sum()
