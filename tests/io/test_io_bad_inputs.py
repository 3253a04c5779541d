"""Issue 10 cases 1, 3, 6, 7, 8 at the reading stage: every failure names the file, the problem and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from rasterio.transform import from_origin

import nightlight
from nightlight.errors import ImplausibleValueError, InvalidRasterError, ParameterError, UnitsError
from nightlight.testing import write_geotiff

T = from_origin(10.0, 50.0, 0.01, 0.01)


def write_tif(path, data, *, nodata=None, units=None, tiled=True):
    tiling = dict(tiled=True, blockxsize=64, blockysize=64, compress="deflate") if tiled else {}
    tags = {"units": units} if units else None
    return write_geotiff(path, data, transform=T, nodata=nodata, tags=tags, **tiling)


def city_scene(tmp_path, after_patch=None, dtype=np.float32, nodata=None, units="nW/cm2/sr"):
    b = np.zeros((256, 256), dtype)
    b[40:100, 40:100] = 20
    a = b.copy()
    if after_patch is not None:
        a[60:80, 60:80] = after_patch
    return (
        write_tif(tmp_path / "before.tif", b, nodata=nodata, units=units),
        write_tif(tmp_path / "after.tif", a, nodata=nodata, units=units),
    )


def test_undeclared_minus_999_is_an_error_naming_file_value_place_and_fix(tmp_path):
    """Old: a block of −999 in the after year gave a city change of −411 %, status ok, shrinking."""
    b, a = city_scene(tmp_path, after_patch=-999.0)
    with pytest.raises(ImplausibleValueError) as err:
        cities = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=5, min_area_km2=1)
        nightlight.detect_shrinking(cities, b, a)
    msg = str(err.value)
    assert "after.tif" in msg and "-999" in msg and "rows 0–256" in msg and "nodata=-999" in msg


@pytest.mark.slow
@pytest.mark.parametrize("value", [-np.inf, np.inf])
def test_an_infinite_pixel_is_an_implausible_value(tmp_path, value):
    """Issue 19 case 5. Old: one −inf pixel in a city gave change −inf, status ok, shrinking, pattern scatter."""
    b, a = city_scene(tmp_path, nodata=np.nan)
    data = nightlight.open_mosaic(a).values
    data[70, 70] = value
    a = write_tif(tmp_path / "after_inf.tif", data, nodata=np.nan, units="nW/cm2/sr")
    with pytest.raises(ImplausibleValueError) as err:
        cities = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=5, min_area_km2=1)
        nightlight.detect_shrinking(cities, b, a)
    msg = str(err.value)
    assert "after_inf.tif" in msg and f"value {value:g}" in msg and "not a finite number" in msg
    assert f"nodata={value:g}" in msg
    r = nightlight.detect_shrinking(cities, b, nightlight.open_mosaic(a, nodata=value))  # the fix it names works
    assert r["status"].iloc[0] == "ok" and r["change"].iloc[0] == pytest.approx(0.0)


@pytest.mark.slow
def test_an_infinite_pixel_is_one_cli_error_not_a_map_failure(tmp_path):
    """Old: the CLI computed everything, then failed on the map with 'unexpected ValueError'."""
    from click.testing import CliRunner

    from nightlight.cli import main

    b, a = city_scene(tmp_path, after_patch=-np.inf, nodata=np.nan)
    res = CliRunner().invoke(main, ["detect", str(b), str(a), "--out", str(tmp_path / "o"), "--min-area-km2", "1"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code != 0 and lines[-1].startswith("Error: ") and "after.tif" in lines[-1], res.output
    assert "-inf" in lines[-1] and "unexpected" not in res.output


@pytest.mark.slow
def test_nodata_override_makes_it_nodata(tmp_path):
    b, a = city_scene(tmp_path, after_patch=-999.0)
    after = nightlight.open_mosaic(a, nodata=-999)
    assert int(after.isnull().sum()) == 400 and after.attrs["nodata_used"] == -999
    cities = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=5, min_area_km2=1)
    r = nightlight.detect_shrinking(cities, b, after)
    assert r["change"].iloc[0] == pytest.approx(0.0) and r["status"].iloc[0] == "ok"  # 400 px missing, rest equal


def test_a_block_is_checked_once_per_opened_array_and_again_when_the_file_is_opened_again(tmp_path, monkeypatch):
    import nightlight.io.blocks as B

    _, a = city_scene(tmp_path, after_patch=-999.0)
    checked: list[str] = []
    real = B.check_plausible
    monkeypatch.setattr(
        B, "check_plausible", lambda v, *args, **kw: checked.append(kw["where"]) or real(v, *args, **kw)
    )
    after = nightlight.open_mosaic(a, nodata=-999, chunks=128)
    assert float(after.sum()) == float(after.sum())  # two passes over the same array
    assert len(checked) == len(set(checked)) == 4  # 4 blocks, each checked once
    with pytest.raises(ImplausibleValueError, match="-999"):  # opened again without the nodata: checked, refused
        # synchronous: with threads, a block still being checked when the error is raised would
        # be counted after ``n`` is taken (a flaky count, seen once in a fresh-clone run)
        nightlight.open_mosaic(a, chunks=128).sum().compute(scheduler="synchronous")
    n = len(checked)
    nightlight.open_mosaic(a, nodata=-999, chunks=128).sum().compute()  # the same file and nodata, a new array
    assert len(checked) == n + 4


def test_undeclared_65535_in_uint16_never_becomes_a_city(tmp_path):
    """Old: a uint16 file with undeclared 65535 created an 85 km² 'city' in the sea."""
    v = np.zeros((256, 256), np.uint16)
    v[40:100, 40:100] = 30
    v[150:250, 150:250] = 65535  # the sea, as an undeclared fill value
    p = write_tif(tmp_path / "vnl.tif", v)
    with pytest.raises(ImplausibleValueError, match=r"vnl\.tif: value 65535 .*nodata=65535"):
        nightlight.extract_natural_cities(nightlight.open_mosaic(p, units="nW/cm2/sr"), lit_threshold=5)
    cities = nightlight.extract_natural_cities(
        nightlight.open_mosaic(p, nodata=65535, units="nW/cm2/sr"), lit_threshold=5
    )
    assert len(cities) == 1


def test_dn_outside_0_63_is_refused(tmp_path):
    v = np.zeros((128, 128), np.int16)
    v[10:20, 10:20] = 200
    p = write_tif(tmp_path / "F162007.tif", v)
    with pytest.warns(UserWarning, match="names DMSP"):
        da = nightlight.open_mosaic(p)
    assert da.attrs["units"] == "DN"
    with pytest.raises(ImplausibleValueError, match="plausible range 0 … 63 of DN"):
        da.compute()


def test_units_come_from_the_file_or_the_caller_and_mixed_units_are_refused(tmp_path):
    """Old: DMSP DN against VIIRS radiance read as a 53 % decline, exit code 0."""
    b, _ = city_scene(tmp_path, units="DN")
    a = write_tif(tmp_path / "viirs_2016.tif", np.full((256, 256), 2.0, np.float32), units="nW/cm2/sr")
    assert nightlight.open_mosaic(b).attrs["units"] == "DN"
    assert nightlight.open_mosaic(b, units="nW/cm2/sr").attrs["units"] == "nW/cm2/sr"
    with pytest.raises(UnitsError, match=r"before.tif: DN; .*viirs_2016.tif: nW/cm2/sr"):
        cities = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=5, min_area_km2=1)
        nightlight.detect_shrinking(cities, b, a)
    with pytest.raises(UnitsError, match="not a night-light unit"):
        nightlight.open_mosaic(b, units="watts")


def test_truncated_file_fails_with_the_file_and_block_in_any_stage(tmp_path):
    """Old: a bare `RasterioIOError: Read failed` in a 78-line traceback, mid-compute."""
    good = write_tif(tmp_path / "full.tif", np.random.default_rng(0).random((512, 512)).astype(np.float32) * 30)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    da = nightlight.open_mosaic(cut, chunks=128, units="nW/cm2/sr")  # the header opens
    with pytest.raises(InvalidRasterError, match=r"cut\.tif: pixel data at rows \d+–\d+, cols \d+–\d+ cannot be read"):
        nightlight.extract_natural_cities(da, lit_threshold=10)


@pytest.mark.parametrize("chunks", [0, -5, "big", (1, 2, 3)])
def test_bad_chunks_are_parameter_errors_not_file_errors(tmp_path, chunks):
    """Old: 'cannot be read as a raster (integer division or modulo by zero)' blamed the file."""
    b, _ = city_scene(tmp_path)
    with pytest.raises(ParameterError, match="chunks="):
        nightlight.open_mosaic(b, chunks=chunks)


def test_chunks_of_one_pixel_are_refused_with_advice(tmp_path):
    """Old: chunks=1 on a small raster ran for minutes with no output."""
    b = write_tif(tmp_path / "b.tif", np.zeros((600, 600), np.float32), units="nW/cm2/sr")
    with pytest.raises(ParameterError, match=r"360,000 blocks.*chunks=2048"):
        nightlight.open_mosaic(b, chunks=1)


def _raw_tif(path, *, count=1, dtype="float32", transform=T, width=64, height=64, **extra):
    import rasterio

    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs="EPSG:4326",
        transform=transform, **extra,
    ) as dst:  # fmt: skip
        if not extra.get("sparse_ok"):
            for b in range(1, count + 1):
                dst.write(np.full((height, width), 5 * b, dtype), b)
                dst.set_band_description(b, f"year {2010 + b}")
    return path


def test_a_complex_raster_is_refused(tmp_path):
    """Issue 19 (weak). Old: read silently as its real part (numpy's ComplexWarning only)."""
    path = _raw_tif(tmp_path / "c.tif", dtype="complex64")
    with pytest.raises(InvalidRasterError, match=r"c\.tif: band 1 holds complex numbers \(complex64\)"):
        nightlight.open_mosaic(path, units="DN")


def test_a_multi_band_file_says_which_band_is_read(tmp_path):
    """Issue 19 (weak). Old: band 1 of a 3-band file was read without a word."""
    path = _raw_tif(tmp_path / "m.tif", count=3)
    with pytest.warns(UserWarning, match=r"m\.tif: 3 bands; reading band 1 \('year 2011'\)\. Pass band="):
        da = nightlight.open_mosaic(path, units="DN", chunks=None)
    assert da.attrs["band"] == 1 and float(da.max()) == 5
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        da = nightlight.open_mosaic(path, units="DN", band=3, chunks=None)
    assert not [w for w in caught if "bands; reading" in str(w.message)]  # chosen: nothing to say
    assert da.attrs["band"] == 3 and float(da.max()) == 15


def test_a_rotated_geotransform_is_an_error_naming_the_file(tmp_path):
    """Issue 19 (weak). Old: 'EPSG:4326, origin (10, 50) …: coords() needs a grid without rotation' (no file)."""
    from affine import Affine

    path = _raw_tif(tmp_path / "rot.tif", transform=Affine(0.01, 0.001, 10.0, 0.001, -0.01, 50.0))
    with pytest.raises(InvalidRasterError, match=r"rot\.tif: its geotransform is rotated or sheared.*gdalwarp"):
        nightlight.open_mosaic(path, units="DN")


def test_a_huge_raster_gets_a_size_warning_up_front(tmp_path):
    """Issue 19 (weak). Old: a sparse 1,000,000² file opened without a word (1.4e10 px here, < 1 MB on disk)."""
    path = _raw_tif(
        tmp_path / "huge.tif", width=120_000, height=120_000, tiled=True, blockxsize=512, blockysize=512,
        compress="deflate", sparse_ok=True,
    )  # fmt: skip
    with pytest.warns(UserWarning, match=r"huge\.tif: 120,000 x 120,000 pixels \(58 GB as float32.*region="):
        nightlight.open_mosaic(path, units="DN")


def test_refused_chunks_are_never_the_advice(tmp_path):
    """Old: 'chunks=(2048, 2048) on a … raster make … blocks: use chunks=2048 (the default)'."""
    from nightlight.io.raster import chunk_pair

    shape = (1_100_000, 1_100_000)
    with pytest.raises(ParameterError) as err:
        chunk_pair((2048, 2048), shape, label="big.tif")
    msg = str(err.value)
    assert "chunks=(2048, 2048)" in msg and "use chunks=2048" not in msg
    advised = int(msg.split("Use chunks=")[1].split()[0])
    assert advised > 2048 and chunk_pair(advised, shape, label="big.tif") == (advised, advised)


def test_open_mosaic_none_is_a_parameter_error():
    with pytest.raises(ParameterError, match="source=None"):
        nightlight.open_mosaic(None)


SILENT_SERVER = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0)); s.listen(16)
    print(s.getsockname()[1], flush=True)
    conns = []
    t0 = time.time()
    s.settimeout(0.5)
    while time.time() - t0 < 60:  # accepts, never answers; stops by itself
        try:
            conns.append(s.accept()[0])
        except OSError:
            pass
    """
)


@pytest.mark.slow
def test_a_server_that_never_answers_times_out(tmp_path):
    """Old: hung for ever (killed at 180 s)."""
    server = subprocess.Popen([sys.executable, "-c", SILENT_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/VNL_2016.tif"
        t0 = time.perf_counter()
        with pytest.raises(InvalidRasterError, match="VNL_2016.tif"):
            nightlight.open_mosaic(url, gdal_options={"GDAL_HTTP_TIMEOUT": "2", "GDAL_HTTP_MAX_RETRY": "0"})
        assert time.perf_counter() - t0 < 20
    finally:
        server.kill()
        server.wait()


def test_gdal_defaults_are_set_and_overridable(monkeypatch):
    from nightlight.io.remote import gdal_env

    assert gdal_env()["GDAL_HTTP_TIMEOUT"] == "30" and gdal_env()["GDAL_HTTP_MAX_RETRY"] == "3"
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "120")
    assert gdal_env()["GDAL_HTTP_TIMEOUT"] == "120"
    assert gdal_env({"GDAL_HTTP_TIMEOUT": 5})["GDAL_HTTP_TIMEOUT"] == "5"


def _shifted(tmp_path, name, dx_px):
    v = np.zeros((128, 128), np.float32)
    v[20:60, 20:60] = 25.0
    t = from_origin(10.0 + dx_px * 0.01, 50.0, 0.01, 0.01)
    return write_geotiff(tmp_path / name, v, transform=t, tags={"units": "nW/cm2/sr"})


@pytest.mark.slow
def test_grids_within_the_tolerance_are_snapped_and_recorded(tmp_path):
    """Old: an offset of 0.017 px (China VIIRS-like 2013 vs 2014) was a hard GridMismatchError."""
    b, a = _shifted(tmp_path, "b.tif", 0.0), _shifted(tmp_path, "a.tif", 0.017)
    cities = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=5, min_area_km2=1)
    r = nightlight.detect_shrinking(cities, b, a)
    assert r["change"].iloc[0] == pytest.approx(0.0) and r["status"].iloc[0] == "ok"
    ((name, (dx, dy)),) = r.attrs["nightlight"]["grid_snapped_px"].items()
    assert name.endswith("a.tif") and dx == pytest.approx(0.017, abs=1e-6) and dy == pytest.approx(0.0, abs=1e-9)


def test_grids_beyond_the_tolerance_ask_for_align_to(tmp_path):
    from nightlight.errors import GridMismatchError

    b, a = _shifted(tmp_path, "b.tif", 0.0), _shifted(tmp_path, "a.tif", 0.22)
    cities = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=5, min_area_km2=1)
    with pytest.raises(GridMismatchError, match=r"(?s)0\.220, 0\.000\) pixels \(up to 0\.05 px is accepted.*align_to"):
        nightlight.detect_shrinking(cities, b, a)


@pytest.mark.realdata
def test_real_china_viirs_like_offsets(shared_file):
    """The data README: 2013 is 0.017 px east of 2014–2021; 2012 and 2022 ~0.22 px north of the rest."""
    from nightlight.errors import GridMismatchError
    from nightlight.grid import Grid, snap_to_grid

    d = "china-viirslike-15s"
    y13, y14, y12 = (
        nightlight.open_mosaic(shared_file(d, f"{y}_8bit.tif"), nodata=None, units="nW/cm2/sr")
        for y in (2013, 2014, 2012)
    )
    _, off = snap_to_grid(y14, Grid.of(y13))
    assert off is not None and abs(off.dx_px) == pytest.approx(0.017, abs=0.002) and abs(off.dx_px) < 0.05
    with pytest.raises(GridMismatchError, match="align_to"):
        snap_to_grid(y12, Grid.of(y13))
