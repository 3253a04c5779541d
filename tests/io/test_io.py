"""open_mosaic: lazy, georeferenced, nodata as NaN; bad files fail with the file name and the fix."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from affine import Affine

import nightlight
from nightlight.errors import GridMismatchError, InvalidRasterError, MissingCRSError
from nightlight.testing import write_geotiff

#: 0.5° pixels from (10°E, 50°N): Affine(0.5, 0, 10, 0, -0.5, 50)
write_tif = partial(write_geotiff, res=0.5, origin=(10.0, 50.0))


def test_open_is_lazy_chunked_and_masks_nodata(tmp_path):
    data = np.arange(60, dtype=np.int16).reshape(6, 10)
    data[0, 0] = -9
    p = write_tif(tmp_path / "a.tif", data, nodata=-9)
    da = nightlight.open_mosaic(p, chunks=4)
    assert da.chunks == ((4, 2), (4, 4, 2))
    assert da.dtype == np.float32 and da.rio.crs.to_epsg() == 4326
    assert da.rio.transform() == Affine(0.5, 0, 10, 0, -0.5, 50)
    values = da.values
    assert np.isnan(values[0, 0]) and values[5, 9] == 59
    assert da.attrs["source"] == str(p)


def test_file_url_and_missing_crs_override(tmp_path):
    p = write_tif(tmp_path / "nocrs.tif", np.ones((3, 3), np.float32), crs=None)
    with pytest.raises(MissingCRSError, match=r"nocrs\.tif.*crs="):
        nightlight.open_mosaic(p)
    da = nightlight.open_mosaic(f"file://{p}", crs="EPSG:4326")
    assert da.rio.crs.to_epsg() == 4326


def test_not_a_raster_and_truncated_file(tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_text("this is not a GeoTIFF")
    with pytest.raises(InvalidRasterError, match=r"junk\.tif"):
        nightlight.open_mosaic(junk)
    good = write_tif(tmp_path / "full.tif", np.random.default_rng(0).random((300, 300)).astype(np.float32))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InvalidRasterError, match=r"cut\.tif"):
        da = nightlight.open_mosaic(cut, chunks=64)
        from nightlight.io import verify_readable

        verify_readable(da)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InvalidRasterError, match="nowhere.tif"):
        nightlight.open_mosaic(tmp_path / "nowhere.tif")


@pytest.mark.realdata
def test_real_viirs_fixture_reads_with_negatives(shared_file):
    da = nightlight.open_mosaic(shared_file("fixtures", "burundi-viirs", "ntl.tif"), chunks=256)
    assert da.shape == (520, 445) and da.rio.crs.to_epsg() == 4326
    assert float(da.min()) < 0  # the real VIIRS fixture has small negative radiances


@pytest.mark.slow
@pytest.mark.realdata
def test_china_2019_vs_2020_grid_shift_is_detected_and_alignable(shared_file):
    a = nightlight.open_mosaic(shared_file("china-dmsplike-1km", "DMSP-like2019.tif"), chunks=1024)
    b = nightlight.open_mosaic(shared_file("china-dmsplike-1km", "DMSP-like2020.tif"), chunks=1024)
    with pytest.raises(GridMismatchError, match=r"offset by \(-143\.9.*334\.2") as err:
        nightlight.require_same_grid(a, b, names=("DMSP-like2019.tif", "DMSP-like2020.tif"))
    assert "DMSP-like2019.tif" in str(err.value) and "align_to" in str(err.value)
    aligned = nightlight.align_to(a, b, resampling="nearest")
    assert nightlight.require_same_grid(aligned, b).shape == b.shape
    window = aligned[1000:1100, 3000:3100].values
    assert np.array_equal(window, np.round(window))  # nearest keeps DN integers


def test_window_reader_equals_slicing_and_reads_each_chunk_once():
    import dask.array as dsa
    import xarray as xr

    from nightlight.io import WindowReader

    data = np.arange(37 * 41, dtype=np.float32).reshape(37, 41)
    calls = []

    def counted(block, block_info=None):
        calls.append(block_info[0]["chunk-location"])
        return block

    da = xr.DataArray(dsa.from_array(data, chunks=(10, 7)).map_blocks(counted, dtype=data.dtype), dims=("y", "x"))
    reader = WindowReader(da, max_blocks=100)
    rng = np.random.default_rng(0)
    for _ in range(200):
        r0, c0 = rng.integers(0, 36), rng.integers(0, 40)
        r1, c1 = rng.integers(r0 + 1, 38), rng.integers(c0 + 1, 42)
        np.testing.assert_array_equal(reader.read(r0, r1, c0, c1), data[r0:r1, c0:c1])
    assert len(calls) == len(set(calls)) <= 4 * 6  # every chunk computed at most once
    assert np.array_equal(WindowReader(xr.DataArray(data)).read(3, 9, 2, 5), data[3:9, 2:5])


def _windowed(monkeypatch, shape, n, max_size, seed):
    """A chunked (10²) ramp, ``n`` random windows on it, and the list of chunk counts per dask.compute."""
    import dask
    import dask.array as dsa
    import xarray as xr

    import nightlight.io.windows as W

    data = np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape)
    da = xr.DataArray(dsa.from_array(data, chunks=(10, 10)), dims=("y", "x"))
    rng = np.random.default_rng(seed)
    wins = [
        (int(r0), int(r0 + rng.integers(1, max_size)), int(c0), int(c0 + rng.integers(1, max_size)))
        for r0, c0 in zip(rng.integers(0, shape[0] - max_size, n), rng.integers(0, shape[1] - max_size, n))
    ]
    computes: list[int] = []
    real = dask.compute
    monkeypatch.setattr(W.dask, "compute", lambda *a, **k: computes.append(len(a)) or real(*a, **k))
    return W, data, da, wins, computes


def _read_all(reader, data, wins) -> set:
    reader.plan(wins)
    for w in wins:
        np.testing.assert_array_equal(reader.read(*w), data[w[0] : w[1], w[2] : w[3]])
    return {key for w in wins for key in reader._blocks_of(*w)}


def test_window_reader_plan_prefetches_in_batches_and_equals_slicing(monkeypatch):
    W, data, da, wins, computes = _windowed(monkeypatch, (60, 70), 40, 15, seed=1)
    needed = _read_all(W.WindowReader(da, max_blocks=16, batch=4), data, sorted(wins))
    assert len(needed) <= sum(computes) <= 1.25 * len(needed) and max(computes) == 4  # batches of up to 4
    assert len(computes) < len(needed) / 2  # fewer round trips than chunks


def test_window_reader_reads_two_mosaics_in_one_compute_per_batch(monkeypatch):
    # the base and the compared year: planned interleaved, their chunks come in the same computes
    W, data, da, wins, computes = _windowed(monkeypatch, (60, 70), 40, 15, seed=3)
    other = -da  # another mosaic on the same grid and chunks
    reader = W.WindowReader(da, other, max_blocks=32, batch=8)
    wins = sorted(wins, key=reader.order_key)
    reader.plan((*w, of) for w in wins for of in (0, 1))
    for w in wins:
        np.testing.assert_array_equal(reader.read(*w, 0), data[w[0] : w[1], w[2] : w[3]])
        np.testing.assert_array_equal(reader.read(*w, 1), -data[w[0] : w[1], w[2] : w[3]])
    needed = {key for w in wins for key in reader._blocks_of(*w)}  # chunks of one mosaic
    assert 2 * len(needed) <= sum(computes) <= 2.5 * len(needed) and max(computes) == 8
    assert len(computes) < len(needed) / 2  # as few round trips as one mosaic alone needs


@pytest.mark.slow
def test_window_reader_order_key_keeps_a_wide_mosaic_from_recomputing_chunks(monkeypatch):
    # 4 × 40 chunks: wider than the cache
    W, data, da, wins, computes = _windowed(monkeypatch, (40, 400), 600, 6, seed=2)
    reader = W.WindowReader(da, max_blocks=8, batch=2)
    needed = _read_all(reader, data, sorted(wins, key=reader.order_key))
    # row-major order of the windows alone recomputes chunks over and over here
    assert sum(computes) <= 2 * len(needed), (sum(computes), len(needed))
