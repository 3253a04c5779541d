"""``align_to(..., resampling="average")`` between translated grids: the numba stencil against GDAL itself.

The reference is ``rasterio.warp.reproject(..., Resampling.average)`` on the whole
array. The stencil takes its weights from the transforms, GDAL from CRS coordinates
it transforms pixel by pixel: the weights differ by GDAL's coordinate noise (seen up
to 3e-10 px at 100° east with 15″ pixels), and a pixel by that much of the local
contrast. Results are compared to 1e-9 × the largest |value|, plus one unit in the
last place of float32 for float32 results (GDAL's float64 value rounded).
``_warp_block`` (the GDAL path) is made to fail, so a test cannot compare GDAL with itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.windows
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st
from rasterio.enums import Resampling
from rasterio.warp import reproject

import nightlight.io.align as align
from nightlight import align_to
from nightlight.grid import Grid
from nightlight.testing import georeferenced

RES = 1 / 240  # 15″, VIIRS


def gdal_average(src: np.ndarray, src_t: Affine, dst_t: Affine, shape: tuple[int, int]) -> np.ndarray:
    """GDAL's overlap-weighted average of ``src`` onto ``dst_t``, float64, NaN = no data."""
    out = np.full(shape, np.nan)
    reproject(
        src.astype(np.float64),
        out,
        src_transform=src_t,
        dst_transform=dst_t,
        src_crs="EPSG:4326",
        dst_crs="EPSG:4326",
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.average,
    )
    return out


def _refused(*args):
    raise AssertionError("align_to warped a translated grid with GDAL instead of the stencil")


@pytest.fixture
def no_gdal(monkeypatch):
    monkeypatch.setattr(align, "_warp_block", _refused)


def stencil(src: np.ndarray, src_t: Affine, dst_t: Affine, shape: tuple[int, int], chunks) -> np.ndarray:
    like = georeferenced(np.zeros(shape, src.dtype), transform=dst_t, chunks=chunks)
    out = align_to(georeferenced(src, transform=src_t, chunks=chunks), like, resampling="average")
    assert out.dtype == src.dtype and out.chunks == like.chunks
    return out.values


@pytest.mark.slow
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    grow=st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
    offset=st.tuples(st.floats(-4, 4), st.floats(-4, 4)),
    nan=st.floats(0, 0.5),
)
def test_translated_average_is_gdals(data, shape, grow, offset, nan):
    # the target may be larger or smaller than the source and lie partly (or wholly) beyond it:
    # GDAL gives NaN where a target pixel overlaps no valid source pixel, and so does the stencil
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    src = rng.uniform(-5, 500, shape)
    src[rng.random(shape) < nan] = np.nan
    src_t = Affine(RES, 0, 100, 0, -RES, 40)
    dst_t = src_t * Affine.translation(*offset)  # origin moved by offset = (columns, rows)
    dst_shape = (max(1, shape[0] + grow[0]), max(1, shape[1] + grow[1]))
    chunks = (data.draw(st.integers(1, dst_shape[0])), data.draw(st.integers(1, dst_shape[1])))
    src_chunks = (data.draw(st.integers(1, shape[0])), data.draw(st.integers(1, shape[1])))
    like = georeferenced(np.zeros(dst_shape), transform=dst_t, chunks=chunks)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(align, "_warp_block", _refused)
        got = align_to(georeferenced(src, transform=src_t, chunks=src_chunks), like, resampling="average").compute()
    want = gdal_average(src, src_t, dst_t, dst_shape)
    # target pixels meeting the source within float noise of an edge: GDAL counts or drops the sliver, or
    # (top/left) clamps to the edge pixel — align.SLIVER; compared everywhere else
    fair = np.outer(*(np.abs(_overlap(o, n, size)) > 1e-9 for o, n, size in zip(offset[::-1], dst_shape, shape)))
    assert np.array_equal(np.isnan(got.values)[fair], np.isnan(want)[fair])
    np.testing.assert_allclose(got.values[fair], want[fair], rtol=0, atol=1e-9 * 500)


def test_a_pixel_only_touching_the_top_edge_is_nan_where_gdal_clamps(no_gdal):
    src = np.arange(1.0, 13.0).reshape(3, 4)
    src_t = Affine(RES, 0, 100, 0, -RES, 40)
    dst_t = src_t * Affine.translation(0, -1)  # one row north: target row 0 meets the source only along its edge
    got = stencil(src, src_t, dst_t, (4, 4), chunks=2)
    want = gdal_average(src, src_t, dst_t, (4, 4))
    assert np.isnan(got[0]).all() and np.array_equal(want[0], src[0])  # GDAL: its window clamped to row 0
    np.testing.assert_allclose(got[1:], src, rtol=0, atol=1e-9 * 12)
    np.testing.assert_allclose(want[1:], src, rtol=0, atol=1e-9 * 12)


def _overlap(offset: float, n: int, size: int) -> np.ndarray:
    """Overlap (source pixels; ≤ 0: none) of each of ``n`` target pixels shifted by ``offset`` with ``size`` pixels."""
    lo = offset + np.arange(n)
    return np.minimum(lo + 1, size) - np.maximum(lo, 0)


@pytest.mark.parametrize("offset", [(0.0, 0.218), (0.37, -0.61), (-1.5, 2.25), (1e-8, 0.5)])
def test_float32_is_gdal_rounded_and_totals_kept(no_gdal, offset):
    rng = np.random.default_rng(7)
    src = np.zeros((60, 70), np.float32)
    src[5:-5, 5:-5] = rng.gamma(0.5, 40, (50, 60))  # light well inside: every pixel's whole footprint lands
    src_t = Affine(RES, 0, 73.5, 0, -RES, 53.5)
    dst_t = src_t * Affine.translation(*offset)
    got = stencil(src, src_t, dst_t, src.shape, chunks=(17, 23))
    want = gdal_average(src, src_t, dst_t, src.shape).astype(np.float32)
    assert_close(got, want, scale=src.max())
    # same pixel size, no light near the edges: the overlap weights of each source pixel add up to one
    np.testing.assert_allclose(np.nansum(got, dtype=np.float64), src.sum(dtype=np.float64), rtol=1e-6)


def assert_close(got: np.ndarray, want: np.ndarray, scale: float) -> None:
    """NaN where GDAL has NaN; else within 1e-9 × ``scale`` plus one float32 ulp of GDAL's value."""
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.all(np.abs(got[ok] - want[ok]) <= np.spacing(np.abs(want[ok])) + 1e-9 * scale)


def test_other_pixel_sizes_and_methods_keep_gdal(monkeypatch):
    calls = []
    warp = align._warp_block
    monkeypatch.setattr(align, "_warp_block", lambda *a: calls.append(1) or warp(*a))
    src = georeferenced(np.ones((12, 12)), res=RES, origin=(100, 40), chunks=6)
    coarser = georeferenced(np.zeros((8, 8)), res=1.5 * RES, origin=(100, 40), chunks=8)
    shifted = georeferenced(np.zeros((8, 8)), res=RES, origin=(100.001, 40), chunks=8)
    for like, method in [(coarser, "average"), (shifted, "bilinear")]:
        out = align_to(src, like, resampling=method)
        assert out.attrs["aligned_by"] == "gdal" and np.nanmax(out.values) == 1.0
    assert len(calls) == 2


@pytest.mark.realdata
@pytest.mark.parametrize("year", [2012, 2022])
def test_real_resampled_years_are_gdals(shared_file, no_gdal, year):
    """The China VIIRS-like 2012/2022 grids, ~0.218 px north of 2013 (2022: pixel size off by 1e-10)."""
    folder = ("china-viirslike-15s",)
    with (
        rasterio.open(shared_file(*folder, "2013_8bit.tif")) as base,
        rasterio.open(shared_file(*folder, f"{year}_8bit.tif")) as moved,
    ):
        off = Grid(base.crs, base.transform, base.shape).offset_to(Grid(moved.crs, moved.transform, moved.shape))
        assert abs(off.dx_px) < 1e-5 and off.dy_px == pytest.approx(0.218, abs=1e-3)
        # Shanghai, and Jiamusi–Shuangyashan in the far east, where 2022's pixel-size drift is largest
        for r0, c0 in [(4800, 10500), (1400, 12600)]:
            win = rasterio.windows.Window(c0, r0, 500, 400)
            src = moved.read(1, window=rasterio.windows.Window(c0 - 2, r0 - 2, 504, 404)).astype(np.float32)
            src_t = moved.window_transform(rasterio.windows.Window(c0 - 2, r0 - 2, 504, 404))
            dst_t = base.window_transform(win)
            got = stencil(src, src_t, dst_t, (400, 500), chunks=(128, 200))
            want = gdal_average(src, src_t, dst_t, (400, 500)).astype(np.float32)
            assert src.max() > 20 and not np.isnan(got).any()
            assert_close(got, want, scale=src.max())
