"""Tests of the synthetic world: kernels against NumPy/SciPy twins, then the public API.

The world must be (1) deterministic from its seed, (2) independent of chunking,
(3) honest: the truth table must be what a correct detector measures. (3) is
checked twice: exactly on the noiseless mosaics, and end to end with a small
scipy-based natural-city detector on the noisy mosaics (the lead's demo).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage, special, stats

import nightlight
from nightlight.errors import CatalogError, GridMismatchError, NightlightError
from nightlight.grid import Grid
from nightlight.kernels import synth as R
from nightlight.kernels import synth_city as K
from nightlight.kernels import synth_noise as N
from nightlight.synthetic import LIT_THRESHOLD, World, make_world

SMALL = (12.0, 45.0, 13.5, 46.0)  # 360 x 240 px at 15″, a handful of cities
MASK64 = (1 << 64) - 1


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def viirs() -> World:
    return make_world(seed=0)


@pytest.fixture(scope="module")
def dmsp() -> World:
    return make_world(seed=0, sensor="dmsp")


@pytest.fixture(scope="module")
def series() -> World:
    return make_world(seed=4, years=range(2013, 2020))


@pytest.fixture(scope="module")
def dmsp_series() -> World:
    return make_world(seed=4, sensor="dmsp", years=[2000, 2004, 2008, 2012])


# ------------------------------------------------------------ NumPy twins
def mix64_py(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def hash_uniform32_py(key: int, grow: int, gcol: int) -> float:
    """The kernel's counter-based uniform, in plain Python integers."""
    rk = mix64_py((key + grow * 0x94D049BB133111EB) & MASK64)
    z = mix64_py((rk + gcol * 0x9E3779B97F4A7C15) & MASK64)
    return ((z >> 32) + 0.5) / 2**32


def profile_np(rho, core, inv_s, edge_w, rho_max):
    t = np.clip((rho - (1.0 - edge_w)) / (2.0 * edge_w), 0.0, 1.0)
    g = core * np.exp(-((rho * inv_s) ** 2)) + (1.0 - core) * (1.0 - t * t * (3.0 - 2.0 * t))
    return np.where(rho < rho_max, g, 0.0)


def city_light_np(world: World, year: int) -> np.ndarray:
    """Noiseless city light (no background) over the whole world, all cities, in NumPy."""
    res = world.grid.res[0]
    t = world.grid.transform
    h, w = world.grid.shape
    lat_all = t.f - (np.arange(h) + 0.5) * res
    lon_all = t.c + (np.arange(w) + 0.5) * res
    out = np.zeros((h, w))
    c = world._cities
    f = world._factors[:, world.years.index(year)]
    for k in range(c.shape[0]):
        # only the city's neighbourhood (its support + 2 px): the profile is 0 beyond
        r_lat = c[k, K.C_SUPPORT_KM] / K.KM_PER_DEG_LAT + 2 * res
        r_lon = c[k, K.C_SUPPORT_KM] / (K.KM_PER_DEG_LON * np.cos(np.radians(c[k, K.C_LAT]))) + 2 * res
        rows = np.flatnonzero(np.abs(lat_all - c[k, K.C_LAT]) <= r_lat)
        cols = np.flatnonzero(np.abs(lon_all - c[k, K.C_LON]) <= r_lon)
        lon2, lat2 = np.meshgrid(lon_all[cols], lat_all[rows])
        dx = (lon2 - c[k, K.C_LON]) * K.KM_PER_DEG_LON * np.cos(np.radians(c[k, K.C_LAT]))
        dy = (lat2 - c[k, K.C_LAT]) * K.KM_PER_DEG_LAT
        u = (dx * c[k, K.C_COS] + dy * c[k, K.C_SIN]) * c[k, K.C_INV_A]
        v = (dy * c[k, K.C_COS] - dx * c[k, K.C_SIN]) * c[k, K.C_INV_B]
        rho = np.hypot(u, v)
        g = profile_np(rho, c[k, K.C_CORE], c[k, K.C_INV_S], c[k, K.C_EDGE_W], c[k, K.C_RHO_MAX])
        out[np.ix_(rows, cols)] += c[k, K.C_AMP] * f[k] * g
    return out


def pixel_area_np(world: World) -> np.ndarray:
    """Ground area (km²) of each row's pixels, from the spherical zone formula."""
    t = world.grid.transform
    edges = np.radians(t.f + np.arange(world.grid.shape[0] + 1) * t.e)
    return K.R_AUTHALIC_KM**2 * np.radians(t.a) * (np.sin(edges[:-1]) - np.sin(edges[1:]))


def centroid_labels(world: World, lab: np.ndarray) -> np.ndarray:
    t = world.grid.transform
    tr = world.truth
    col = np.floor((tr.lon.to_numpy() - t.c) / t.a).astype(int)
    row = np.floor((tr.lat.to_numpy() - t.f) / t.e).astype(int)
    return lab[row, col]


# ------------------------------------------------------------------ kernels
def test_normal_ppf_matches_scipy():
    p = np.concatenate([np.linspace(1e-9, 1 - 1e-9, 2001), [1e-6, 0.02, 0.0243, 0.0244, 0.5, 0.98, 1 - 1e-6]])
    ours = np.array([N.normal_ppf(x) for x in p])
    np.testing.assert_allclose(ours, special.ndtri(p), rtol=2e-8, atol=2e-8)


def rendered_normals(key: np.uint64, grow0: int, gcol0: int, h: int, w: int) -> np.ndarray:
    """The renderer's per-pixel normals: a VIIRS chunk without cities, background 0 and σ = 1 (float32)."""
    no_cities = np.zeros((0, K.N_CITY_COLS))
    return R.render_chunk(
        grow0, gcol0, h, w, 1 / 240, no_cities, K.VIIRS, key, True, 0.0, 1.0, 0.0, 0.0, 1.0, N.normal_table()
    )


@pytest.mark.slow
def test_pixel_normals_match_python_twin():
    key = int(np.uint64(N.stream_key(11, 2013, 1)))
    z = rendered_normals(np.uint64(key), 1000, 5000, 7, 9)
    ref = np.array([[special.ndtri(hash_uniform32_py(key, 1000 + i, 5000 + j)) for j in range(9)] for i in range(7)])
    # table interpolation: < 2e-4 sigma by design
    np.testing.assert_allclose(z, ref, atol=2e-4)


def test_pixel_normals_are_standard_normal():
    z = rendered_normals(np.uint64(N.stream_key(5, 2016, 1)), 0, 0, 300, 400).astype(np.float64).ravel()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # neighbours are independent (no structure along rows or columns)
    zz = z.reshape(300, 400)
    assert abs(np.corrcoef(zz[:, 1:].ravel(), zz[:, :-1].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(zz[1:].ravel(), zz[:-1].ravel())[0, 1]) < 0.01


def test_dmsp_response_twin():
    x = np.array([-1.0, 0.0, 0.5, 3.0, 50.0, 89.0, 1e4])
    ours = np.array([K.dmsp_response(v, 14.0, 1.0) for v in x])
    np.testing.assert_allclose(ours, np.clip(14.0 * np.log1p(np.maximum(x, 0) / 1.0), 0, 63))


@pytest.mark.slow
@pytest.mark.parametrize("world_name", ["viirs", "dmsp"])
def test_render_noiseless_matches_numpy_twin(world_name, request):
    w = request.getfixturevalue(world_name)
    for year in w.years:
        light = city_light_np(w, year)
        got = w.mosaic(year, noise=False).values
        if w.sensor == "viirs":
            ref = 0.2 + light
        else:
            ref = np.clip(14.0 * np.log1p(light), 0, 63)
        np.testing.assert_allclose(got, ref, rtol=2e-6, atol=2e-6)


def test_place_discs_no_overlap_inside_bounds():
    r = np.sort(1.5 * np.random.default_rng(1).pareto(2.0, 300) + 2.0)[::-1].copy()
    lon, lat, ok = K.place_discs(r, 10.0, 44.0, 14.0, 47.0, np.uint64(N.stream_key(1, 0, 7)), 400)
    assert ok.sum() > 250
    lon, lat, r = lon[ok], lat[ok], r[ok]
    dx = (lon[:, None] - lon[None]) * K.KM_PER_DEG_LON * np.cos(np.radians(0.5 * (lat[:, None] + lat[None])))
    dy = (lat[:, None] - lat[None]) * K.KM_PER_DEG_LAT
    d = np.hypot(dx, dy) + np.eye(lon.size) * 1e9
    assert (d >= r[:, None] + r[None]).all()
    assert (lat - r / K.KM_PER_DEG_LAT >= 44.0).all() and (lat + r / K.KM_PER_DEG_LAT <= 47.0).all()
    dlon = r / (K.KM_PER_DEG_LON * np.cos(np.radians(lat)))
    assert (lon - dlon >= 10.0 - 1e-9).all() and (lon + dlon <= 14.0 + 1e-9).all()


def test_synth_kernels_release_the_gil():
    """Every kernel of the synthetic world is compiled nogil: dask's threads render chunks in parallel."""
    import importlib

    from numba.core.dispatcher import Dispatcher

    found, held = [], []
    for name in ("synth", "synth_city", "synth_noise", "synth_truth"):
        mod = importlib.import_module(f"nightlight.kernels.{name}")
        for attr, f in vars(mod).items():
            if isinstance(f, Dispatcher) and f.py_func.__module__ == mod.__name__:
                found.append(f"{name}.{attr}")
                if not f.targetoptions.get("nogil"):
                    held.append(f"{name}.{attr}")
    assert len(found) >= 20, found  # the kernels are still found (the check itself works)
    assert not held, f"compile these with @njit(nogil=True): {held}"


# ------------------------------------------------------- API and georeferencing
def test_mosaic_is_lazy_and_georeferenced(viirs):
    m = viirs.mosaic(2013)
    assert m.dims == ("y", "x") and m.dtype == np.float32 and m.chunks is not None
    assert m.shape == (720, 960) and m.name == "viirs_2013"
    assert m.rio.crs.to_epsg() == 4326
    assert Grid.of(m).same_as(viirs.grid)
    assert viirs.grid.bounds == pytest.approx((10.0, 44.0, 14.0, 47.0))
    assert viirs.grid.res == pytest.approx((1 / 240, 1 / 240))
    assert float(m.x[0]) == pytest.approx(10.0 + 0.5 / 240) and float(m.y[0]) == pytest.approx(47.0 - 0.5 / 240)
    assert m.attrs["units"] == "nW/cm2/sr" and m.attrs["year"] == 2013 and m.attrs["seed"] == 0
    nightlight.require_same_grid(m, viirs.mosaic(2016))
    d = make_world(seed=0, sensor="dmsp", n_cities=3).mosaic(2016)
    assert d.attrs["units"] == "DN" and d.rio.resolution() == pytest.approx((1 / 120, -1 / 120))


def test_lazy_access_through_package():
    assert nightlight.synthetic.make_world is make_world


def test_determinism_from_seed():
    a, b, c = make_world(seed=7, bounds=SMALL), make_world(seed=7, bounds=SMALL), make_world(seed=8, bounds=SMALL)
    assert a.truth.equals(b.truth)
    np.testing.assert_array_equal(a.mosaic(2016).values, b.mosaic(2016).values)
    assert not np.array_equal(a.mosaic(2016).values, c.mosaic(2016).values)
    # years differ in noise (independent streams), not only in the cities
    e = make_world(seed=7, bounds=SMALL, n_cities=0, n_flares=0)
    assert not np.array_equal(e.mosaic(2013).values, e.mosaic(2016).values)


@pytest.mark.slow
@pytest.mark.parametrize("sensor", ["viirs", "dmsp"])
def test_chunk_invariance(sensor):
    w = make_world(seed=1, sensor=sensor)
    ref = w.mosaic(2016, chunks=2048).values
    for ch in (64, 100, (37, 513)):
        np.testing.assert_array_equal(w.mosaic(2016, chunks=ch).values, ref)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:make_world. only")  # a big city may leave no room for the 4th
@settings(max_examples=20)
@given(
    ch_y=st.integers(5, 150),
    ch_x=st.integers(5, 300),
    seed=st.integers(0, 2**63 - 1),
    sensor=st.sampled_from(["viirs", "dmsp"]),
)
def test_chunk_invariance_property(ch_y, ch_x, seed, sensor):
    w = make_world(seed=seed, sensor=sensor, bounds=SMALL, n_cities=4, n_flares=1)
    whole = w.mosaic(2016, chunks=(1000, 1000)).values
    np.testing.assert_array_equal(w.mosaic(2016, chunks=(ch_y, ch_x)).values, whole)


def test_noise_depends_on_global_pixel_only():
    # two cityless worlds with overlapping bounds agree on the overlap, pixel for pixel
    a = make_world(seed=3, bounds=(12.0, 45.0, 13.0, 45.5), n_cities=0, n_flares=0).mosaic(2013).values
    b = make_world(seed=3, bounds=(12.5, 45.25, 13.5, 46.0), n_cities=0, n_flares=0).mosaic(2013).values
    np.testing.assert_array_equal(a[:60, 120:], b[-60:, :120])


# ------------------------------------------------------------ sensor characters
def test_viirs_values(viirs):
    v = viirs.mosaic(2013).values
    tr = viirs.truth
    assert (v < 0).mean() > 0.1 and v.min() > -3.0  # small negatives from the noise floor
    bg = v[v < 1.5]
    assert abs(np.median(bg) - 0.2) < 0.02 and 0.25 < bg.std() < 0.35
    flares = tr[tr.is_flare]
    assert 2 <= len(flares) <= 4 and (~flares.expected_natural_city).all()
    t = viirs.grid.transform
    for lon, lat, peak in flares[["lon", "lat", "peak"]].itertuples(index=False):
        r, c = int((lat - t.f) / t.e), int((lon - t.c) / t.a)
        assert v[r - 2 : r + 3, c - 2 : c + 3].max() > 0.5 * peak > 50
    # long-tailed cores: the brightest city is many times the median city peak
    cities = tr[~tr.is_flare]
    assert cities.peak.max() > 5 * cities.peak.median() and cities.peak.mean() > cities.peak.median()


def test_dmsp_values(dmsp):
    d = dmsp.mosaic(2013).values
    assert np.array_equal(d, np.round(d)) and d.min() == 0 and d.max() == 63
    assert (d == 63).sum() > 50 and (d == 0).mean() > 0.5
    # blooming: the same city is lit over a larger area in DMSP than in VIIRS
    v = make_world(seed=0).truth
    both = (dmsp.truth.lit_area_km2 > 0) & (v.lit_area_km2 > 0) & ~v.is_flare
    assert (dmsp.truth.lit_area_km2[both] > v.lit_area_km2[both]).mean() > 0.9


# --------------------------------------------------------------- truth table
def test_truth_columns_and_kinds(viirs):
    tr = viirs.truth
    for col in (
        "city_id",
        "lon",
        "lat",
        "radius_km",
        "peak",
        "true_change",
        "kind",
        "expected_natural_city",
        "lit_area_km2",
        "factor_2013",
        "factor_2016",
        "change_2016",
    ):
        assert col in tr.columns
    assert tr.city_id.is_unique and 100 <= len(tr) <= 200
    assert set(tr.kind.astype(str)) == {"shrinking", "stable", "growing"}
    g = tr.groupby(tr.kind.astype(str)).true_change
    assert g.max()["shrinking"] <= -0.15 and g.min()["shrinking"] >= -0.5
    assert g.min()["stable"] >= -0.04 and g.max()["stable"] <= 0.04
    assert g.min()["growing"] >= 0.05
    np.testing.assert_allclose(tr.true_change, tr.planted_change, atol=1e-9)
    np.testing.assert_allclose(tr.change_2016, tr.true_change)
    assert (tr.factor_2013 == 1).all() and (tr.change_2013 == 0).all()
    assert (tr.expected_natural_city == (tr.lit_area_km2 > 5)).all()
    assert 0 < (~tr.expected_natural_city).sum() < len(tr) // 2
    r = tr.radius_km[~tr.is_flare]
    # heavy tail: many small, few large
    assert r.min() >= 1.5 and r.max() <= 25 and r.median() < 3 and (r > 10).sum() >= 1
    assert r.mean() > r.median()


@pytest.mark.slow
@pytest.mark.parametrize("world_name", ["viirs", "dmsp", "series", "dmsp_series"])
def test_truth_matches_noiseless_model(world_name, request):
    """The truth's lit extent, area, base light and per-year changes, from the noiseless mosaics."""
    w = request.getfixturevalue(world_name)
    base = w.mosaic(w.years[0], noise=False).values.astype(np.float64)
    lab, _ = ndimage.label(base >= w.lit_threshold, structure=np.ones((3, 3)))
    tr = w.truth
    lab_of = centroid_labels(w, lab)
    has = lab_of > 0
    assert (has == (tr.lit_px > 0)).all()
    ids = lab_of[has]
    area = ndimage.sum(np.broadcast_to(pixel_area_np(w)[:, None], base.shape), lab, ids)
    np.testing.assert_allclose(area, tr.lit_area_km2[has], rtol=1e-9)
    np.testing.assert_array_equal(ndimage.sum(np.ones_like(base), lab, ids), tr.lit_px[has])
    s0 = ndimage.sum(base, lab, ids)
    np.testing.assert_allclose(s0, tr.base_light[has], rtol=1e-6)
    for y in w.years[1:]:
        sy = ndimage.sum(w.mosaic(y, noise=False).values.astype(np.float64), lab, ids)
        np.testing.assert_allclose(sy / s0 - 1, tr[f"change_{y}"][has], atol=1e-6)


def test_same_seed_same_cities_for_both_sensors(viirs, dmsp):
    cols = ["city_id", "lon", "lat", "radius_km", "peak", "is_flare", "planted_change"]
    assert viirs.truth[cols].equals(dmsp.truth[cols])


def test_dmsp_saturation_reflected_in_truth(dmsp):
    tr = dmsp.truth
    # planted brightness factor and DN change differ through the saturating response,
    # yet the truth is on the DN side: shrinking <= -15 % in DN, like VIIRS
    shrink = tr[tr.kind == "shrinking"]
    assert (shrink.true_change <= -0.15 + 1e-9).all()
    assert ((1 - shrink.factor_2016) > -shrink.true_change + 0.01).any()


def test_series_trajectories(series):
    tr = series.truth
    ch = tr[[f"change_{y}" for y in range(2013, 2020)]].to_numpy()
    assert (ch[:, 0] == 0).all()
    moving = tr.kind.astype(str).isin(["shrinking", "growing"]).to_numpy()
    rho = np.array([stats.spearmanr(np.arange(7), row).statistic for row in ch[moving]])
    sign = np.where(tr.kind[moving] == "shrinking", -1, 1)
    assert (rho * sign > 0.8).mean() > 0.95  # monotone-ish


def test_near_boundary_cities_on_request():
    w = make_world(seed=2, n_near_boundary=10)
    near = w.truth[(w.truth.true_change > -0.14) & (w.truth.true_change < -0.06)]
    assert len(near) == 10
    assert (near.kind.astype(str) == np.where(near.true_change <= -0.10, "shrinking", "stable")).all()


# -------------------------------------------------------- the lead's demo
def detect(world: World) -> tuple[float, float]:
    """Natural cities (8-connected, > 5 km²) from the noisy BEFORE mosaic, shrinking at ≤ −10 %."""
    b = world.mosaic(world.years[0]).values.astype(np.float64)
    a = world.mosaic(world.years[-1]).values.astype(np.float64)
    lab, n = ndimage.label(b >= LIT_THRESHOLD[world.sensor], structure=np.ones((3, 3)))
    idx = np.arange(1, n + 1)
    area = ndimage.sum(np.broadcast_to(pixel_area_np(world)[:, None], b.shape), lab, idx)
    keep = idx[area > 5.0]
    shrinking_found = keep[ndimage.sum(a, lab, keep) / ndimage.sum(b, lab, keep) - 1 <= -0.10]
    tr = world.truth
    lab_of = centroid_labels(world, lab)
    truth_shrinking = set(lab_of[(tr.kind == "shrinking").to_numpy() & tr.expected_natural_city.to_numpy()])
    found = set(shrinking_found)
    tp = len(found & truth_shrinking)
    # every kept patch is one planted city: the truth is unambiguous
    assert set(keep) == set(lab_of[tr.expected_natural_city.to_numpy()])
    return tp / max(len(found), 1), tp / max(len(truth_shrinking), 1)


@pytest.mark.slow
@pytest.mark.parametrize("sensor", ["viirs", "dmsp"])
@pytest.mark.parametrize("seed", [0, 1])
def test_demo_precision_recall(sensor, seed):
    precision, recall = detect(make_world(seed=seed, sensor=sensor))
    assert precision >= 0.95 and recall >= 0.95


# ---------------------------------------------------------- global and files
@pytest.mark.slow
def test_global_world_is_lazy():
    make_world(seed=0, bounds=SMALL)  # warm numba
    tracemalloc.start()
    w = make_world(seed=0, bounds=(-180, -65, 180, 75))
    m = w.mosaic(2013)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert m.shape == (33600, 86400) and len(w.truth) == 20_000 + 500
    assert peak < 64e6  # the full float32 mosaic would be 11.6 GB
    block = m.data.blocks[6, 13].compute()
    assert block.shape == (2048, 2048) and block.dtype == np.float32 and np.isfinite(block).all()
    # a chunk at the far east edge (partial width) works too
    assert m.data.blocks[-1, -1].compute().shape == (33600 - 16 * 2048, 86400 - 42 * 2048)


@pytest.mark.slow
def test_write_geotiffs_roundtrip(tmp_path):
    for sensor, dtype in (("viirs", "float32"), ("dmsp", "uint8")):
        w = make_world(seed=5, sensor=sensor, bounds=(12.0, 45.0, 14.0, 46.0), chunks=100)
        paths = w.write_geotiffs(tmp_path / sensor)
        assert set(paths) == set(w.years)
        with rasterio.open(paths[2016]) as src:
            assert src.dtypes[0] == dtype and src.crs.to_epsg() == 4326
            assert src.transform.almost_equals(w.grid.transform)
            assert src.nodata is None and src.tags()["units"] == w.mosaic(2016).attrs["units"]  # every value is data
            data = src.read(1)
        np.testing.assert_array_equal(data.astype(np.float32), w.mosaic(2016).values)
        opened = nightlight.open_mosaic(paths[2013])
        nightlight.require_same_grid(opened, w.mosaic(2013))


# ---------------------------------------------------------------- errors
def test_errors_name_argument_and_fix():
    with pytest.raises(GridMismatchError, match=r"30″.*Fix"):
        make_world(sensor="dmsp", bounds=(10.0, 44.0, 14.0, 47.0 + 1 / 240))
    with pytest.raises(GridMismatchError, match="bounds"):
        make_world(bounds=(14.0, 44.0, 10.0, 47.0))
    with pytest.raises(CatalogError, match="viirs"):
        make_world(sensor="landsat")
    with pytest.raises(NightlightError, match="years"):
        make_world(years=[2013])
    with pytest.raises(NightlightError, match="seed"):
        make_world(seed=-1)
    w = make_world(seed=0, bounds=SMALL, n_cities=1)
    with pytest.raises(CatalogError, match="2013, 2016"):
        w.mosaic(2014)
    with pytest.warns(UserWarning, match="fit"):
        make_world(seed=0, bounds=SMALL, n_cities=1000)
    assert math.isfinite(float(w.truth.true_change.iloc[0]))
