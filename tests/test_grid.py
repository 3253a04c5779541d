"""Grid arithmetic against independent references: rasterio.transform, rasterio.windows, rasterio.warp, dask."""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pytest
import rasterio.transform
import rasterio.warp
import rasterio.windows
import rioxarray  # noqa: F401
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.io import MemoryFile

from nightlight.errors import GridMismatchError, InvalidRasterError
from nightlight.grid import Grid, GridOffset, PixelWindow, require_same_grid

ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +datum=WGS84 +units=m +no_defs")
GRIDS = {
    "geographic 30″": Grid(CRS.from_epsg(4326), Affine(1 / 120, 0, 73.5, 0, -1 / 120, 53.6), (2400, 7200)),
    "south-up": Grid(CRS.from_epsg(4326), Affine(0.25, 0, -10.0, 0, 0.25, -5.0), (40, 60)),
    "albers 1 km": Grid(ALBERS, Affine(1000.0, 0, -2_650_000.0, 0, -1000.0, 5_950_000.0), (4000, 5000)),
    "utm 100 m": Grid(CRS.from_epsg(32650), Affine(100.0, 0, 300_000.0, 0, -100.0, 4_500_000.0), (300, 340)),
}


@pytest.mark.parametrize("key", list(GRIDS))
def test_coords_are_rasterio_pixel_centres(key):
    g = GRIDS[key]
    h, w = g.shape
    c = g.coords()
    xs, _ = rasterio.transform.xy(g.transform, np.zeros(w, int), np.arange(w), offset="center")
    _, ys = rasterio.transform.xy(g.transform, np.arange(h), np.zeros(h, int), offset="center")
    np.testing.assert_allclose(c["x"], xs, rtol=0, atol=1e-9 * max(g.res))
    np.testing.assert_allclose(c["y"], ys, rtol=0, atol=1e-9 * max(g.res))


@pytest.mark.parametrize("key", list(GRIDS))
def test_wrap_round_trips_through_grid_of_and_keeps_dask_lazy(key):
    g = GRIDS[key]
    lazy = dsa.zeros(g.shape, chunks=(999, 777), dtype=np.float32)
    da = g.wrap(lazy, name="m", attrs={"units": "DN"})
    assert isinstance(da.data, dsa.Array) and da.dims == ("y", "x") and da.name == "m" and da.attrs["units"] == "DN"
    assert da.rio.crs == g.crs and da.rio.transform() == g.transform
    assert Grid.of(da).same_as(g)  # the coordinates describe the same grid
    with pytest.raises(GridMismatchError, match="shape"):
        g.wrap(np.zeros((3, 3)))


@pytest.mark.parametrize("key", list(GRIDS))
def test_coords_are_the_numbers_rioxarray_reads_from_a_geotiff(key):
    sub = GRIDS[key].slice((7, 40, 11, 60))
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff", height=33, width=49, count=1, dtype="uint8", crs=sub.crs, transform=sub.transform
        ) as f:
            f.write(np.zeros((1, 33, 49), np.uint8))
        da = rioxarray.open_rasterio(mem.name).squeeze("band", drop=True)
        np.testing.assert_array_equal(sub.coords()["x"], da["x"].values)
        np.testing.assert_array_equal(sub.coords()["y"], da["y"].values)
        assert Grid.of(da).same_as(sub)


def test_rotated_grids_are_refused_with_the_fix():
    g = Grid(CRS.from_epsg(4326), Affine(1.0, 0.1, 0.0, 0.1, -1.0, 10.0), (5, 5))
    with pytest.raises(InvalidRasterError, match="north-up"):
        g.coords()
    with pytest.raises(InvalidRasterError, match="rotation"):
        g.window((0, 0, 1, 1))


def _reference_window(g: Grid, bounds, crs=None) -> PixelWindow:
    """rasterio's float window, rounded outwards, clipped: the same rule stated independently."""
    if crs is not None:
        bounds = rasterio.warp.transform_bounds(crs, g.crs, *bounds, densify_pts=48)
    win = rasterio.windows.from_bounds(*bounds, transform=g.transform)
    h, w = g.shape
    tol = 1e-6
    r0 = int(np.clip(np.floor(win.row_off + tol), 0, h))
    c0 = int(np.clip(np.floor(win.col_off + tol), 0, w))
    r1 = int(np.clip(np.ceil(win.row_off + win.height - tol), r0, h))
    c1 = int(np.clip(np.ceil(win.col_off + win.width - tol), c0, w))
    return PixelWindow(r0, r1, c0, c1)


@given(st.data())
def test_window_in_the_grid_crs_equals_rasterio_from_bounds(data):
    key = data.draw(st.sampled_from([k for k in GRIDS if k != "south-up"]), label="grid")
    g = GRIDS[key]
    left, bottom, right, top = g.bounds
    span_x, span_y = right - left, top - bottom
    fx = sorted(data.draw(st.lists(st.floats(-0.2, 1.2), min_size=2, max_size=2), label="fx"))
    fy = sorted(data.draw(st.lists(st.floats(-0.2, 1.2), min_size=2, max_size=2), label="fy"))
    box = (left + fx[0] * span_x, bottom + fy[0] * span_y, left + fx[1] * span_x, bottom + fy[1] * span_y)
    assert g.window(box) == _reference_window(g, box)


@pytest.mark.parametrize("key", list(GRIDS))
def test_window_of_window_bounds_is_the_window(key):
    g = GRIDS[key]
    rng = np.random.default_rng(1)
    for _ in range(50):
        r0, c0 = int(rng.integers(0, g.shape[0] - 1)), int(rng.integers(0, g.shape[1] - 1))
        win = PixelWindow(r0, int(rng.integers(r0 + 1, g.shape[0] + 1)), c0, int(rng.integers(c0 + 1, g.shape[1] + 1)))
        # edges exactly on pixel edges (up to float noise) take no extra pixel
        assert g.window(g.window_bounds(win)) == win
        assert g.slice(win).bounds == pytest.approx(g.window_bounds(win), rel=0, abs=1e-9 * max(g.res))


def test_window_clips_and_gives_empty_windows_outside():
    g = GRIDS["utm 100 m"]
    assert g.window((0, 0, 1e7, 1e7)) == PixelWindow(0, 300, 0, 340)
    far = g.window((0, 0, 10.0, 10.0))
    assert far.shape[0] == 0 or far.shape[1] == 0
    with pytest.raises(ValueError, match="left"):
        g.window((10, 0, 0, 10))


@pytest.mark.parametrize(
    "key, box",
    [
        ("albers 1 km", (118.0, 40.5, 135.0, 49.0)),  # the replication's north-east window
        ("albers 1 km", (100.0, 20.0, 110.0, 30.0)),
        ("utm 100 m", (116.7, 40.05, 116.9, 40.2)),
        ("geographic 30″", (118.0, 40.5, 135.0, 49.0)),
    ],
)
def test_window_of_a_lonlat_box_equals_rasterio_transform_bounds(key, box):
    g = GRIDS[key]
    win = g.window(box, crs="EPSG:4326")
    assert win == _reference_window(g, box, crs="EPSG:4326")
    assert win.to_rasterio() == rasterio.windows.Window(win.col0, win.row0, win.shape[1], win.shape[0])


def test_window_of_a_box_across_the_antimeridian_is_refused():
    g = Grid(CRS.from_epsg(4326), Affine(1.0, 0, -180.0, 0, -1.0, 90.0), (180, 360))
    utm1 = "EPSG:32601"  # zone 1 straddles ±180°
    with pytest.raises(ValueError, match="antimeridian"):
        g.window((200_000, 5_000_000, 800_000, 5_100_000), crs=utm1)


@pytest.mark.parametrize("key", list(GRIDS))
def test_slice_equals_rasterio_window_transform(key):
    g = GRIDS[key]
    win = PixelWindow(3, 17, 5, 29)
    sub = g.slice(win)
    assert sub.shape == (14, 24) and sub.crs == g.crs
    assert sub.transform.almost_equals(rasterio.windows.transform(win.to_rasterio(), g.transform))
    assert g.slice(win.to_rasterio()) == sub == g.slice((3, 17, 5, 29))
    with pytest.raises(ValueError, match="inside"):
        g.slice((0, g.shape[0] + 1, 0, 1))


@pytest.mark.parametrize("chunks", [(10, 7), (37, 41), (1, 5), (16, 64)])
def test_chunk_edges_and_blocks_equal_dask_block_locations(chunks):
    g = Grid(CRS.from_epsg(4326), Affine(1.0, 0, 0, 0, -1.0, 0), (37, 41))
    arr = dsa.zeros(g.shape, chunks=chunks)
    seen = {}

    def where(block, block_info=None):
        seen[block_info[0]["chunk-location"]] = block_info[0]["array-location"]
        return block

    arr.map_blocks(where, dtype=arr.dtype).compute(scheduler="sync")
    rows, cols = g.chunk_edges(arr.chunks)
    assert rows[0] == cols[0] == 0 and rows[-1] == 37 and cols[-1] == 41
    blocks = list(g.blocks(arr.chunks))
    assert len(blocks) == len(seen) == arr.npartitions
    for i, j, win in blocks:
        (r0, r1), (c0, c1) = seen[(i, j)]
        assert win == PixelWindow(r0, r1, c0, c1)
        assert (rows[i], rows[i + 1], cols[j], cols[j + 1]) == (r0, r1, c0, c1)
    with pytest.raises(GridMismatchError, match="add up"):
        g.chunk_edges(((10, 10), (41,)))


def test_offset_to_matches_the_corner_coordinates_and_feeds_the_mismatch_message():
    a = GRIDS["albers 1 km"]
    b = Grid(a.crs, a.transform @ Affine.translation(0.14394, -0.33423), a.shape)  # the China 2018 → 2021 case
    off = a.offset_to(b)
    xa, ya = rasterio.transform.xy(a.transform, 0, 0, offset="ul")
    xb, yb = rasterio.transform.xy(b.transform, 0, 0, offset="ul")
    assert isinstance(off, GridOffset)
    assert off.dx == pytest.approx(xb - xa) and off.dy == pytest.approx(yb - ya)
    assert (off.dx, off.dy) == pytest.approx((143.94, 334.23)) and off.dx_px == pytest.approx(0.14394)
    assert b.offset_to(a).dx == pytest.approx(-off.dx)
    da, db = a.wrap(dsa.zeros(a.shape)), b.wrap(dsa.zeros(b.shape))
    with pytest.raises(
        GridMismatchError, match=r"offset by \(143\.94, 334\.23\) CRS units = \(0\.144, 0\.334\) pixels"
    ):
        require_same_grid(da, db)
    with pytest.raises(GridMismatchError, match="different CRSs"):
        a.offset_to(GRIDS["utm 100 m"])


def test_lonlat_bounds_of_a_projected_grid_hold_its_densified_edges():
    from pyproj import Transformer

    g = Grid(CRS.from_epsg(6933), Affine(1000.0, 0, 500_000.0, 0, -1000.0, 5_000_000.0), (300, 400))
    w, s, e, n = g.lonlat_bounds()
    left, bottom, right, top = g.bounds
    tr = Transformer.from_crs("EPSG:6933", "EPSG:4326", always_xy=True)
    xs = np.r_[np.linspace(left, right, 50), np.full(50, right), np.linspace(right, left, 50), np.full(50, left)]
    ys = np.r_[np.full(50, bottom), np.linspace(bottom, top, 50), np.full(50, top), np.linspace(top, bottom, 50)]
    lon, lat = tr.transform(xs, ys)
    assert (w, s) == pytest.approx((lon.min(), lat.min()), abs=1e-6)
    assert (e, n) == pytest.approx((lon.max(), lat.max()), abs=1e-6)
    geo = Grid(CRS.from_epsg(4326), Affine(0.5, 0, 10.0, 0, -0.5, 50.0), (4, 6))
    assert geo.lonlat_bounds() == (10.0, 48.0, 13.0, 50.0)
