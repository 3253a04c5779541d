"""nightlight.testing: builders agree with rasterio, strategies draw what they promise, invariance checks can fail."""

from __future__ import annotations

import subprocess
import sys

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.transform
import shapely
from affine import Affine
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import nightlight
from nightlight.grid import Grid
from nightlight.testing import (
    assert_chunk_invariant,
    chunkings,
    georeferenced,
    masks,
    mosaics,
    polygons_in,
    write_geotiff,
)

# generate only: the first example found is enough (shrinking it would cost seconds)
FIND = settings(max_examples=2000, database=None, derandomize=True, phases=[Phase.generate])


# ------------------------------------------------------------------ builders
def test_georeferenced_coords_are_rasterio_pixel_centres():
    v = np.arange(12, dtype=np.int16).reshape(3, 4)
    da = georeferenced(v, origin=(100.0, 40.0), res=(0.5, 0.25), units="DN", nodata=-1, name="dn")
    t = rasterio.transform.from_origin(100.0, 40.0, 0.5, 0.25)
    xs, _ = rasterio.transform.xy(t, np.zeros(4), np.arange(4))  # offset="center"
    _, ys = rasterio.transform.xy(t, np.arange(3), np.zeros(3))
    np.testing.assert_array_equal(da.x.values, xs)
    np.testing.assert_array_equal(da.y.values, ys)
    assert Grid.of(da) == Grid(rasterio.crs.CRS.from_epsg(4326), t, (3, 4))
    assert da.rio.transform() == t  # the written GeoTransform, not only the recomputed one
    assert da.dtype == np.int16 and da.name == "dn" and da.attrs["units"] == "DN" and da.rio.nodata == -1
    assert da.chunks is None


def test_georeferenced_coords_are_those_open_mosaic_reads_to_the_last_bit(tmp_path):
    """15″ pixels are not exact in binary: a second formula for the centres would differ by an ulp,
    and xarray arithmetic between a built array and the file it was written to would drop pixels."""
    da = georeferenced(np.ones((300, 400), np.float32), origin=(73.60416666666667, 53.56041666666667))
    back = nightlight.open_mosaic(write_geotiff(tmp_path / "a.tif", da), chunks=None, units="DN")
    np.testing.assert_array_equal(da.x.values, back.x.values)
    np.testing.assert_array_equal(da.y.values, back.y.values)
    assert (da + back).count() == da.size  # aligned on every pixel
    part = da[7:, 5:]  # its GeoTransform is still the parent's: the coordinates decide
    back = nightlight.open_mosaic(write_geotiff(tmp_path / "b.tif", part), chunks=None, units="DN")
    assert Grid.of(back).same_as(Grid.of(part))


@pytest.mark.parametrize(
    "chunks, expected",
    [(4, ((4, 4, 2), (4, 3))), ((3, 5), ((3, 3, 3, 1), (5, 2))), ({"y": -1, "x": 2}, ((10,), (2, 2, 2, 1)))],
)
def test_georeferenced_chunks(chunks, expected):
    da = georeferenced(np.zeros((10, 7)), chunks=chunks)
    assert da.chunks == expected


def test_georeferenced_without_crs_and_bad_input():
    da = georeferenced(np.zeros((2, 2)), crs=None, transform=Affine(100, 0, 5e5, 0, -100, 5e6))
    assert da.rio.crs is None and da.rio.transform() == Affine(100, 0, 5e5, 0, -100, 5e6)
    with pytest.raises(nightlight.MissingCRSError):
        Grid.of(da)
    with pytest.raises(ValueError, match="rotated"):
        georeferenced(np.zeros((2, 2)), transform=Affine(1, 0.1, 0, 0, -1, 0))
    with pytest.raises(ValueError, match="dims"):
        georeferenced(np.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        georeferenced(np.zeros((2, 2)), res=-1)
    stack = georeferenced(np.zeros((3, 2, 2)), dims=("time", "y", "x"), chunks=(1, 1))
    assert stack.chunks == ((3,), (1, 1), (1, 1))


def test_write_geotiff_writes_a_dask_array_chunk_by_chunk(tmp_path):
    """Chunks of uneven size land in their windows (the writer never computes the whole array)."""
    v = np.arange(35 * 47, dtype=np.float32).reshape(35, 47)
    da = georeferenced(v, origin=(10.0, 50.0), res=0.5, chunks=(8, 13))
    back = nightlight.open_mosaic(write_geotiff(tmp_path / "d.tif", da, dtype="int32"), chunks=None, units="nW/cm2/sr")
    np.testing.assert_array_equal(back.values, v)
    assert back.attrs["source_dtype"] == "int32"


def test_write_geotiff_round_trips_through_open_mosaic(tmp_path):
    v = np.arange(20, dtype=np.float32).reshape(4, 5)
    v[0, 0] = -9
    p = write_geotiff(tmp_path / "a.tif", v, origin=(10.0, 50.0), res=0.5, nodata=-9)
    with rasterio.open(p) as src:
        assert src.transform == Affine(0.5, 0, 10, 0, -0.5, 50) and src.crs.to_epsg() == 4326 and src.nodata == -9
        assert not src.profile.get("tiled", False)
    back = nightlight.open_mosaic(p, chunks=None)
    assert np.isnan(back.values[0, 0]) and np.array_equal(back.values.ravel()[1:], v.ravel()[1:])
    da = georeferenced(v, crs="EPSG:32633", transform=Affine(100, 0, 5e5, 0, -100, 5e6))
    q = write_geotiff(tmp_path / "b.tif", da, dtype="int16")
    with rasterio.open(q) as src:
        assert src.crs.to_epsg() == 32633 and src.transform == da.rio.transform() and src.dtypes[0] == "int16"
    r = write_geotiff(tmp_path / "c.tif", v, crs=None)
    with rasterio.open(r) as src:
        assert src.crs is None


# ------------------------------------------------------------------ strategies
@pytest.mark.slow
@given(st.tuples(st.integers(1, 50), st.integers(1, 50)).flatmap(lambda s: st.tuples(st.just(s), chunkings(s))))
def test_chunkings_are_valid_dask_chunks_with_few_blocks(case):
    shape, chunks = case
    a = dsa.zeros(shape, chunks=chunks)
    assert all(len(c) <= 12 for c in a.chunks) and a.shape == shape


def test_chunkings_reach_non_dividing_and_uneven_chunks():
    ch = find(chunkings((10, 9)), lambda c: 10 % c[0] and 9 % c[1], settings=FIND)
    assert 10 % ch[0] and 9 % ch[1]
    uneven = find(
        chunkings((10, 9), irregular=True), lambda c: isinstance(c[0], tuple) and len(set(c[0])) > 2, settings=FIND
    )
    assert sum(uneven[0]) == 10
    with pytest.raises(ValueError, match="empty side"):
        chunkings((0, 3))


@pytest.mark.slow
def test_masks_and_mosaics_draw_what_they_promise():
    m = find(masks(5), lambda m: m.shape == (5, 5) and m.any() and not m.all(), settings=FIND)
    assert m.dtype == np.bool_
    mo = find(mosaics(6), lambda a: np.isnan(a).any() and (a < 0).any() and (a > 1).any(), settings=FIND)
    assert mo.dtype == np.float32 and mo.ndim == 2
    assert find(mosaics(shape=(2, 3), dtype=np.float64, nan=False), lambda a: True, settings=FIND).shape == (2, 3)


GRID = Grid(rasterio.crs.CRS.from_epsg(6933), Affine(1000, 0, 1.2e6, 0, -500, 4.5e6), (12, 20))


@pytest.mark.slow
@given(polygons_in(GRID, outside=0.25))
def test_polygons_in_are_valid_polygonal_and_near_the_grid(geom):
    assert geom.is_valid and not geom.is_empty and geom.area > 0
    assert shapely.get_type_id(geom) in (3, 6)  # Polygon, MultiPolygon
    x0, y0, x1, y1 = GRID.bounds
    # centres at most 25 % of the extent outside, radius at most 10 px (here 10 km)
    assert geom.intersects(shapely.box(x0 - 0.25 * (x1 - x0) - 1e4, y0 - 0.25 * (y1 - y0) - 1e4, x1 + 3e4, y1 + 1e4))


def test_polygons_in_reach_holes_several_parts_and_the_raster_edge():
    inner = shapely.box(*GRID.bounds)
    strat = polygons_in(GRID, outside=0.25)
    holed = find(strat, lambda g: any(len(p.interiors) for p in shapely.get_parts(g)), settings=FIND)
    assert any(len(p.interiors) for p in shapely.get_parts(holed))
    assert shapely.get_num_geometries(find(strat, lambda g: shapely.get_num_geometries(g) > 1, settings=FIND)) > 1
    across = find(strat, lambda g: g.intersects(inner) and not inner.contains(g), settings=FIND)
    assert across.intersects(inner.boundary)
    inside = find(polygons_in(GRID), lambda g: True, settings=FIND)
    assert inner.buffer(GRID.res[0] * 10).contains(inside)


# ------------------------------------------------------------------ assert_chunk_invariant
def test_assert_chunk_invariant_passes_and_returns_the_reference():
    da = georeferenced(np.arange(35.0).reshape(5, 7))
    ref = assert_chunk_invariant(lambda d: d * 2, da, [1, (2, 3), {"y": 5, "x": 4}])
    np.testing.assert_array_equal(ref.values, da.values * 2)
    arr = np.arange(35.0).reshape(5, 7)
    assert assert_chunk_invariant(lambda a: [float(a.sum()), int((a > 3).sum())], arr, [2, 3]) == [595.0, 31]
    assert_chunk_invariant(lambda a, b: a + b, (da, da), [(3, 3)])


def test_assert_chunk_invariant_fails_with_the_chunking_and_the_place():
    da = georeferenced(np.arange(35.0).reshape(5, 7))

    def per_block_anomaly(d):
        return d.copy(data=d.data.map_blocks(lambda b: b - b.mean())) if d.chunks else d - d.mean()

    with pytest.raises(AssertionError, match=r"per_block_anomaly with chunks=\(2, 3\) differs .* values differ") as err:
        assert_chunk_invariant(per_block_anomaly, da, [(5, 7), (2, 3)])
    assert "at (0, 0)" in str(err.value)
    with pytest.raises(AssertionError, match=r"result: 1 of 2 values differ .* at \(1,\): 2.0 vs 1.0"):
        assert_chunk_invariant(lambda a: (1.0, len(a.chunks[0]) if hasattr(a, "chunks") else 1), np.ones((4, 4)), [2])
    assert_chunk_invariant(lambda a: float(a.sum()) + (1e-13 if hasattr(a, "dask") else 0), np.ones(4), [2], rtol=1e-12)


def test_assert_chunk_invariant_compares_frames_with_geometries():
    def frame(a):
        n = int(np.asarray(a).sum())
        geom = shapely.box(0, 0, n, 1) if hasattr(a, "dask") else shapely.box(0, 0, 1, n).normalize()
        return gpd.GeoDataFrame({"id": ["a"], "n": [n]}, geometry=[geom])

    with pytest.raises(AssertionError, match=r"result\['geometry'\]"):
        assert_chunk_invariant(frame, np.ones((2, 2)), [1])
    assert_chunk_invariant(frame, np.ones((1, 1)), [1])  # box(0,0,1,1) both ways


@pytest.mark.slow
def test_import_works_without_hypothesis():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import numpy as np, nightlight.testing as t\n"
        "t.assert_chunk_invariant(lambda d: d + 1, t.georeferenced(np.ones((3, 3))), [2])\n"
        'try:\n    t.masks()\nexcept ImportError as e:\n    assert "nightlight[test]" in str(e), e\n'
        "else:\n    raise SystemExit('masks() without hypothesis should raise ImportError')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
