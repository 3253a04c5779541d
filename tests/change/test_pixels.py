"""Pixel-traced zones (natural cities) measured pixel by pixel, against plain NumPy and the pixel-centre path."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nightlight import detect_shrinking, extract_natural_cities
from nightlight.area import pixel_areas_km2
from nightlight.change import decline
from nightlight.change.patterns import shrinkage_patterns
from nightlight.grid import Grid
from nightlight.io.zones import zone_pixels
from nightlight.testing import chunkings, georeferenced

LEVEL = 5.0


def _centres(grid: Grid, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    t = grid.transform
    return t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e


def reference(geoms, b: np.ndarray, a: np.ndarray, grid: Grid) -> dict[str, np.ndarray]:
    """Per polygon, from the pixel centres inside it (shapely), on the pixels valid in both years."""
    h, w = b.shape
    x, y = _centres(grid, b.shape)
    km2 = np.broadcast_to(pixel_areas_km2(grid, 0, h, 0, 1), (h, w))
    ok = np.isfinite(b) & np.isfinite(a)
    out: dict[str, list[float]] = {k: [] for k in ("light_before", "light_after", "max_after", "pixels", "km2", "lit")}
    for g in geoms:
        inside = shapely.contains_xy(g, x, y)
        m = inside & ok
        out["light_before"].append(b[m].astype(np.float64).sum() if m.any() else np.nan)
        out["light_after"].append(a[m].astype(np.float64).sum() if m.any() else np.nan)
        out["max_after"].append(a[m].max() if m.any() else np.nan)
        out["pixels"].append(inside.sum())
        out["km2"].append(km2[inside].sum())
        out["lit"].append(km2[m & (b > 0)].sum() if m.any() else np.nan)
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def _scene(data, integral: bool):
    shape = data.draw(st.tuples(st.integers(4, 24), st.integers(4, 24)), label="shape")
    values = st.floats(-2, 30, width=32) if not integral else st.integers(-2, 30).map(float)
    b = data.draw(hnp.arrays(np.float32, shape, elements=st.one_of(values, st.just(np.nan))), label="before")
    a = data.draw(hnp.arrays(np.float32, shape, elements=st.one_of(values, st.just(np.nan))), label="after")
    return b, a


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(st.data())
def test_natural_cities_measured_as_numpy_on_their_pixels_for_any_chunking(data):
    integral = data.draw(st.booleans(), label="integral")
    policy = data.draw(st.sampled_from(["keep", "zero", "nan"]), label="negative_radiance")
    b, a = _scene(data, integral)
    ch = data.draw(chunkings(b.shape, max_blocks=6), label="chunks")
    bda, ada = georeferenced(b, chunks=ch, units="DN"), georeferenced(a, chunks=ch, units="DN")
    cities = extract_natural_cities(bda, lit_threshold=LEVEL, min_area_km2=0.01)
    if not len(cities):
        return
    geoms = cities.geometry.to_numpy()
    grid = Grid.of(bda)
    assert zone_pixels(geoms, grid) is not None
    kw = {"id_column": "city_id", "allow_common_shift": True, "allow_blank": True, "dark_floor": 0.0}
    got = detect_shrinking(cities[["city_id", "geometry"]], bda, ada, negative_radiance=policy, **kw)
    with mock.patch.object(decline, "gather_zone_pixels", lambda *args, **kwargs: None):  # the exact-coverage path
        coverage = detect_shrinking(cities[["city_id", "geometry"]], bda, ada, negative_radiance=policy, **kw)
    for col in coverage.columns.drop("geometry"):  # every column as the exact-coverage zonal pass measures it
        if coverage[col].dtype.kind == "f":
            np.testing.assert_allclose(got[col], coverage[col], rtol=1e-9, atol=1e-9, err_msg=col)
        else:
            assert got[col].tolist() == coverage[col].tolist(), col
    np.testing.assert_array_equal(
        got["negative_pixels_before"], [(b[shapely.contains_xy(g, *_centres(grid, b.shape))] < 0).sum() for g in geoms]
    )
    if policy != "keep":
        b, a = (np.where(x < 0, 0.0 if policy == "zero" else np.nan, x).astype(np.float32) for x in (b, a))
    want = reference(geoms, b, a, grid)
    exact = {"rtol": 0, "atol": 0} if integral else {"rtol": 1e-12, "atol": 1e-9}
    np.testing.assert_allclose(got["light_before"], want["light_before"], **exact)
    np.testing.assert_allclose(got["light_after"], want["light_after"], **exact)
    np.testing.assert_array_equal(got["max_after"], want["max_after"])  # a neighbour's value never counts
    np.testing.assert_array_equal(got["pixels"], want["pixels"])
    np.testing.assert_array_equal(got["pixels"], cities["n_pixels"])
    np.testing.assert_allclose(got["area_km2"], want["km2"], rtol=1e-12)
    np.testing.assert_allclose(got["area_km2"], cities["area_km2"], rtol=1e-12)
    np.testing.assert_allclose(got["lit_area_before_km2"], want["lit"], rtol=1e-12)
    # the patterns from the traced pixels equal those from the polygons' pixel centres, on pixels valid in both years
    ok = np.isfinite(b) & np.isfinite(a)
    cb, ca = georeferenced(np.where(ok, b, np.nan)), georeferenced(np.where(ok, a, np.nan))
    idx = np.flatnonzero(got["shrinking"].to_numpy())
    assert got["shrink_pattern"].to_numpy()[idx].tolist() == shrinkage_patterns(geoms[idx], cb, ca)


def test_a_second_run_on_the_same_base_year_reads_only_the_other_year(monkeypatch):
    """The corrected decline after the raw one: the base year's pixels and totals are kept with its array."""
    from nightlight.kernels import totals as K

    rng = np.random.default_rng(1)
    b = np.floor(rng.random((20, 20)) * 30).astype(np.float32)
    a, a2 = b * 0.8, b * 1.1
    bda = georeferenced(b, chunks=(8, 8), units="DN")
    cities = extract_natural_cities(bda, lit_threshold=LEVEL, min_area_km2=0.01)[["city_id", "geometry"]]
    calls = []
    real = K.block_totals
    monkeypatch.setattr(K, "block_totals", lambda x: calls.append(x.shape) or real(x))
    kw = {"id_column": "city_id", "allow_common_shift": True}
    first = detect_shrinking(cities, bda, georeferenced(a, chunks=(8, 8), units="DN"), **kw)
    n_first = len(calls)
    second = detect_shrinking(cities, bda, georeferenced(a2, chunks=(8, 8), units="DN"), **kw)
    assert n_first == 2 * 9 and len(calls) - n_first == 9  # 3 × 3 blocks: both years, then only the new one
    np.testing.assert_array_equal(first["light_before"], second["light_before"])
    np.testing.assert_allclose(second["light_after"], second["light_before"] * 1.1, rtol=1e-6)


def test_pixel_traced_boxes_across_the_grid_edge_outside_and_empty_as_the_exact_path():
    """Clipped to the grid (inside_share < 1), outside it (status outside), empty: as exact coverage says."""
    import geopandas as gpd

    rng = np.random.default_rng(2)
    b = np.floor(rng.random((12, 15)) * 30 + 1).astype(np.float32)
    a = b * np.float32(0.7)
    r = 1 / 240
    boxes = [shapely.box(2 * r, -6 * r, 5 * r, -1 * r), shapely.box(12 * r, -4 * r, 18 * r, 2 * r)]
    boxes += [shapely.box(30 * r, -4 * r, 33 * r, -1 * r), shapely.Polygon()]
    zones = gpd.GeoDataFrame({"city_id": [1, 2, 3, 4]}, geometry=boxes, crs="EPSG:4326")
    bda, ada = georeferenced(b, chunks=(5, 6), units="DN"), georeferenced(a, chunks=(5, 6), units="DN")
    assert zone_pixels(zones.geometry.to_numpy(), Grid.of(bda)) is not None  # the pixel path
    kw = {"id_column": "city_id", "allow_common_shift": True, "min_valid_share": 0.0}
    got = detect_shrinking(zones, bda, ada, **kw)
    with mock.patch.object(decline, "gather_zone_pixels", lambda *args, **kwargs: None):
        coverage = detect_shrinking(zones, bda, ada, **kw)
    assert got["status"].tolist() == coverage["status"].tolist()
    assert got["inside_share"].iloc[1] == pytest.approx(1 / 3)  # 3 of 6 columns, 4 of 6 rows inside
    for col in coverage.columns.drop(["geometry", "status", "shrink_pattern"]):
        np.testing.assert_allclose(got[col].astype(float), coverage[col].astype(float), rtol=1e-12, err_msg=col)
