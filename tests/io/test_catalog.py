"""The product catalog: every entry valid, local entries true to the real files, names resolve, STAC lists all."""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.windows import Window

import nightlight
from nightlight.cli import main
from nightlight.errors import CatalogError
from nightlight.io.catalog import load_catalog, parse_request, validate
from nightlight.io.resolve import ProductNotFoundError, resolve

PRODUCTS = Path(__file__).resolve().parents[2] / "catalog" / "products"
SHARED = Path("../shared/data")
REQUIRED = {
    "viirs-vnl-v1",
    "viirs-vnl-v2.1",
    "viirs-vnl-v2.2",
    "viirs-monthly-vcmcfg",
    "viirs-monthly-vcmslcfg",
    "worldbank-light-every-night",
    "blackmarble-vnp46a3",
    "blackmarble-vnp46a4",
    "dmsp-ols-v4",
    "li2020-harmonized",
    "chen2021-viirslike",
    "wu2021-china-dmsplike",
    "synthetic",
    "china-viirslike-8bit",
    "china-dmsplike-1km",
    "shanghai-viirs-like",
    "kenya-blackmarble-vnp46a4",
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No user config, data folder or cache leaks into the tests."""
    for var in ("NIGHTLIGHT_CATALOG", "NIGHTLIGHT_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NIGHTLIGHT_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("path", sorted(PRODUCTS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_entry_validates(path):
    product = validate(tomllib.loads(path.read_text()), str(path))
    assert product.name == path.stem
    assert product.units in ("nW/cm2/sr", "DN")
    assert product.keys(), "an entry without keys cannot be named"
    for value in product.checksums.values():
        assert value.startswith("sha256:")
    if product.kind == "remote":
        assert product.access.get("landing_page") or product.access.get("login_url")


def test_the_catalog_holds_the_required_products():
    assert REQUIRED <= set(load_catalog())
    units = {n: p.units for n, p in load_catalog().items()}
    assert units["dmsp-ols-v4"] == units["li2020-harmonized"] == units["china-dmsplike-1km"] == "DN"
    assert units["viirs-vnl-v2.1"] == units["blackmarble-vnp46a4"] == "nW/cm2/sr"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"units": "lux"}, "units="),
        ({"nodata_means": "maybe"}, "nodata_means="),
        ({"years": [2020, 2010]}, "first year after last"),
        ({"checksums": {"2016": "md5:abc"}}, "sha256"),
        ({"access": {"mode": "token"}}, "token_env"),
        ({"default_band": "nope"}, "default_band"),
        ({"license": {"id": "CC-BY-4.0"}}, r"\[license\] lacks citation"),
        ({"files": {"format": "GeoTIFF"}}, r"\[files\] lacks name"),
        ({"grid": {"crs": "EPSG:4326", "extent": [-180, -65, 180, 75]}}, r"\[grid\] lacks resolution"),
    ],
)
def test_schema_refuses_bad_entries(change, message):
    raw = tomllib.loads((PRODUCTS / "viirs-vnl-v2.1.toml").read_text())
    raw.update(change)
    with pytest.raises(CatalogError, match=message):
        validate(raw, "bad.toml")
    del raw["grid"]
    with pytest.raises(CatalogError, match="missing field"):
        validate(raw, "bad.toml")


def test_names_parse_to_the_providers_file_names():
    r = parse_request("viirs-vnl-v2.1:2016")
    assert r.file_name() == "VNL_v21_npp_2016_global_vcmslcfg_c*.average_masked.dat.tif.gz"
    assert r.url().startswith("https://eogdata.mines.edu/nighttime_light/annual/v21/2016/VNL_v21_npp_2016")
    assert parse_request("viirs-vnl-v2.1:2016:cf_cvg").file_name().endswith(".cf_cvg.dat.tif.gz")
    assert parse_request("dmsp-ols-v4:2011").key == "F182011"  # one satellite that year
    with pytest.raises(CatalogError, match="F142000, F152000"):
        parse_request("dmsp-ols-v4:2000")  # two satellites: pick one
    assert parse_request("blackmarble-vnp46a3:2016-03:h29v05").file_name() == "VNP46A3.A2016061.h29v05.001.*.h5"
    assert parse_request("china-dmsplike-1km:2021").local() == "china-dmsplike-1km/DMSP_like2021.tif"
    for bad, msg in [("viirs-vnl-v2.1:1999", "2012–2021"), ("viirs-vnl-v2.1:2016:nope", "neither a band"),
                     ("nope:2016", "no product")]:  # fmt: skip
        with pytest.raises(CatalogError, match=msg):
            parse_request(bad)


def test_a_stamped_remote_name_is_an_error_with_where_to_get_it():
    with pytest.raises(ProductNotFoundError) as exc:
        nightlight.open_mosaic("viirs-vnl-v2.1:2016")
    msg = str(exc.value)
    assert "viirs-vnl-v2.1:2016" in msg and "VNL_v21_npp_2016_global_vcmslcfg_c*" in msg
    assert "eogdata.mines.edu/products/register" in msg and "NIGHTLIGHT_DATA" in msg


def test_a_file_shipped_inside_an_archive_is_not_downloaded_as_if_it_were_the_file():
    with pytest.raises(ProductNotFoundError) as exc:
        resolve("dmsp-ols-v4:F182013")  # the URL is the satellite-year's .tar holding the .tif.gz
    msg = str(exc.value)
    assert "inside 'F182013.v4.tar' (an archive)" in msg and "F182013.v4*_web.stable_lights.avg_vis.tif.gz" in msg
    assert "url_verified = false" in msg


def test_a_tiled_product_named_without_a_tile_is_not_fetched_as_some_tile(monkeypatch):
    monkeypatch.setenv("EOG_TOKEN", "t")  # a token, so only the missing tile stops the fetch
    with pytest.raises(ProductNotFoundError, match=r"comes in tiles \(75N180W, .*name one, e\.g\. viirs-monthly"):
        resolve("viirs-monthly-vcmcfg:2014-01")


def _sparse_gz_geotiff(path: Path, product) -> None:
    """A gzip'd GeoTIFF on ``product``'s grid with no pixel data written (a few kB for a global grid)."""
    import gzip

    from rasterio.transform import from_origin

    tif = path.with_suffix("")
    rows, cols = product.shape
    with rasterio.open(
        tif, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32", crs=product.crs,
        transform=from_origin(product.extent[0], product.extent[3], *product.resolution), tiled=True,
        compress="deflate", sparse_ok=True,
    ):  # fmt: skip
        pass
    path.write_bytes(gzip.compress(tif.read_bytes()))
    tif.unlink()


def test_local_folders_come_first(tmp_path, monkeypatch):
    data = tmp_path / "mydata"
    (data / "viirs-vnl-v2.1").mkdir(parents=True)
    stamped = data / "viirs-vnl-v2.1" / "VNL_v21_npp_2016_global_vcmslcfg_c202205302300.average_masked.dat.tif.gz"
    _sparse_gz_geotiff(stamped, load_catalog()["viirs-vnl-v2.1"])  # a found file must match the entry's grid
    monkeypatch.setenv("NIGHTLIGHT_DATA", str(data))
    found = resolve("viirs-vnl-v2.1:2016")
    assert found.path == f"/vsigzip/{stamped}" and found.found == "data folder"
    # the config file's data_dir is searched after NIGHTLIGHT_DATA
    monkeypatch.delenv("NIGHTLIGHT_DATA")
    cfg = tmp_path / "config" / "nightlight" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'data_dir = "{data}"\n')
    assert resolve("viirs-vnl-v2.1:2016").path == f"/vsigzip/{stamped}"


def test_synthetic_is_not_a_file():
    with pytest.raises(CatalogError, match="make_world"):
        resolve("synthetic:2013")


# --------------------------------------------------------------------------- local products vs the real files
LOCAL = [p for p in load_catalog().values() if p.kind == "local"]


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("product", LOCAL, ids=lambda p: p.name)
def test_local_entries_match_the_real_files(product):
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    present = {k: SHARED / parse_request(f"{product.name}:{k}").local() for k in product.keys()}
    present = {k: p for k, p in present.items() if p.is_file()}
    if not present:
        pytest.skip(f"no file of {product.name} under {SHARED}")
    for key, path in present.items():
        with rasterio.open(path) as src:
            assert src.crs == CRS.from_user_input(product.crs), (key, src.crs)
            assert src.res == pytest.approx(product.resolution, rel=1e-9), key
            if product.shape:
                assert src.shape == tuple(product.shape), key
            assert src.dtypes[0] == product.dtype, key
            declared = product.declared_nodata.get(key) if product.nodata == "file" else product.nodata
            assert src.nodata == (pytest.approx(declared, nan_ok=True) if declared is not None else None), key
            # grids shift by < 0.25 px between years (README): the extent holds within half a pixel
            tol = 0.5 * product.resolution[0]
            assert src.bounds == pytest.approx(product.extent, abs=tol), key
        want = product.checksums.get(key)
        if want:
            assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == want, key


@pytest.mark.realdata
def test_local_name_opens_the_real_file_lazily_with_dark_zeros():
    path = SHARED / "china-viirslike-15s" / "2016_8bit.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    box = (121.0, 31.0, 121.5, 31.5)
    da = nightlight.open_mosaic("china-viirslike-8bit:2016", region=box)
    assert da.chunks is not None and da.attrs["found"] == "shared data"
    assert da.attrs["nodata_used"] is None and da.attrs["scale_factor"] == 2.0
    with rasterio.open(path) as src:
        win = src.window(*box)  # independent: rasterio's window of the same box
        r0, c0 = math.floor(win.row_off), math.floor(win.col_off)
        ref = src.read(1, window=Window(c0, r0, da.shape[1], da.shape[0])).astype("float32")
    values = da.values
    np.testing.assert_array_equal(values, ref)
    assert (values == 0).any() and not np.isnan(values).any(), "declared-nodata 0 means dark: it stays 0"


# --------------------------------------------------------------------------- CLI and STAC
@pytest.mark.slow
def test_cli_catalog_list_show_and_stac(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(main, ["catalog", "list"])
    assert listing.exit_code == 0, listing.output
    assert all(name in listing.output for name in REQUIRED)
    shown = runner.invoke(main, ["catalog", "show", "dmsp-ols-v4"])
    assert shown.exit_code == 0 and "F18" in shown.output and "DN" in shown.output
    out = tmp_path / "stac"
    res = runner.invoke(main, ["catalog", "stac", str(out)])
    assert res.exit_code == 0, res.output

    import pystac

    cat = pystac.Catalog.from_file(str(out / "catalog.json"))
    ids = {c.id for c in cat.get_children()}
    assert ids == set(load_catalog())
    col = cat.get_child("china-dmsplike-1km")
    lon0, lat0, lon1, lat1 = col.extent.spatial.bboxes[0]
    # the Albers rectangle in lon/lat (its corners reach further west than China: ~67.7°E)
    assert 60 < lon0 < 75 and 130 < lon1 < 150 and 10 < lat0 < 25 and 50 < lat1 < 60
    assert col.summaries.lists["nightlight:units"] == ["DN"]
    assert json.loads((out / "viirs-vnl-v2.1" / "collection.json").read_text())["sci:doi"] == "10.3390/rs13050922"


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_detect_takes_catalog_names(tmp_path):
    if not (SHARED / "shanghai-viirs-like" / "annual").is_dir():
        pytest.skip("../shared/data/shanghai-viirs-like is absent")
    res = CliRunner().invoke(
        main, ["detect", "shanghai-viirs-like:2013", "shanghai-viirs-like:2016", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert "natural cities shrank" in res.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["before"] == "shanghai-viirs-like:2013"

    import pystac

    item = pystac.Item.from_file(str(tmp_path / "o" / "item.json"))
    assert item.id == manifest["run_id"] and set(item.assets) == set(manifest["files"])
    assert item.properties["nightlight:before"] == "shanghai-viirs-like:2013"


def test_cli_detect_with_a_product_that_is_not_here_is_a_one_line_data_error(tmp_path):
    res = CliRunner().invoke(
        main, ["detect", "viirs-vnl-v2.1:2013", "viirs-vnl-v2.1:2016", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 1
    line = res.output.strip()
    assert line.startswith("Error: viirs-vnl-v2.1:2013") and "VNL_v21_npp_2013_global_vcmcfg_c*" in line
    assert "\n" not in line and "eogdata.mines.edu" in line
