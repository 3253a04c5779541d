"""Zonal sums: kernels vs NumPy twins, library vs brute-force masks and exactextract."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from nightlight.area import pixel_areas_km2
from nightlight.change.zonal import overlap_layers, zonal_stats, zonal_stats_many
from nightlight.grid import Grid
from nightlight.kernels import zonal as kz
from tests.helpers.zonal_scene import CRS_M, T, big_polys, disk, mosaic, px


def brute_force_centre(da: xr.DataArray, geom) -> tuple[float, float]:
    """Independent reference: pixel centres tested with shapely.contains_xy (no rasterio)."""
    h, w = da.shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = T.c + cols * T.a, T.f + rows * T.e
    inside = shapely.contains_xy(geom, xs, ys)
    v = np.asarray(da.values, dtype=np.float64)[inside]
    return float(np.nansum(v)), float(np.isfinite(v).sum())


# ---------------------------------------------------------------- kernels vs NumPy twins
def test_accumulate_labels_matches_bincount_twin():
    rng = np.random.default_rng(1)
    v = rng.normal(5, 3, (50, 60))
    v[rng.random(v.shape) < 0.1] = np.nan
    lab = rng.integers(0, 6, v.shape).astype(np.int32)
    ra = rng.uniform(0.1, 0.3, 50)
    acc, vmax = kz.new_accumulator(5)
    kz.accumulate_labels(v, lab, ra, 4.0, acc, vmax)
    area = np.broadcast_to(ra[:, None], v.shape)
    for k in range(5):
        m = lab == k + 1
        fin = m & np.isfinite(v)
        assert acc[k, kz.SUM] == pytest.approx(v[fin].sum())
        assert acc[k, kz.VALID_W] == fin.sum()
        assert acc[k, kz.TOTAL_W] == m.sum()
        assert acc[k, kz.LIT_W] == (fin & (np.nan_to_num(v) > 4)).sum()
        assert acc[k, kz.LIT_KM2] == pytest.approx(area[fin & (np.nan_to_num(v) > 4)].sum())
        assert acc[k, kz.AREA_KM2] == pytest.approx(area[m].sum())
        assert vmax[k] == np.nanmax(np.where(m, v, np.nan))


def brute_force_coverage(geom, h, w) -> np.ndarray:
    """Independent twin of the coverage kernel: shapely intersection area of every cell."""
    rows, cols = np.mgrid[0:h, 0:w]
    boxes = shapely.box(cols.ravel(), rows.ravel(), cols.ravel() + 1, rows.ravel() + 1)
    return shapely.area(shapely.intersection(boxes, geom)).reshape(h, w)


@pytest.mark.parametrize("seed", range(6))
def test_accumulate_coverage_matches_shapely_twin(seed):
    """Random star polygons with holes, in pixel coordinates, on a 30 x 40 block."""
    rng = np.random.default_rng(seed)
    h, w = 30, 40
    ang = np.sort(rng.uniform(0, 2 * np.pi, 25))
    rad = rng.uniform(3, 14, 25)
    cx, cy = rng.uniform(12, 28), rng.uniform(12, 18)
    outer = shapely.Polygon(np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)]).buffer(0)
    hole = shapely.Point(cx + 0.3, cy - 0.2).buffer(2.2)
    geom = outer.difference(hole) if outer.contains(hole) else outer
    check_coverage_twin(shapely.clip_by_rect(geom, 0, 0, w, h), rng.uniform(0, 10, (h, w)))


def check_coverage_twin(geom, v: np.ndarray) -> None:
    """The kernel's covered pixels and sum over the (h, w) block ``v`` equal the shapely twin's."""
    from nightlight.change.zonal import _orient

    h, w = v.shape
    rings = shapely.get_rings(_orient(np.asarray(shapely.get_parts(geom))))
    xy, ci = shapely.get_coordinates(rings, return_index=True)
    same = ci[:-1] == ci[1:]
    e = (xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same])
    acc, vmax = kz.new_accumulator(1)
    win = np.array([[0, h, 0, w]], dtype=np.int64)
    kz.accumulate_coverage(
        v, *e, np.array([0, len(e[0])], dtype=np.int64), np.array([0], dtype=np.int64), win, np.ones(h), -1.0, acc, vmax
    )
    cov = brute_force_coverage(geom, h, w)
    assert acc[0, kz.TOTAL_W] == pytest.approx(cov.sum(), rel=1e-9)
    assert acc[0, kz.SUM] == pytest.approx((cov * v).sum(), rel=1e-9)


@pytest.mark.parametrize("centre", [(0.3, 0.7), (40.2, 29.6), (20.0, -3.0), (-4.0, 15.0), (20.0, 15.0)])
@pytest.mark.parametrize("scale", [6.0, 30.0])
def test_accumulate_coverage_clips_edges_beyond_the_block(centre, scale):
    """Polygons crossing the block's sides and corners (or holding the whole block) reach the kernel unclipped."""
    rng = np.random.default_rng(int(abs(centre[0]) * 10 + scale))
    h, w = 30, 40
    ang = np.sort(rng.uniform(0, 2 * np.pi, 17))
    rad = scale * rng.uniform(0.5, 1.2, 17)
    geom = shapely.Polygon(np.c_[centre[0] + rad * np.cos(ang), centre[1] + rad * np.sin(ang)]).buffer(0)
    check_coverage_twin(geom, rng.uniform(0, 10, (h, w)))  # unclipped: the kernel clips


# ---------------------------------------------------------------- library vs references
@pytest.mark.slow
@pytest.mark.parametrize("chunks", [None, (37, 53), (300, 340)])
def test_large_polygons_equal_brute_force_centre_rule(chunks):
    da = mosaic(chunks=chunks)
    polys = big_polys()
    st = zonal_stats(polys, da, method="centre")
    ref = mosaic()
    for i, g in enumerate(polys.geometry):
        s, n = brute_force_centre(ref, g)
        assert st["sum"][i] == pytest.approx(s, rel=1e-9), polys.city_id[i]
        assert st["valid_share"][i] * st["pixels"][i] == pytest.approx(n)


def test_overlapping_polygons_each_get_full_sum():
    da = mosaic()
    a = disk(100, 100, 40)
    polys = gpd.GeoDataFrame(geometry=[a, a, disk(120, 100, 40), disk(100, 100, 20)], crs=CRS_M)
    layers = overlap_layers(np.asarray(polys.geometry.array))
    assert len(set(layers.tolist())) >= 3  # a, a, shifted all overlap pairwise
    st = zonal_stats(polys, da, method="centre")
    for i, g in enumerate(polys.geometry):
        assert st["sum"][i] == pytest.approx(brute_force_centre(da, g)[0], rel=1e-9)
    assert st["sum"][0] == st["sum"][1]
    ex = zonal_stats(polys, da)  # exact coverage measures each polygon on its own
    assert ex["sum"][0] == ex["sum"][1]
    assert ex["sum"][2] > 0 and ex["sum"][3] < ex["sum"][0]


def test_touching_polygons_share_a_layer_and_partition_the_sum():
    left = shapely.box(*px(10, 110), *px(60, 10))
    right = shapely.box(*px(60, 110), *px(110, 10))
    both = shapely.box(*px(10, 110), *px(110, 10))
    assert overlap_layers(np.array([left, right], dtype=object)).tolist() == [0, 0]
    da = mosaic()
    for method in ("centre", "exact"):
        st = zonal_stats(gpd.GeoDataFrame(geometry=[left, right, both], crs=CRS_M), da, method=method)
        assert st["sum"][0] + st["sum"][1] == pytest.approx(st["sum"][2], rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["exact", "centre"])
def test_dask_equals_numpy_with_uneven_chunks(method):
    polys = big_polys()
    a = zonal_stats(polys, mosaic(), method=method)
    b = zonal_stats(polys, mosaic(chunks=(41, 29)), method=method)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("method", ["exact", "centre"])
def test_sub_pixel_and_thin_polygons_are_not_lost(method):
    da = mosaic(nan_share=0)
    v = np.asarray(da.values, dtype=np.float64)
    x0, y0 = px(50.2, 40.3)
    tiny = shapely.box(x0, y0 - 30, x0 + 40, y0)  # 0.4 × 0.3 px inside pixel (50, 40)
    x1, y1 = px(10, 20.45)
    thin = shapely.box(x1, y1 - 10, x1 + 1000, y1)  # 10 px long, 0.1 px high: no pixel centre inside
    st = zonal_stats(gpd.GeoDataFrame(geometry=[tiny, thin], crs=CRS_M), da.chunk({"y": 45, "x": 15}), method=method)
    assert st["sum"][0] == pytest.approx(0.12 * v[40, 50], rel=1e-9)
    assert st["pixels"][0] == pytest.approx(0.12)
    assert st["mean"][0] == pytest.approx(v[40, 50], rel=1e-9)
    assert st["sum"][1] == pytest.approx(0.1 * v[20, 10:20].sum(), rel=1e-9)
    assert st["max"][0] == pytest.approx(v[40, 50])


def test_polygon_outside_grid_gives_nan_not_crash():
    far = shapely.box(0, 0, 1000, 1000)
    st = zonal_stats(gpd.GeoDataFrame(geometry=[far, disk(50, 50, 30)], crs=CRS_M), mosaic(chunks=(100, 100)))
    assert st["pixels"][0] == 0 and np.isnan(st["sum"][0]) and np.isnan(st["mean"][0])
    assert st["sum"][1] > 0 and st["inside_share"][1] == pytest.approx(1.0)
    assert st["inside_share"][0] == 0.0
    half = shapely.box(*px(-10, 20), *px(10, 0))  # half of it left of the grid
    assert zonal_stats(gpd.GeoDataFrame(geometry=[half], crs=CRS_M), mosaic())["inside_share"][0] == pytest.approx(0.5)


def test_lit_area_and_max():
    da = mosaic(nan_share=0)
    g = disk(150, 150, 30)
    st = zonal_stats(gpd.GeoDataFrame(geometry=[g], crs=CRS_M), da, floor=5.0, method="centre")
    h, w = da.shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    inside = shapely.contains_xy(g, T.c + cols * T.a, T.f + rows * T.e)
    v = da.values[inside]
    assert st["lit_pixels"][0] == (v > 5).sum()
    assert st["lit_area_km2"][0] == pytest.approx((v > 5).sum() * 0.01)  # 100 m pixels = 0.01 km²
    assert st["max"][0] == pytest.approx(v.max())
    assert st["area_km2"][0] == pytest.approx(inside.sum() * 0.01)


def test_many_mosaics_share_one_pass():
    polys = big_polys()
    m1, m2 = mosaic(seed=1, chunks=(64, 64)), mosaic(seed=2, chunks=(64, 64))
    s1, s2 = zonal_stats_many(polys, [m1, m2])
    np.testing.assert_allclose(s1["sum"], zonal_stats(polys, m1)["sum"], rtol=1e-12)
    np.testing.assert_allclose(s2["sum"], zonal_stats(polys, m2)["sum"], rtol=1e-12)


def test_pixel_area_geographic_sums_to_the_wgs84_ellipsoid():
    g = Grid(CRS.from_epsg(4326), Affine(1.0, 0, -180, 0, -1.0, 90), (180, 360))
    total = pixel_areas_km2(g, 0, 180, 0, 1)[:, 0].sum() * 360
    assert total == pytest.approx(510_065_621.724, rel=1e-9)  # WGS84 surface area, km²


# ---------------------------------------------------------------- exactextract
def _exactextract_sums(da: xr.DataArray, polys: gpd.GeoDataFrame) -> np.ndarray:
    exactextract = pytest.importorskip("exactextract")
    from rasterio.io import MemoryFile

    v = np.asarray(da.values, dtype=np.float32)
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            height=v.shape[0],
            width=v.shape[1],
            count=1,
            dtype="float32",
            crs=CRS_M,
            transform=T,
            nodata=np.nan,
        ) as dst:
            dst.write(v, 1)
        with mem.open() as src:
            out = exactextract.exact_extract(src, polys, ["sum"], output="pandas")
    return out["sum"].to_numpy(dtype=np.float64)


def test_exact_method_equals_exactextract():
    da = mosaic(nan_share=0, chunks=(64, 70))
    polys = big_polys()
    ours = zonal_stats(polys, da)["sum"].to_numpy()
    np.testing.assert_allclose(ours, _exactextract_sums(da, polys), rtol=1e-6)


def test_centre_rule_on_large_polygons_within_half_percent_of_exactextract():
    da = mosaic(nan_share=0)
    # smooth-ish field (real night light is spatially correlated) plus noise
    yy, xx = np.mgrid[0:300, 0:340]
    da = da.copy(data=(50 * np.exp(-((xx - 170) ** 2 + (yy - 150) ** 2) / 8000.0) + da.values).astype(np.float32))
    polys = big_polys().iloc[[0, 1, 4, 5]]  # radius ≥ 35 px; 20-px disks differ by ~1 % on noisy data
    ours = zonal_stats(polys, da, method="centre")["sum"].to_numpy()
    ref = _exactextract_sums(da, polys)
    np.testing.assert_allclose(ours, ref, rtol=0.005)


def test_small_polygons_match_exactextract_coverage():
    da = mosaic(nan_share=0)
    rng = np.random.default_rng(5)
    geoms = [
        disk(c, r, rad, n=16)
        for c, r, rad in zip(rng.uniform(20, 300, 30), rng.uniform(20, 280, 30), rng.uniform(0.2, 4, 30))
    ]
    polys = gpd.GeoDataFrame(geometry=geoms, crs=CRS_M)
    for method in ("exact", "centre"):
        ours = zonal_stats(polys, da, method=method)["sum"].to_numpy()
        np.testing.assert_allclose(ours, _exactextract_sums(da, polys), rtol=1e-6)
