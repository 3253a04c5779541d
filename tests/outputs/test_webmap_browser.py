"""map.html in a real browser: headless Chromium with the network switched off renders the cities in
their colours, and a click on a city opens its popup (Chrome DevTools protocol over a websocket).

Skipped with a reason when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import shutil
import subprocess
import time
import urllib.request

import geopandas as gpd
import numpy as np
import pytest
import shapely

from nightlight.outputs.figures import change_colours
from nightlight.outputs.webmap import write_webmap

websocket = pytest.importorskip("websocket", reason="websocket-client is a test dependency: pip install -e '.[test]'")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")

WIDTH, HEIGHT = 1000, 800
#: Leaflet's map background where no basemap tile loaded (offline), under the 0.85-opaque fills.
BACKGROUND = np.array([0xDD, 0xDD, 0xDD])
FILL_OPACITY = 0.85
#: The folium map object: a global ``map_<hash>``, found by its class.
MAP = (
    "Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])"
    ".find(v => typeof L !== 'undefined' && v instanceof L.Map)"
)


class Page:
    """One Chromium tab driven over the DevTools protocol (just the calls these tests need)."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def js(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if value := self.js(expression):
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{expression!r} still false after {timeout} s")

    def screenshot(self) -> np.ndarray:
        import matplotlib.image

        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return (matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3] * 255).round().astype(int)

    def click(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def open_offline(self, path) -> float:
        """Load ``path`` with the network off; seconds until every layer is drawn."""
        self.events.clear()
        self.call("Network.enable")
        self.call(
            "Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1
        )
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        t0 = time.monotonic()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for(f"document.readyState === 'complete' && typeof L !== 'undefined' && !!{MAP}", 120)
        return time.monotonic() - t0

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        t0 = time.monotonic()
        assert proc.stderr is not None
        while port is None and time.monotonic() - t0 < 60:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode} before listening")
            if m := re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line):
                port = int(m.group(1))
        assert port is not None, "chromium did not print its DevTools port within 60 s"
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        tab = Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        yield tab
        tab.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _blended(hex_colour: str) -> np.ndarray:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return FILL_OPACITY * rgb + (1 - FILL_OPACITY) * BACKGROUND


def _cities() -> gpd.GeoDataFrame:
    """Three big square cities: shrinking −35 %, growing +35 %, not classified."""
    gdf = gpd.GeoDataFrame(
        {
            "city_id": [101, 202, 303],
            "name": ["Declinetown", "Growville", "Cloudy"],
            "change": [-0.35, 0.35, np.nan],
            "shrinking": [True, False, False],
            "status": ["ok", "ok", "partial_data"],
            "area_km2": [900.0, 900.0, 900.0],
            "shrink_pattern": ["central", None, None],
        },
        geometry=[
            shapely.box(10.0, 45.0, 10.4, 45.3),
            shapely.box(10.6, 45.0, 11.0, 45.3),
            shapely.box(11.2, 45.0, 11.6, 45.3),
        ],
        crs="EPSG:4326",
    )
    gdf.attrs["nightlight"] = {"threshold": 0.10}
    return gdf


def _screen_point(page: Page, lon: float, lat: float) -> tuple[float, float]:
    p = page.js(f"(() => {{ const p = {MAP}.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()")
    return float(p[0]), float(p[1])


@pytest.mark.slow
def test_map_renders_offline_in_colours_and_opens_popup_on_click(page, tmp_path):
    cities = _cities()
    html_path = write_webmap(cities, tmp_path / "map.html")  # default: with the (online-only) basemap
    page.open_offline(html_path)
    # every script and stylesheet came from the page itself; only basemap tiles were asked of the network
    external = [u for u in page.requested_urls() if not u.startswith(("file:", "data:"))]
    assert all("tile.openstreetmap.org" in u for u in external), external
    time.sleep(0.5)  # the canvas draws on the next animation frame
    shot = page.screenshot()
    (tmp_path / "screenshot.png").write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
    for (_, city), colour in zip(cities.iterrows(), change_colours(cities["change"])):
        c = city.geometry.centroid
        x, y = _screen_point(page, c.x, c.y)
        assert 0 <= x < WIDTH and 0 <= y < HEIGHT
        patch = shot[int(y) - 3 : int(y) + 4, int(x) - 3 : int(x) + 4].reshape(-1, 3)
        assert np.abs(patch - _blended(colour)).max() <= 6, (city["name"], colour, patch[0])
    # the three are different colours: red, blue, grey
    assert change_colours([-0.35])[0] != change_colours([0.35])[0]
    # a real click (mouse events at the city's pixel) opens the city's popup
    assert page.js("document.querySelector('.leaflet-popup-content') === null")
    x, y = _screen_point(page, 10.2, 45.15)
    page.click(x, y)
    text = page.wait_for("document.querySelector('.leaflet-popup-content')?.innerText", timeout=10)
    assert "101" in text and "Declinetown" in text and "−35.0 %" in text and "central" in text
    assert "Growville" not in text


@pytest.mark.slow
def test_twenty_thousand_cities_stay_responsive(page, tmp_path):
    """20,000 ragged polygons (pixel staircases): simplified into the vertex budget, drawn, clickable."""
    rng = np.random.default_rng(1)
    n = 20_000
    lon = rng.uniform(70, 135, n)
    lat = rng.uniform(18, 53, n)
    geoms = [shapely.Point(x, y).buffer(0.03, quad_segs=32) for x, y in zip(lon, lat)]
    cities = gpd.GeoDataFrame(
        {
            "city_id": np.arange(n),
            "change": rng.uniform(-0.6, 0.6, n),
            "status": "ok",
            "area_km2": 25.0,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    cities["shrinking"] = cities["change"] <= -0.10
    cities.attrs["nightlight"] = {"threshold": 0.10}
    t0 = time.monotonic()
    html_path = write_webmap(cities, tmp_path / "map.html", basemap=False)
    written = time.monotonic() - t0
    size_mb = html_path.stat().st_size / 1e6
    load = page.open_offline(html_path)
    drawn = page.js(
        f"(() => {{ let n = 0; {MAP}.eachLayer(l => {{ if (l.feature && l.feature.geometry) n++; }}); return n; }})()"
    )
    assert drawn == 2 * n  # each city's polygon, and its circle (a large run)
    target = int(np.argmin((lon - 100) ** 2 + (lat - 35) ** 2))
    page.js(f"{MAP}.setView([35, 100], 8) && true")
    time.sleep(0.5)
    c = cities.geometry.iloc[target].centroid
    x, y = _screen_point(page, c.x, c.y)
    t1 = time.monotonic()
    page.click(x, y)
    text = page.wait_for("document.querySelector('.leaflet-popup-content')?.innerText", timeout=30)
    click = time.monotonic() - t1
    print(f"\n20,000 cities: written {written:.1f} s, {size_mb:.1f} MB, loaded {load:.1f} s, popup {click:.2f} s")
    # the popup is of the city clicked: its own, or a neighbour's circle covering the spot (≤ 20 px radius)
    shown = int(re.search(r"city\s+(\d+)", text)[1])
    sc = cities.geometry.iloc[shown].centroid
    assert np.hypot(*np.subtract(_screen_point(page, sc.x, sc.y), (x, y))) <= 20
    assert size_mb < 40
