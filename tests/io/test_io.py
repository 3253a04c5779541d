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
