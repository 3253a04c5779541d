"""Natural-city extraction against scipy.ndimage.label on the whole array, for any chunking."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import nightlight
from nightlight.area import geographic_row_areas_km2
from nightlight.cities import city_label_raster, extract_natural_cities, headtail_breaks, label_components
from nightlight.errors import GridMismatchError, InvalidRasterError, MissingCRSError, UnsupportedCRSError
from nightlight.grid import Grid
from nightlight.kernels.label import label_block
from nightlight.testing import assert_chunk_invariant, chunkings, georeferenced, masks, mosaics

RES = 1 / 240  # 15 arc-seconds


def geo(a: np.ndarray, *, lat0: float = 50.0, lon0: float = 10.0, res: float = RES, chunks=None) -> xr.DataArray:
    return georeferenced(a, origin=(lon0, lat0), res=res, chunks=chunks)


def scipy_reference(mask: np.ndarray, connectivity: int, values: np.ndarray, row_area: np.ndarray):
    structure = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
    lab, n = ndimage.label(mask, structure=structure)
    idx = np.arange(1, n + 1)
    counts = ndimage.sum(np.ones(mask.shape), lab, idx)
    area = ndimage.sum(np.broadcast_to(row_area[:, None], mask.shape), lab, idx)
    sums = ndimage.sum(values, lab, idx)
    return lab, n, counts, area, sums


# At most 12 blocks a side keeps an example fast (1-pixel chunks on small arrays);
# the fixed tests below cover 1×1 chunks on larger arrays.
@pytest.mark.slow
@given(mask=masks(40), data=st.data(), connectivity=st.sampled_from([4, 8]))
def test_chunked_labels_equal_scipy_for_any_chunking(mask, data, connectivity):
    h, w = mask.shape
    ch = data.draw(chunkings((h, w)), label="chunks")
    values = np.arange(h * w, dtype=np.float64).reshape(h, w) % 7 + 0.25
    lit = geo(mask.astype(np.float32), chunks=ch)
    comps = label_components(lit, threshold=0.5, connectivity=connectivity, values={"v": geo(values, chunks=ch)})
    row_area = geographic_row_areas_km2(Grid.of(lit))
    lab, n, counts, area, sums = scipy_reference(mask, connectivity, values, row_area)
    t = comps.table
    assert len(t) == n
    # scipy numbers components in row-major order of their first pixel: so do we.
    np.testing.assert_array_equal(t["n_pixels"].to_numpy(), counts)
    np.testing.assert_allclose(t["area_km2"].to_numpy(), area, rtol=1e-12)
    np.testing.assert_allclose(t["light_v"].to_numpy(), sums, rtol=1e-12)
    firsts = ndimage.minimum(np.arange(h * w).reshape(h, w), lab, np.arange(1, n + 1)) if n else []
    np.testing.assert_array_equal(t["first_row"] * w + t["first_col"], np.asarray(firsts, dtype=np.int64))


@pytest.mark.slow
@given(mask=masks(40), data=st.data(), connectivity=st.sampled_from([4, 8]))
def test_city_ids_and_label_raster_do_not_depend_on_chunks(mask, data, connectivity):
    h, w = mask.shape
    chunks_a = data.draw(chunkings((h, w)), label="chunks")
    lit = mask.astype(np.float32)
    rasters = []
    for ch in (chunks_a, (h, w)):
        comps = label_components(geo(lit, chunks=ch), threshold=0.5, connectivity=connectivity)
        rasters.append(city_label_raster(comps, min_area_km2=0.5).values)  # small test grid
    np.testing.assert_array_equal(rasters[0], rasters[1])
    structure = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
    lab, _ = ndimage.label(mask, structure=structure)
    # Same partition as scipy: a bijection between our ids and scipy's on lit pixels.
    pairs = {(int(a), int(b)) for a, b in zip(rasters[0][mask], lab[mask]) if a}
    assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})


def snake(h: int, w: int) -> np.ndarray:
    """One 1-pixel-wide component winding through every row band (many chunks)."""
    m = np.zeros((h, w), bool)
    for r in range(0, h, 2):
        m[r, :] = True
        if r + 1 < h:
            m[r + 1, -1 if (r // 2) % 2 == 0 else 0] = True
    return m


@pytest.mark.slow
@pytest.mark.parametrize("chunks", [(1, 1), (2, 3), (5, 1), (64, 64)])
def test_snake_through_many_chunks_is_one_component(chunks):
    m = snake(21, 17)
    comps = label_components(geo(m.astype(np.float32), chunks=chunks), threshold=1, connectivity=4)
    assert len(comps.table) == 1 and comps.table["n_pixels"].iloc[0] == m.sum()


@pytest.mark.slow
def test_components_touching_only_at_chunk_corners():
    # A diagonal line: under 8-connectivity one component, under 4 each pixel alone;
    # with 1×1 chunks every touch is across a block corner (both diagonals).
    m = np.eye(9, dtype=bool) | np.fliplr(np.eye(9, dtype=bool))
    for ch in [(1, 1), (2, 2), (3, 4)]:
        assert len(label_components(geo(m.astype(np.float32), chunks=ch), threshold=1, connectivity=8).table) == 1
        assert len(label_components(geo(m.astype(np.float32), chunks=ch), threshold=1, connectivity=4).table) == m.sum()


def test_block_kernel_handles_checkerboard_worst_case():
    m = np.indices((64, 64)).sum(0) % 2 == 0
    labels, n, *_ = label_block(m, 4, np.ones((64, 1)), np.zeros((0, 64, 64), np.float32))
    assert n == m.sum()
    labels, n, *_ = label_block(m, 8, np.ones((64, 1)), np.zeros((0, 64, 64), np.float32))
    assert n == 1


def test_min_area_is_strict_and_uses_true_area():
    # Two squares of identical pixel counts, at the equator and at 60°N: the northern
    # one covers half the ground, so only the equatorial one passes a cut between.
    res = 1 / 120  # 30″: ~0.86 km² a pixel at the equator
    block = np.ones((3, 3), np.float32)
    eq = extract_natural_cities(geo(block, lat0=0.0, res=res), lit_threshold=1, min_area_km2=5.0)
    north = extract_natural_cities(geo(block, lat0=60.0, res=res), lit_threshold=1, min_area_km2=5.0)
    assert len(eq) == 1 and len(north) == 0
    exact = extract_natural_cities(geo(block, lat0=0.0, res=res), lit_threshold=1, min_area_km2=float(eq.area_km2[0]))
    assert len(exact) == 0  # strictly greater


@pytest.mark.slow
def test_polygons_dissolve_across_chunks_and_match_pixel_area():
    rng = np.random.default_rng(3)
    m = ndimage.binary_dilation(rng.random((80, 90)) > 0.97, iterations=3).astype(np.float32)
    whole = extract_natural_cities(geo(m, chunks=(80, 90)), lit_threshold=1, min_area_km2=0.5)
    tiled = extract_natural_cities(geo(m, chunks=(7, 11)), lit_threshold=1, min_area_km2=0.5)
    assert len(whole) == len(tiled) > 3
    for a, b in zip(whole.geometry, tiled.geometry):
        assert a.is_valid and b.is_valid
        assert shapely.equals(shapely.normalize(a), shapely.normalize(b))
    # Polygon area in pixel units equals the pixel count.
    np.testing.assert_allclose(tiled.geometry.area / RES**2, tiled["n_pixels"], rtol=1e-9)
    assert tiled.crs.to_epsg() == 4326


def test_equal_area_projection_uses_constant_pixel_area():
    a = np.zeros((20, 20), np.float32)
    a[2:8, 2:8] = 1
    da = georeferenced(
        a, crs="+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m", res=1000, origin=(0, 5e5)
    )
    g = extract_natural_cities(da, lit_threshold=1)
    assert g["area_km2"].tolist() == [36.0]
    utm = da.rio.write_crs("EPSG:32650")
    with pytest.raises(UnsupportedCRSError, match="area='pyproj'"):
        extract_natural_cities(utm, lit_threshold=1)
    g2 = extract_natural_cities(utm, lit_threshold=1, area="pyproj")
    assert 35.0 < g2["area_km2"][0] < 37.5  # UTM's scale factor is close to 1 near the zone's meridian


@pytest.mark.slow
def test_headtail_threshold_and_mask_input():
    a = np.zeros((30, 30), np.float32)
    a[2:10, 2:10] = 50
    a[15:25, 15:25] = 10
    a[0, 29] = 1
    breaks = headtail_breaks(geo(a, chunks=(7, 7)))
    lit = a[a > 0]
    assert breaks[0] == pytest.approx(lit.mean())
    g = extract_natural_cities(geo(a, chunks=(7, 7)), lit_threshold="headtail", min_area_km2=0.1)
    assert len(g) == 1 and g["n_pixels"][0] == 64
    built = geo((a > 5).astype(np.float32), chunks=(9, 9))
    gm = extract_natural_cities(geo(a), mask=built, min_area_km2=0.1)
    assert sorted(gm["n_pixels"]) == [64, 100]
    assert gm["light"].sum() == pytest.approx(64 * 50 + 100 * 10)


# One lazy pass per head/tail level (up to 10) per example: 30 examples.
@pytest.mark.slow
@settings(max_examples=30)
@given(mosaics(30), st.data())
def test_headtail_breaks_do_not_depend_on_chunks(x, data):
    ch = data.draw(chunkings(x.shape, max_blocks=6), label="chunks")
    breaks = assert_chunk_invariant(headtail_breaks, geo(x), [ch], rtol=1e-12)
    lit = x[x > 0].astype(np.float64)
    if lit.size >= 2:  # the first break is the mean of the lit pixels
        assert breaks[0] == pytest.approx(lit.mean(), rel=1e-9)


def headtail_reference(x: np.ndarray, max_levels: int = 10, head_share: float = 0.4) -> list[float]:
    """Jiang's head/tail breaks the plain way: one sum over the pixels per level."""
    x = np.asarray(x, np.float64)
    breaks, cut, prev_n = [], 0.0, None
    for _ in range(max_levels):
        head = x[x > cut]  # NaN is never lit
        if head.size < 2 or (prev_n is not None and head.size / prev_n > head_share):
            break
        cut = float(head.sum()) / head.size
        breaks.append(cut)
        prev_n = head.size
    return breaks


# One pass per example whatever the number of levels: integer-valued mosaics (DN, 8-bit copies) must give the
# per-level sums' breaks exactly, every level; float mosaics to float64 rounding.
@settings(max_examples=40)
@given(st.data())
def test_headtail_breaks_in_one_pass_equal_the_per_level_sums(data):
    integral = data.draw(st.booleans(), label="integral")
    x = data.draw(mosaics(30, min_value=-3, max_value=200), label="mosaic")
    if integral:
        x = np.floor(x)
    ch = data.draw(chunkings(x.shape, max_blocks=6), label="chunks")
    got = headtail_breaks(geo(x, chunks=ch))
    want = headtail_reference(x)
    assert len(got) == len(want)
    if integral:
        assert got == want
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_headtail_breaks_of_float_radiance_take_the_per_level_passes(monkeypatch):
    """A block with more distinct lit values than MAX_DISTINCT is not tabled (memory): the per-level path."""
    import nightlight.cities.threshold as T

    x = np.random.default_rng(3).gamma(0.5, 4.0, (96, 96)).astype(np.float32)
    calls = []
    per_level = T._headtail_per_level
    monkeypatch.setattr(T, "_headtail_per_level", lambda *a: calls.append(1) or per_level(*a))
    monkeypatch.setattr(T, "MAX_DISTINCT", 1000)
    got = headtail_breaks(geo(x, chunks=(48, 48)))  # 2304 distinct values per block
    assert calls == [1]
    np.testing.assert_allclose(got, headtail_reference(x), rtol=1e-12)


def test_bad_inputs_have_clear_errors():
    a = geo(np.ones((5, 5), np.float32))
    with pytest.raises(ValueError, match="min_area_km2"):
        extract_natural_cities(a, lit_threshold=1, min_area_km2=0)
    with pytest.raises(MissingCRSError, match="write_crs"):
        extract_natural_cities(xr.DataArray(np.ones((5, 5)), dims=("y", "x")), lit_threshold=1)
    with pytest.raises(InvalidRasterError, match="2-D"):
        extract_natural_cities(xr.concat([a, a], "year"), lit_threshold=1)
    other = geo(np.ones((5, 5), np.float32), lat0=51.0)
    with pytest.raises(GridMismatchError, match="origins are offset"):
        extract_natural_cities(a, mask=other)
    with pytest.raises(ValueError, match="connectivity"):
        extract_natural_cities(a, lit_threshold=1, connectivity=6)


def test_all_dark_mosaic_gives_empty_frame_with_columns():
    g = extract_natural_cities(geo(np.zeros((10, 10), np.float32), chunks=(3, 3)), lit_threshold=1)
    assert isinstance(g, gpd.GeoDataFrame) and len(g) == 0
    assert {"city_id", "area_km2", "geometry", "light"} <= set(g.columns)
    assert g.crs.to_epsg() == 4326


@pytest.mark.slow
@pytest.mark.realdata
def test_china_dmsplike_2020_chunk_invariant_and_equal_to_scipy(shared_file):
    path = shared_file("china-dmsplike-1km", "DMSP-like2020.tif")
    results = {}
    for ch in (256, 1024, 4096):
        g = extract_natural_cities(nightlight.open_mosaic(path, chunks=ch), lit_threshold=10, polygons=False)
        results[ch] = (len(g), float(g["area_km2"].sum()), tuple(g["first_row"] * 5000 + g["first_col"]))
    assert results[256] == results[1024] == results[4096]
    a = nightlight.open_mosaic(path, chunks=None).values
    lab, n = ndimage.label(a >= 10, structure=np.ones((3, 3)))
    counts = np.bincount(lab.ravel())[1:]
    big = counts > 5  # 1 km² Albers pixels: area > 5 km² ⇔ more than 5 pixels
    assert results[256][0] == int(big.sum()) == 3161
    assert results[256][1] == pytest.approx(float(counts[big].sum()))


@pytest.mark.slow
@pytest.mark.realdata
def test_shanghai_builtup_mask_natural_cities_equal_scipy(shared_file):
    mgup = nightlight.open_mosaic(shared_file("shanghai-viirs-like", "builtup", "real_sh_MGUP2018.tif"), chunks=100)
    light = nightlight.open_mosaic(
        shared_file("shanghai-viirs-like", "annual", "NTL_Shanghai_2000_2020_2018.tif"), chunks=100
    )
    g = extract_natural_cities(light, mask=mgup)
    m = mgup.values == 1  # 255 is nodata (NaN after open_mosaic)
    lab, n = ndimage.label(m, structure=np.ones((3, 3)))
    row_area = geographic_row_areas_km2(Grid.of(mgup))
    area = ndimage.sum(np.broadcast_to(row_area[:, None], m.shape), lab, np.arange(1, n + 1))
    keep = area > 5.0
    assert len(g) == int(keep.sum()) > 0
    np.testing.assert_allclose(g["area_km2"], area[keep], rtol=1e-9)
    sums = ndimage.sum(np.nan_to_num(light.values), lab, np.arange(1, n + 1))
    np.testing.assert_allclose(g["light"], sums[keep], rtol=1e-5)


def test_sliced_mosaic_uses_its_own_grid_not_the_parents():
    a = np.zeros((40, 40), np.float32)
    a[20:30, 20:30] = 1
    da = geo(a, lat0=60.0)
    da = da.rio.write_transform(da.rio.transform())  # a GeoTransform cached on the parent
    window = da[20:30, 20:30]
    g = extract_natural_cities(window, lit_threshold=1, min_area_km2=0.1)
    whole = extract_natural_cities(da, lit_threshold=1, min_area_km2=0.1)
    assert g["area_km2"][0] == pytest.approx(whole["area_km2"][0], rel=1e-12)
    assert g.geometry[0].normalize().equals_exact(whole.geometry[0].normalize(), tolerance=1e-9)


@pytest.mark.slow
@pytest.mark.realdata
def test_labelling_pass_sums_equal_the_exact_coverage_zonal_path_on_the_national_pair(shared_file):
    """The labelling pass's per-label sums (one pass) against detect_shrinking's exact-coverage zonal sums.

    Beijing–Tianjin, cropped from the national VIIRS-like pair (Chen et al. 2021, 8-bit copies): on a
    natural city the fixed extent *is* its labelled pixels, so both must give the same light, pixels
    and km² — the zonal path by polygon coverage, the labelling pass without any polygon.
    """
    from nightlight.change.decline import detect_shrinking
    from nightlight.preprocess.inputs import prepare_inputs

    folder = ("china-viirslike-15s",)
    paths = {"before": shared_file(*folder, "2013_8bit.tif"), "after": shared_file(*folder, "2016_8bit.tif")}
    opts = {"nodata": "none", "units": "nW/cm2/sr", "align": "average", "chunks": 256}
    b, a = prepare_inputs(paths, region=(116.0, 38.8, 117.8, 40.4), **opts).mosaics
    cities = extract_natural_cities(b, lit_threshold=5.0, values={"after": a})
    assert len(cities) > 5
    res = detect_shrinking(
        cities[["city_id", "geometry"]], b, a, id_column="city_id", patterns=False, allow_common_shift=True
    )
    np.testing.assert_array_equal(res["city_id"], cities["city_id"])
    np.testing.assert_allclose(res["light_before"], cities["light"], rtol=1e-12)
    np.testing.assert_allclose(res["light_after"], cities["light_after"], rtol=1e-12)
    np.testing.assert_allclose(res["pixels"], cities["n_pixels"], rtol=1e-12)
    np.testing.assert_allclose(res["area_km2"], cities["area_km2"], rtol=1e-9)
    np.testing.assert_array_equal(res["valid_share"], 1.0)  # nodata="none": every pixel of a city counts


def test_one_value_band_reaches_the_kernel_as_a_view(monkeypatch):
    """One band is passed as ``values[None]``, not copied by np.stack (a fifth of the labelling CPU)."""
    import nightlight.cities.label as L

    seen = []
    real = L.K.label_block
    monkeypatch.setattr(L.K, "label_block", lambda m, c, a, values: seen.append(values) or real(m, c, a, values))
    x = np.array([[0.0, 9.0, 9.0], [0.0, 0.0, 7.0]], np.float32)
    grid = Grid.of(georeferenced(x))
    _, n, _, _, sums, _ = L._label_runs(x, [x], 0, 0, grid, 8, 5.0, None)
    assert n == 1 and sums[1, 0] == 25.0
    assert seen[0].shape == (1, 2, 3) and np.shares_memory(seen[0], x)
