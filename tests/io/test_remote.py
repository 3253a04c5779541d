"""Remote reads and downloads against a real HTTP server on 127.0.0.1 (a subprocess, Range-capable).

The server (tests/io/range_server.py) runs in its own process because rasterio holds the
GIL while GDAL opens a URL: a server thread in this process would never answer.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import nightlight
from nightlight.io.download import DownloadError, download
from nightlight.io.listing import ListingError, StampWarning, parse_html, parse_laads_json, pick
from nightlight.io.resolve import ProductNotFoundError, resolve

SERVER = Path(__file__).with_name("range_server.py")
SHAPE = (96, 128)
ORIGIN = (10.0, 50.0)
RES = 0.01


def _write_cog(path: Path, data: np.ndarray, **extra) -> None:
    profile = dict(
        driver="COG",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs="EPSG:4326",
        transform=from_origin(*ORIGIN, RES, RES),
        blocksize=32,
        compress="NONE",
        **extra,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, served folder, request log, the array in x.tif)."""
    root = tmp_path_factory.mktemp("served")
    log = root / "requests.jsonl"
    rng = np.random.default_rng(13)
    data = rng.uniform(0, 60, SHAPE).astype("float32")
    data[5, 7] = -999.0  # undeclared nodata the catalog entry declares
    for name in ("x.tif", "y.tif", "z.tif", "test-2016.tif"):
        _write_cog(root / name, data)
    proc = subprocess.Popen([sys.executable, str(SERVER), str(root), str(log)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}", root, log, data
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def _requests(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _expected(data: np.ndarray) -> np.ndarray:
    out = data.copy()
    out[5, 7] = np.nan
    return out


def test_open_mosaic_reads_a_cog_over_http_by_range_requests(served):
    base, _, log, data = served
    da = nightlight.open_mosaic(f"{base}/x.tif", chunks=32, units="nW/cm2/sr", nodata=-999)
    np.testing.assert_array_equal(da.values, _expected(data))
    gets = [r for r in _requests(log) if r["path"] == "/x.tif" and r["method"] == "GET"]
    assert gets and all(r["range"] for r in gets), "GDAL must read the COG by range requests"


def _entry_common(years: str) -> str:
    """The fields every test catalog entry shares (a remote float32 product on a small grid)."""
    return f"""kind = "remote"
units = "nW/cm2/sr"
dtype = "float32"
nodata = -999
nodata_means = "missing"
period = "year"
years = {years}
[grid]
crs = "EPSG:4326"
resolution = [0.01, 0.01]
extent = [10.0, 49.04, 11.28, 50.0]
shape = [96, 128]
[license]
id = "CC0-1.0"
citation = "test"
"""


LOGIN_PAGE = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><form>…</form></body></html>\n"


@pytest.fixture
def test_catalog(served, tmp_path, monkeypatch):
    """A test-only catalog folder (NIGHTLIGHT_CATALOG) whose URLs point at the local server."""
    base, root, _, data = served
    sha = hashlib.sha256((root / "z.tif").read_bytes()).hexdigest()
    (root / "login.tif").write_text(LOGIN_PAGE)  # a provider's login page, served with 200
    common = _entry_common("[2015, 2016]")
    entries = {
        "test-cog": f'url = "{base}/test-{{year}}.tif"\naccess_mode = "anonymous"',
        "test-token": f'url = "{base}/token/z.tif"\naccess_mode = "token"\nsha = "sha256:{sha}"',
        "test-badsum": f'url = "{base}/y.tif"\naccess_mode = "token"\nsha = "sha256:{"0" * 64}"',
        "test-offline": 'url = "http://127.0.0.1:9/x.tif"\naccess_mode = "token"',
        "test-html": f'url = "{base}/token/login.tif"\naccess_mode = "token"',
    }
    folder = tmp_path / "products"
    folder.mkdir()
    for name, spec in entries.items():
        lines = dict(line.split(" = ", 1) for line in spec.splitlines())
        text = f'name = "{name}"\ntitle = "{name}"\n' + textwrap.dedent(common)
        text += f'[files]\nname = "{name}-{{year}}.tif"\nurl = {lines["url"]}\n'
        text += f"[access]\nmode = {lines['access_mode']}\n"
        if lines["access_mode"] == '"token"':
            text += 'token_env = "NIGHTLIGHT_TEST_TOKEN"\n'
        if "sha" in lines:
            text += f"[checksums]\n2016 = {lines['sha']}\n"
        (folder / f"{name}.toml").write_text(text)
    monkeypatch.setenv("NIGHTLIGHT_CATALOG", str(folder))
    monkeypatch.setenv("NIGHTLIGHT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NIGHTLIGHT_DATA", str(tmp_path / "nodata"))
    monkeypatch.delenv("NIGHTLIGHT_TEST_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def test_catalog_name_reads_remotely_with_the_catalogs_units_and_nodata(served, test_catalog):
    _, _, _, data = served
    found = resolve("test-cog:2016")
    assert found.found == "remote (range reads)" and found.path.endswith("/test-2016.tif")
    da = nightlight.open_mosaic("test-cog:2016", chunks=32)
    # the file declares no nodata: -999 becomes NaN only because the catalog says so (else ImplausibleValueError)
    np.testing.assert_array_equal(da.values, _expected(data))
    assert da.attrs["units"] == "nW/cm2/sr" and da.attrs["units_from"] == "given"
    assert da.attrs["nodata_used"] == -999.0 and da.attrs["product"] == "test-cog:2016"
    assert not (test_catalog / "cache").exists(), "an anonymous COG is range-read, not downloaded"


def test_region_crop_is_lazy_and_matches_the_pixels(served, test_catalog):
    _, _, _, data = served
    da = nightlight.open_mosaic("test-cog:2016", chunks=32, region=(10.205, 49.5, 10.5, 49.8))
    assert da.chunks is not None  # still dask: nothing read
    # pixels overlapped: cols floor(20.5)=20 .. ceil(50)=50, rows 20 .. 50
    np.testing.assert_array_equal(da.values, _expected(data)[20:50, 20:50])
    assert da.rio.transform().c == pytest.approx(10.2) and da.rio.transform().f == pytest.approx(49.8)


def test_token_product_downloads_into_the_cache_verified(served, test_catalog, monkeypatch):
    _, root, log, data = served
    with pytest.raises(ProductNotFoundError, match=r"NIGHTLIGHT_TEST_TOKEN"):
        resolve("test-token:2016")
    monkeypatch.setenv("NIGHTLIGHT_TEST_TOKEN", "secret")
    found = resolve("test-token:2016")
    assert found.found == "downloaded"
    cached = test_catalog / "cache" / "test-token" / "test-token-2016.tif"
    assert Path(found.path) == cached and cached.read_bytes() == (root / "z.tif").read_bytes()
    assert resolve("test-token:2016").found == "cache"  # second time: no download
    np.testing.assert_array_equal(nightlight.open_mosaic("test-token:2016").values, _expected(data))
    assert any(r["authorization"] == "Bearer secret" for r in _requests(log) if r["path"] == "/token/z.tif")


def test_checksum_mismatch_leaves_nothing_in_the_cache(served, test_catalog, monkeypatch):
    monkeypatch.setenv("NIGHTLIGHT_TEST_TOKEN", "secret")
    with pytest.raises(ProductNotFoundError, match="SHA-256"):
        resolve("test-badsum:2016")
    folder = test_catalog / "cache" / "test-badsum"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_login_page_is_not_cached_as_the_raster(served, test_catalog, monkeypatch):
    """Issue 19 (weak). Old: a 200 HTML login page was cached as x.tif and never downloaded again."""
    monkeypatch.setenv("NIGHTLIGHT_TEST_TOKEN", "secret")
    with pytest.raises(ProductNotFoundError, match=r"login\.tif: the server's answer it is an HTML page"):
        resolve("test-html:2016")
    folder = test_catalog / "cache" / "test-html"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_login_page_left_in_the_cache_is_deleted_and_fetched_again(served, test_catalog, monkeypatch):
    _, root, _, _ = served
    monkeypatch.setenv("NIGHTLIGHT_TEST_TOKEN", "secret")
    cached = test_catalog / "cache" / "test-token" / "test-token-2016.tif"
    cached.parent.mkdir(parents=True)
    cached.write_text(LOGIN_PAGE)  # left by an older nightlight
    with pytest.warns(UserWarning, match="HTML page.*deleted, fetched again"):
        found = resolve("test-token:2016")
    assert found.found == "downloaded" and cached.read_bytes() == (root / "z.tif").read_bytes()


@pytest.mark.parametrize(
    "bad, words",
    [
        ("shape", "is 40 x 50 pixels, the entry"),
        ("res", "its pixels are 0.02 x 0.02, the entry says 0.01 x 0.01"),
        ("extent", "it covers [10.5, "),
        ("checksum", "SHA-256"),
    ],
)
def test_a_local_file_unlike_its_catalog_entry_is_refused(served, test_catalog, monkeypatch, bad, words):
    """Issue 19 (weak). Old: a local file of another grid (or other bytes) was used silently for the product."""
    _, _, _, data = served
    local = test_catalog / "nodata"
    local.mkdir()
    name = "test-token-2016.tif" if bad == "checksum" else "test-cog-2016.tif"
    if bad == "shape":
        _write_cog(local / name, data[:40, :50])
    elif bad == "res":
        with rasterio.open(
            local / name, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=1, dtype="float32",
            crs="EPSG:4326", transform=from_origin(10.0, 50.0, 0.02, 0.02),
        ) as dst:  # fmt: skip
            dst.write(data, 1)
    elif bad == "extent":
        with rasterio.open(
            local / name, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=1, dtype="float32",
            crs="EPSG:4326", transform=from_origin(10.5, 50.0, RES, RES),
        ) as dst:  # fmt: skip
            dst.write(data, 1)
    else:
        _write_cog(local / name, data + 1)  # the right grid, other bytes
    with pytest.raises(nightlight.errors.InvalidRasterError) as err:
        resolve(name.rsplit("-", 1)[0] + ":2016")
    msg = str(err.value)
    assert str(local / name) in msg and words in msg and "not the file the catalog entry describes" in msg
    if bad != "checksum":  # the right file in the same place is used
        _write_cog(local / name, data)
        assert resolve("test-cog:2016").found == "data folder"


def test_offline_error_names_product_file_and_source(test_catalog, monkeypatch):
    monkeypatch.setenv("NIGHTLIGHT_TEST_TOKEN", "secret")
    with pytest.raises(ProductNotFoundError) as exc:
        resolve("test-offline:2016")
    msg = str(exc.value)
    assert "test-offline:2016" in msg and "test-offline-2016.tif" in msg and "http://127.0.0.1:9/x.tif" in msg


def test_truncated_download_is_caught_then_resumed(served, tmp_path):
    base, root, log, _ = served
    dest = tmp_path / "y.tif"
    with pytest.raises(DownloadError, match="kept"):
        download(f"{base}/cut/y.tif", dest, retries=0)
    part = dest.with_name("y.tif.part")
    assert not dest.exists() and 0 < part.stat().st_size < (root / "y.tif").stat().st_size
    done = part.stat().st_size
    download(f"{base}/cut/y.tif", dest, retries=0)  # the server no longer cuts: resume from the .part
    assert dest.read_bytes() == (root / "y.tif").read_bytes() and not part.exists()
    assert any(r["range"] == f"bytes={done}-" for r in _requests(log) if r["path"] == "/cut/y.tif")


def test_interrupted_download_resumes_within_one_call(served, tmp_path):
    base, root, log, _ = served
    dest = download(f"{base}/cut/x.tif", tmp_path / "x.tif", retries=2)
    assert dest.read_bytes() == (root / "x.tif").read_bytes()
    ranges = [r["range"] for r in _requests(log) if r["path"] == "/cut/x.tif"]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")


def test_checksum_given_and_right_passes(served, tmp_path):
    base, root, _, _ = served
    sha = hashlib.sha256((root / "y.tif").read_bytes()).hexdigest()
    assert download(f"{base}/y.tif", tmp_path / "ok.tif", sha256=f"sha256:{sha}").is_file()
    with pytest.raises(DownloadError, match="SHA-256"):
        download(f"{base}/y.tif", tmp_path / "bad.tif", sha256="1" * 64)
    assert list(tmp_path.glob("bad.tif*")) == []


def _serve(root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(SERVER), str(root), str(log)], stdout=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}"


def test_redirect_to_another_port_of_the_same_host_drops_the_token(served, tmp_path):
    """Issue 19 case 7. Old: a 302 from 127.0.0.1:A to 127.0.0.1:B sent the Bearer token to B (only hosts compared)."""
    base, root, _, _ = served
    log2 = tmp_path / "other.jsonl"
    other, base2 = _serve(root, log2)
    try:
        port2 = base2.rsplit(":", 1)[1]
        with pytest.raises(DownloadError, match="401"):
            download(f"{base}/redirect-port/{port2}/token/z.tif", tmp_path / "z.tif", token="secret")
    finally:
        other.terminate()
        other.wait(timeout=10)
        other.stdout.close()
    hits = _requests(log2)
    assert hits and all(r["authorization"] is None for r in hits)


def test_an_https_to_http_redirect_on_the_same_host_drops_the_token(monkeypatch):
    """The token never goes in clear: another scheme is another origin (the opener is replaced, no network)."""
    import email.message
    import io
    import urllib.error

    import nightlight.io.download as dl

    sent: list[tuple[str, str | None]] = []

    class Opener:
        def open(self, req, timeout):
            sent.append((req.full_url, req.get_header("Authorization")))
            if req.full_url.startswith("https://"):
                headers = email.message.Message()
                headers["Location"] = "http://data.example.org/f.tif"
                raise urllib.error.HTTPError(req.full_url, 302, "Found", headers, io.BytesIO())
            return io.BytesIO(b"x")

    monkeypatch.setattr(dl, "_OPENER", Opener())
    dl.open_url("https://data.example.org/f.tif", token="secret", token_origin=None, timeout=1)
    assert sent == [("https://data.example.org/f.tif", "Bearer secret"), ("http://data.example.org/f.tif", None)]
    assert dl.origin("https://h.org/a") == ("https", "h.org", 443) == dl.origin("https://H.org:443/b")
    assert dl.origin("http://h.org/a") != dl.origin("https://h.org/a")


def _in_thread(fn, limit: float):
    """Run ``fn`` in a thread; its exception (or None), or fail when it is still running after ``limit`` s."""
    import threading

    box: dict = {}

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"still running after {limit} s (hangs on a trickling server)"
    return box.get("exc")


@pytest.mark.slow
def test_a_trickling_download_stops_at_the_deadline_naming_url_and_setting(served, tmp_path, monkeypatch):
    """Issue 19 case 6. Old: 1 byte every 2 s kept a token download going for ever (the 30 s timeout is per read)."""
    base, _, _, _ = served
    monkeypatch.setenv("NIGHTLIGHT_DOWNLOAD_DEADLINE", "3")
    monkeypatch.setenv("NIGHTLIGHT_DOWNLOAD_MIN_RATE", "0")
    url = f"{base}/slow/x.tif"
    exc = _in_thread(lambda: download(url, tmp_path / "x.tif", timeout=2), limit=15)
    assert isinstance(exc, DownloadError) and url in str(exc) and "NIGHTLIGHT_DOWNLOAD_DEADLINE" in str(exc)
    assert (tmp_path / "x.tif.part").stat().st_size > 0 and not (tmp_path / "x.tif").exists()  # kept to resume


@pytest.mark.slow
def test_a_trickling_download_stops_below_the_minimum_rate(served, tmp_path, monkeypatch):
    import nightlight.io.download as dl

    base, _, _, _ = served
    monkeypatch.setattr(dl, "RATE_WINDOW", 2.0)
    monkeypatch.setenv("NIGHTLIGHT_DOWNLOAD_MIN_RATE", "100")
    url = f"{base}/slow/y.tif"
    exc = _in_thread(lambda: download(url, tmp_path / "y.tif", timeout=2), limit=15)
    assert isinstance(exc, DownloadError) and url in str(exc) and "NIGHTLIGHT_DOWNLOAD_MIN_RATE=100" in str(exc)


@pytest.mark.slow
def test_a_trickling_folder_listing_stops_too(served, monkeypatch):
    from nightlight.io.listing import list_folder

    base, root, _, _ = served
    (root / "slowlist").mkdir(exist_ok=True)
    (root / "slowlist" / "a.tif").write_bytes(b"x")
    monkeypatch.setenv("NIGHTLIGHT_DOWNLOAD_DEADLINE", "3")
    exc = _in_thread(lambda: list_folder(f"{base}/slow/slowlist/", timeout=2), limit=15)
    assert isinstance(exc, ListingError) and "slowlist" in str(exc) and "NIGHTLIGHT_DOWNLOAD_DEADLINE" in str(exc)


@pytest.mark.slow
@pytest.mark.parametrize("hook, stage", [("slow", "open"), ("slowdata", "read")])
def test_a_stalled_range_read_says_timed_out(served, hook, stage):
    """Old: 'Read failed' / 'HTTP response code 206' and 'the file is truncated or corrupt'."""
    base, root, _, _ = served
    big = root / "big.tif"
    if not big.exists():  # 1 MB: the pixels lie beyond GDAL's first 16 kB read
        _write_cog(big, np.ones((512, 512), "float32"))
    opts = {"GDAL_HTTP_TIMEOUT": "2", "GDAL_HTTP_MAX_RETRY": "0"}
    with pytest.raises(nightlight.errors.InvalidRasterError) as err:
        nightlight.open_mosaic(f"{base}/{hook}/big.tif", gdal_options=opts, units="DN").load()
    msg = str(err.value)
    assert f"/{hook}/big.tif" in msg and "timed out" in msg and "GDAL_HTTP_TIMEOUT=2" in msg
    assert "truncated" not in msg and ("pixel data" in msg) == (stage == "read")


def test_redirect_to_another_host_drops_the_token(served, tmp_path):
    base, root, log, _ = served
    port = base.rsplit(":", 1)[1]
    # same host: the token follows the redirect and the protected file arrives
    download(f"{base}/redirect/127.0.0.1/token/z.tif", tmp_path / "same.tif", token="secret")
    assert (tmp_path / "same.tif").read_bytes() == (root / "z.tif").read_bytes()
    # another host name: no Authorization there, so the server refuses (401)
    with pytest.raises(DownloadError, match="401"):
        download(f"{base}/redirect/localhost/token/z.tif", tmp_path / "other.tif", token="secret")
    hits = [r for r in _requests(log) if r["path"] == "/token/z.tif" and r["host"] == f"localhost:{port}"]
    assert hits and all(r["authorization"] is None for r in hits)
    first = [r for r in _requests(log) if r["path"] == "/redirect/localhost/token/z.tif"]
    assert first and first[0]["authorization"] == "Bearer secret"
    assert not (tmp_path / "other.tif").exists()


# --------------------------------------------------------------------------- stamped names: the folder's listing
OLD, NEW = "VNL_t_2016_c202101010000.average.tif", "VNL_t_2016_c202205302300.average.tif"


@pytest.fixture
def stamped(served, tmp_path, monkeypatch):
    """Provider folders holding stamped names (two stamps of one file), and catalog entries pointing at them."""
    base, root, _, data = served
    for folder in ("eog/2016", "laads/2016/001"):
        (root / folder / "sub").mkdir(parents=True, exist_ok=True)
    old = data.copy()
    old[0, 0] = 1.0  # the older stamp holds other values: which file arrived is visible
    _write_cog(root / "eog" / "2016" / OLD, old)
    _write_cog(root / "eog" / "2016" / NEW, data)
    _write_cog(root / "eog" / "2016" / "VNL_t_2016_c202205302300.cf_cvg.tif", data)
    _write_cog(root / "laads" / "2016" / "001" / "T.A2016001.h30v05.001.2021125134834.tif", data)
    common = 'title = "t"\n' + _entry_common("[2016, 2016]")
    token = '[access]\nmode = "token"\ntoken_env = "NIGHTLIGHT_TEST_TOKEN"\n'
    entries = {
        "stamped-token": (f'name = "VNL_t_{{year}}_c*.average.tif"\nurl = "{base}/token/eog/{{year}}/"', token),
        "stamped-cog": (f'name = "VNL_t_{{year}}_c*.average.tif"\nurl = "{base}/eog/{{year}}/"', "anon"),
        "stamped-none": (f'name = "VNL_t_{{year}}_c*.median.tif"\nurl = "{base}/eog/{{year}}/"', "anon"),
        "stamped-laads": (
            f'name = "T.A{{year}}001.h30v05.001.*.tif"\nurl = "{base}/laads/{{year}}/001/"\nlisting = "laads-json"',
            "anon",
        ),
    }
    folder = tmp_path / "products"
    folder.mkdir()
    for name, (files, access) in entries.items():
        access = '[access]\nmode = "anonymous"\nlanding_page = "https://example.org/"\n' if access == "anon" else access
        text = f'name = "{name}"\n{common}[files]\n{files}\n{access}'
        (folder / f"{name}.toml").write_text(text)
    monkeypatch.setenv("NIGHTLIGHT_CATALOG", str(folder))
    monkeypatch.setenv("NIGHTLIGHT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NIGHTLIGHT_DATA", str(tmp_path / "nodata"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NIGHTLIGHT_TEST_TOKEN", "secret")
    return tmp_path


def test_a_stamped_name_is_found_in_the_folder_index_newest_stamp_then_downloaded(served, stamped):
    base, root, log, data = served
    with pytest.warns(StampWarning, match=rf"taking the newest stamp '{NEW}' \(not {OLD}\)"):
        found = resolve("stamped-token:2016")
    cached = stamped / "cache" / "stamped-token" / NEW
    assert found.found == "downloaded" and Path(found.path) == cached
    assert cached.read_bytes() == (root / "eog" / "2016" / NEW).read_bytes()
    # the index page was asked for with the token (same host), and the index's link to another host was not followed
    listing = [r for r in _requests(log) if r["path"] == "/token/eog/2016/"]
    assert listing and listing[-1]["authorization"] == "Bearer secret"
    assert not any(r["path"].startswith("/elsewhere/") for r in _requests(log))
    # the second time the stamped glob matches the cached file: no listing, no warning
    n_before = len(_requests(log))
    assert resolve("stamped-token:2016").found == "cache" and len(_requests(log)) == n_before
    np.testing.assert_array_equal(nightlight.open_mosaic("stamped-token:2016").values, _expected(data))


def test_an_anonymous_stamped_cog_is_range_read_at_its_real_url(served, stamped):
    base, _, _, data = served
    with pytest.warns(StampWarning):
        found = resolve("stamped-cog:2016")
    assert found.found == "remote (range reads)" and found.path == f"{base}/eog/2016/{NEW}"
    assert not (stamped / "cache").exists()


def test_a_listing_without_a_match_names_the_url_the_glob_and_the_fix(served, stamped):
    base = served[0]
    with pytest.raises(ProductNotFoundError) as exc:
        resolve("stamped-none:2016")
    msg = str(exc.value)
    assert f"{base}/eog/2016/ lists no file matching 'VNL_t_2016_c*.median.tif'" in msg
    assert "files.name" in msg and "NIGHTLIGHT_DATA" in msg and NEW in msg  # what the folder does hold


def test_a_laads_json_listing_gives_the_stamped_name(served, stamped):
    base, _, log, _ = served
    found = resolve("stamped-laads:2016")
    assert found.path == f"{base}/laads/2016/001/T.A2016001.h30v05.001.2021125134834.tif"
    assert any(r["path"] == "/laads/2016/001.json" for r in _requests(log))


def test_listing_parsers_keep_only_the_folders_own_files():
    folder = "https://host.example/data/2016/"
    page = """<a href="?C=N;O=D">Name</a><a href="../">Parent</a><a href="sub/">sub/</a>
        <a href="a%20b.tif">a b.tif</a><a href="/data/2016/c.tif">c</a><a href="https://other.example/data/2016/d.tif">d</a>
        <A HREF="https://host.example/data/2016/e.tif">e</A><a href="x/f.tif">f</a><a name="anchor">no href</a>"""
    assert parse_html(page, folder) == ["a b.tif", "c.tif", "e.tif"]
    assert parse_laads_json('[{"name": "b.h5"}, {"name": "a.h5", "size": 3}]', "u") == ["a.h5", "b.h5"]
    assert parse_laads_json('{"content": [{"name": "a.h5", "resourceType": "File"}]}', "u") == ["a.h5"]
    with pytest.raises(ListingError, match="not a JSON listing"):
        parse_laads_json("<html>login</html>", "https://host.example/x.json")
    assert pick(["x_c1.tif"], "x_c*.tif", "u") == "x_c1.tif"
    with pytest.warns(StampWarning, match="x_c2.tif"):
        assert pick(["x_c1.tif", "x_c2.tif", "y.tif"], "x_c*.tif", "u") == "x_c2.tif"
