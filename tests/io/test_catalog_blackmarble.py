"""Black Marble VNP46A3/A4 HDF5 tiles mosaicked onto the 15″ global grid, against tiles placed by plain NumPy.

The tiles are written here with h5py in the real internal layout (group
``HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields``, uint16, ``scale_factor`` 0.1,
``_FillValue`` 65535, 2400 × 2400) and read back through GDAL's HDF5 driver.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nightlight
from nightlight.errors import CatalogError, InvalidRasterError, ParameterError
from nightlight.io.blackmarble import GRID_GROUP, TILE_PX, global_grid, open_tiles, parse_tile, tiles_for_region
from nightlight.io.listing import StampWarning
from nightlight.io.resolve import ProductNotFoundError, resolve

# every test writes and mosaics HDF5 tiles through GDAL: `pytest -m "not slow"` leaves them out (CONTRIBUTING.md)
pytestmark = pytest.mark.slow

h5py = pytest.importorskip("h5py")

BAND = "NearNadir_Composite_Snow_Free"
TILES = [(30, 5), (31, 5), (30, 6), (31, 6)]  # 120°–140° E, 20°–40° N
STAMP = "2021125134834"
SERVER = Path(__file__).with_name("range_server.py")


def tile_name(h: int, v: int, stamp: str = STAMP) -> str:
    return f"VNP46A4.A2016001.h{h:02d}v{v:02d}.001.{stamp}.h5"


def write_tile(path: Path, data: np.ndarray, *, scale: float | None = 0.1, fill: float | None = 65535) -> Path:
    """A VNP46A4-like tile: the radiance layer, its attributes, and the lat/lon datasets real tiles carry."""
    h, v = (int(path.name.split(".")[2][i : i + 2]) for i in (1, 4))
    west, south, east, north = -180 + 10 * h, 90 - 10 * (v + 1), -170 + 10 * h, 90 - 10 * v
    with h5py.File(path, "w") as f:
        group = f.create_group(GRID_GROUP)
        chunks = (min(600, data.shape[0]), min(600, data.shape[1]))
        ds = group.create_dataset(BAND, data=data, chunks=chunks, compression="gzip", compression_opts=1)
        if scale is not None:
            ds.attrs["scale_factor"] = np.float32(scale)
            ds.attrs["add_offset"] = np.float32(0.0)
        if fill is not None:
            ds.attrs["_FillValue"] = np.array(fill, dtype=data.dtype)
        ds.attrs["units"] = b"nW/(cm2 sr)"
        group.create_dataset("lat", data=np.linspace(north - 1 / 480, south + 1 / 480, 2400))
        group.create_dataset("lon", data=np.linspace(west + 1 / 480, east - 1 / 480, 2400))
    return path


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    """Four tiles of raw uint16 counts (with fill patches) and their folder."""
    folder = tmp_path_factory.mktemp("bm")
    rng = np.random.default_rng(46)
    raw = {}
    for h, v in TILES:
        a = rng.integers(0, 60000, (2400, 2400), dtype=np.uint16)
        a[100:140, 2300:2400] = 65535  # fill reaching the tile's east edge
        a[7, 11] = 1234  # → 123.4 nW/cm²/sr
        raw[(h, v)] = a
        write_tile(folder / tile_name(h, v), a)
    return folder, raw


def _reference(raw: dict) -> np.ndarray:
    """The 2 × 2 mosaic placed by plain NumPy: rows north → south, columns west → east; × 0.1, fill → NaN."""
    counts = np.block([[raw[(30, 5)], raw[(31, 5)]], [raw[(30, 6)], raw[(31, 6)]]])
    return np.where(counts == 65535, np.nan, counts.astype("float64") * 0.1).astype("float32")


def _paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("VNP46A4*.h5"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    for var in ("NIGHTLIGHT_CATALOG", "NIGHTLIGHT_DATA", "EARTHDATA_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NIGHTLIGHT_CACHE", str(tmp_path / "cache"))


def _tile_bounds(tile: str) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a tile as the mosaics place it: its hHHvVV block of the global grid."""
    h, v = parse_tile(tile)
    return global_grid().slice((v * TILE_PX, (v + 1) * TILE_PX, h * TILE_PX, (h + 1) * TILE_PX)).bounds


def test_tile_grid_follows_the_h00v00_origin():
    assert _tile_bounds("h00v00") == (-180.0, 80.0, -170.0, 90.0)
    assert _tile_bounds("h11v05") == (-70.0, 30.0, -60.0, 40.0)  # the public STAC item of VNP46A2 h11v05: (−70, 40)
    assert _tile_bounds("h35v17") == (170.0, -90.0, 180.0, -80.0)
    assert tiles_for_region((121.0, 31.0, 121.9, 31.5)) == ["h30v05"]
    assert tiles_for_region((125.0, 25.0, 135.0, 35.0)) == ["h30v05", "h31v05", "h30v06", "h31v06"]
    assert tiles_for_region((120.0, 30.0, 130.0, 40.0)) == ["h30v05"]  # edges on tile edges pull in no neighbour
    with pytest.raises(ParameterError, match="off the grid"):
        parse_tile("h36v00")


def test_mosaic_of_2x2_tiles_equals_the_tiles_placed_by_numpy(tiles):
    folder, raw = tiles
    ref = _reference(raw)
    da = open_tiles(_paths(folder))
    assert da.shape == (4800, 4800) and da.chunks == ((2400, 2400), (2400, 2400)) and da.dtype == np.float32
    t = da.rio.transform()
    assert (t.c, t.f, t.a, t.e) == (120.0, 40.0, 1 / 240, -1 / 240) and da.rio.crs.to_epsg() == 4326
    assert da.attrs["units"] == "nW/cm2/sr" and np.isnan(da.rio.nodata)
    # across the corner where the four tiles meet (chunks that do not divide the tiles)
    corner = open_tiles(_paths(folder), chunks=700).isel(y=slice(2100, 2700), x=slice(2000, 2900))
    np.testing.assert_array_equal(corner.values, ref[2100:2700, 2000:2900])
    # all of it, streamed chunk by chunk
    assert float(da.sum().compute()) == pytest.approx(float(np.nansum(ref, dtype="float64")), rel=1e-6)
    assert int(da.isnull().sum().compute()) == int(np.isnan(ref).sum()) == 4 * 40 * 100


def test_fill_is_nan_and_the_scale_factor_is_applied(tiles):
    folder, raw = tiles
    box = _tile_bounds("h31v06")
    da = open_tiles(_paths(folder), region=(box[0] + 0.001, box[1] + 0.001, box[2] - 0.001, box[3] - 0.001))
    assert da.shape == (2400, 2400)  # one tile, all of it
    values = da.values
    assert values[7, 11] == np.float32(123.4) and raw[(31, 6)][7, 11] == 1234
    assert np.isnan(values[100:140, 2300:2400]).all() and not np.isnan(values[:100]).any()
    np.testing.assert_array_equal(values[500], (raw[(31, 6)][500].astype("float64") * 0.1).astype("float32"))


def test_region_cut_takes_every_pixel_the_box_overlaps(tiles):
    folder, raw = tiles
    west, south, east, north = 129.9917, 29.9031, 130.2042, 30.0133  # no edge on a pixel edge
    da = open_tiles(_paths(folder), region=(west, south, east, north))
    # independent arithmetic on the 15″ grid of the 2 × 2 block (origin 120° E, 40° N)
    c0, c1 = math.floor((west - 120) * 240), math.ceil((east - 120) * 240)
    r0, r1 = math.floor((40 - north) * 240), math.ceil((40 - south) * 240)
    assert da.shape == (r1 - r0, c1 - c0) and da.chunks is not None
    np.testing.assert_array_equal(da.values, _reference(raw)[r0:r1, c0:c1])
    assert da.x.values[0] == pytest.approx(120 + (c0 + 0.5) / 240, abs=1e-9)
    assert da.y.values[0] == pytest.approx(40 - (r0 + 0.5) / 240, abs=1e-9)


def test_a_missing_tile_is_an_error_naming_its_file_or_nan_when_asked(tiles):
    folder, raw = tiles
    three = [p for p in _paths(folder) if ".h31v06." not in p.name]
    with pytest.raises(InvalidRasterError) as exc:
        open_tiles(three, region=(125.0, 25.0, 135.0, 35.0))
    msg = str(exc.value)
    assert "h31v06" in msg and "VNP46A4.A2016001.h31v06.001.*.h5" in msg and "missing='nan'" in msg
    da = open_tiles(three, region=(125.0, 25.0, 135.0, 35.0), missing="nan")
    values, ref = da.values, _reference(raw)[1200:3600, 1200:3600]
    assert np.isnan(values[1200:, 1200:]).all()  # the absent tile's quarter
    np.testing.assert_array_equal(values[:1200], ref[:1200])


def test_a_corrupt_or_wrong_tile_is_an_error_naming_the_file_and_the_fix(tiles, tmp_path):
    folder, _ = tiles
    bad = tmp_path / tile_name(31, 6)
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 500)  # an HDF5 signature, then nothing: a cut download
    paths = [p for p in _paths(folder) if ".h31v06." not in p.name] + [bad]
    with pytest.raises(InvalidRasterError) as exc:
        open_tiles(paths)
    assert str(bad) in str(exc.value) and "Download it again" in str(exc.value)
    # a tile whose header opens but whose data is damaged: the compute names the tile file and its block
    damaged = tmp_path / "damaged" / tile_name(31, 6)
    damaged.parent.mkdir()
    damaged.write_bytes((folder / tile_name(31, 6)).read_bytes())
    with h5py.File(damaged, "r") as f:  # where the first compressed chunk of the layer lies
        chunk = f[GRID_GROUP][BAND].id.get_chunk_info(0)
    with open(damaged, "r+b") as f:
        f.seek(chunk.byte_offset)
        f.write(b"\xff" * chunk.size)
    da = open_tiles([p for p in _paths(folder) if ".h31v06." not in p.name] + [damaged])
    with pytest.raises(InvalidRasterError) as exc:
        da.isel(y=slice(2400, None), x=slice(2400, None)).compute()
    assert f"rows 2400–4800, cols 2400–4800: {damaged}" in str(exc.value) and "cannot be read" in str(exc.value)
    with pytest.raises(InvalidRasterError, match="band name is wrong"):
        open_tiles(_paths(folder), band="No_Such_Layer")
    small = write_tile(tmp_path / tile_name(0, 0), np.zeros((100, 100), np.uint16))
    with pytest.raises(InvalidRasterError, match="not a 2400 × 2400 tile"):
        open_tiles([small])
    with pytest.raises(ParameterError, match="two files for tile h30v05"):
        open_tiles([*_paths(folder), tmp_path / tile_name(30, 5, "2022000000000")])


def test_a_tile_declaring_its_own_encoding_is_read_with_it(tmp_path):
    data = np.full((2400, 2400), 12.5, np.float32)
    data[0, :5] = -999.9
    path = write_tile(tmp_path / tile_name(0, 0), data, scale=1.0, fill=np.float32(-999.9))  # collection-2 style
    values = open_tiles([path], region=(-180.0, 89.99, -179.9, 90.0)).values
    assert np.isnan(values[0, :5]).all() and (values[0, 5:] == 12.5).all()  # the file's 1.0 and -999.9, not 0.1, 65535


# --------------------------------------------------------------------------- through the catalog
def test_a_catalog_name_with_a_region_mosaics_the_local_tiles(tiles, monkeypatch):
    folder, raw = tiles
    monkeypatch.setenv("NIGHTLIGHT_DATA", str(folder))
    box = (129.5, 29.5, 130.5, 30.5)
    da = nightlight.open_mosaic("blackmarble-vnp46a4:2016", region=box, chunks=512)
    assert da.attrs["found"] == "mosaic of 4 tile(s), data folder" and da.attrs["units"] == "nW/cm2/sr"
    np.testing.assert_array_equal(da.values, open_tiles(_paths(folder), region=box).values)
    assert da.rio.transform() == pytest.approx(open_tiles(_paths(folder), region=box).rio.transform())
    one = nightlight.open_mosaic("blackmarble-vnp46a4:2016:h31v05")
    assert one.shape == (2400, 2400) and one.rio.transform().c == 130.0
    np.testing.assert_array_equal(one.values[:50], _reference(raw)[:50, 2400:])
    with pytest.raises(CatalogError, match=r"name one \(blackmarble-vnp46a4:2016:h30v05\) or pass region"):
        resolve("blackmarble-vnp46a4:2016")
    with pytest.raises(ProductNotFoundError, match=r"VNP46A4\.A2016001\.h29v05\.001\.\*\.h5.*EARTHDATA_TOKEN"):
        resolve("blackmarble-vnp46a4:2016", region=(119.5, 30.0, 120.5, 31.0))  # h29v05 is not here


@pytest.fixture(scope="module")
def laads(tiles, tmp_path_factory):
    """A LAADS-like server (tests/io/range_server.py, a subprocess) holding the tiles, one of them twice."""
    folder, _ = tiles
    root = tmp_path_factory.mktemp("laads")
    day = root / "VNP46A4" / "2016" / "001"
    day.mkdir(parents=True)
    for p in _paths(folder):
        (day / p.name).write_bytes(p.read_bytes())
    older = day / tile_name(30, 5, "2020000000000")
    older.write_bytes(b"an older production: never fetched")
    log = root / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, str(SERVER), str(root), str(log)], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_tiles_are_found_in_the_laads_json_listing_fetched_with_the_token_and_mosaicked(
    tiles, laads, tmp_path, monkeypatch
):
    folder, raw = tiles
    base, log = laads
    entry = (Path(__file__).resolve().parents[2] / "catalog" / "products" / "blackmarble-vnp46a4.toml").read_text()
    entry = entry.replace("https://ladsweb.modaps.eosdis.nasa.gov/archive/allData/5000", f"{base}/token")
    assert f'url = "{base}/token/VNP46A4/{{year}}/001/"' in entry and 'listing = "laads-json"' in entry
    products = tmp_path / "products"
    products.mkdir()
    (products / "blackmarble-vnp46a4.toml").write_text(entry)
    monkeypatch.setenv("NIGHTLIGHT_CATALOG", str(products))
    monkeypatch.setenv("NIGHTLIGHT_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("EARTHDATA_TOKEN", "secret")
    box = (125.0, 25.0, 135.0, 35.0)
    with pytest.warns(StampWarning, match=STAMP):
        da = nightlight.open_mosaic("blackmarble-vnp46a4:2016", region=box)
    assert da.attrs["found"] == "mosaic of 4 tile(s), downloaded"
    np.testing.assert_array_equal(da.values, _reference(raw)[1200:3600, 1200:3600])
    cached = sorted(p.name for p in (tmp_path / "cache" / "blackmarble-vnp46a4").glob("*.h5"))
    assert cached == sorted(tile_name(h, v) for h, v in TILES)  # the newest stamp, under its real name
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    listings = [r for r in requests if r["path"] == "/token/VNP46A4/2016/001.json"]
    assert len(listings) == 1 and listings[0]["authorization"] == "Bearer secret"  # one listing for all tiles
    # offline now: the cached tiles are found again, nothing is asked of the server
    n = len(requests)
    again = nightlight.open_mosaic("blackmarble-vnp46a4:2016", region=box)
    assert again.attrs["found"] == "mosaic of 4 tile(s), cache" and len(log.read_text().splitlines()) == n


def test_the_catalog_marks_every_provider_url_as_unverified():
    from click.testing import CliRunner

    from nightlight.cli import main
    from nightlight.io.catalog import load_catalog

    remote = [p for p in load_catalog().values() if p.url]
    assert len(remote) >= 9 and all(p.url_verified is False for p in remote)
    assert {p.listing for p in remote if p.name.startswith("blackmarble")} == {"laads-json"}
    shown = CliRunner().invoke(main, ["catalog", "show", "blackmarble-vnp46a4"])
    text = " ".join(shown.output.split())  # rich wraps long lines
    assert shown.exit_code == 0 and "never checked against the provider" in text and "laads-json listing" in text
    keyed = CliRunner().invoke(main, ["catalog", "show", "blackmarble-vnp46a4:2016"])  # a year, no tile: no one file
    assert keyed.exit_code == 0 and "comes in 10° tiles" in " ".join(keyed.output.split())
