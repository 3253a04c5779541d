"""map.html without a browser: offline page, popup fields, layers, the display simplification."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from nightlight.outputs import webmap


def _cities(n=4):
    gdf = gpd.GeoDataFrame(
        {
            "city_id": np.arange(n),
            "NAME": [f"<b>town {i}</b>" for i in range(n)],
            "change": [-0.3, 0.2, np.nan, -0.05][:n],
            "shrinking": [True, False, False, False][:n],
            "status": ["ok", "ok", "too_dark", "ok"][:n],
            "area_km2": 12.5,
            "mk_p": 0.01,
        },
        geometry=[shapely.box(10 + i, 45, 10.5 + i, 45.4) for i in range(n)],
        crs="EPSG:4326",
    )
    gdf.attrs["nightlight"] = {
        "threshold": 0.10,
        "grid": {"crs": "EPSG:4326", "transform": [0.01, 0, 9.5, 0, -0.01, 46.0], "shape": [200, 500]},
    }
    return gdf


def _geojson_layers(page: str) -> list[dict]:
    """The GeoJSON collections folium wrote into the page (its `.addData({...})` calls)."""
    return [json.loads(m) for m in re.findall(r"^\s*geo_json_\w+_add\((\{.*\})\);$", page, flags=re.M)]


def test_page_is_self_contained_with_leaflet_written_in(tmp_path):
    page = webmap.write_webmap(_cities(), tmp_path / "map.html").read_text()
    assert "<script src=" not in page and 'rel="stylesheet" href' not in page
    assert 't.version="1.9.3"' in page  # leaflet.js itself is in the page
    assert "sourceMappingURL" not in page  # nothing for a browser to fetch
    assert "url(data:image/png;base64," in page  # the layer-control icon, inlined
    assert webmap.page_is_offline(page)
    assert not webmap.page_is_offline(page + '<script src="https://cdn.example/x.js"></script>')


def test_layers_popups_and_extent(tmp_path):
    page = webmap.write_webmap(_cities(), tmp_path / "map.html", basemap=False).read_text()
    layers = _geojson_layers(page)
    # extent, then shrinking, not shrinking, not classified
    extent = shapely.geometry.shape(layers[0]["features"][0]["geometry"])
    assert extent.bounds == pytest.approx((9.5, 44.0, 14.5, 46.0))
    by_layer = [[f["properties"] for f in layer["features"]] for layer in layers[1:]]
    assert [[p["id"] for p in props] for props in by_layer] == [["0"], ["1", "3"], ["2"]]
    shrinking = by_layer[0][0]
    assert shrinking["change"] == "−30.0 %" and shrinking["area"] == "12.5 km²" and shrinking["mk_p"] == "0.01"
    assert shrinking["NAME"] == "&lt;b&gt;town 0&lt;/b&gt;"  # user text is escaped, not run as HTML
    assert shrinking["style"]["color"] == webmap.SHRINKING_OUTLINE and shrinking["style"]["weight"] == 2  # outlined
    other = by_layer[1][0]["style"]
    assert other["weight"] == 1 and other["color"] != webmap.SHRINKING_OUTLINE  # its own colour, darker
    assert int(other["color"][1:3], 16) < int(other["fillColor"][1:3], 16)
    for name in ("shrinking (≥ 10% decline, outlined): 1", "not shrinking: 2", "not classified (status ≠ ok): 1"):
        assert json.dumps(name) in page  # the layer control's entries
    assert "tile.openstreetmap.org" not in page  # basemap=False
    assert "change of total light" in page and "town 0" in page


def test_display_geometries_fit_the_vertex_budget(monkeypatch):
    monkeypatch.setattr(webmap, "VERTEX_BUDGET", 5_000)
    rng = np.random.default_rng(0)
    circles = [shapely.Point(x, y).buffer(0.05, quad_segs=64) for x, y in rng.uniform(0, 10, (200, 2))]
    frame = gpd.GeoDataFrame(geometry=circles, crs="EPSG:4326")
    before = int(shapely.get_num_coordinates(frame.geometry.to_numpy()).sum())
    out = webmap._simplified(frame)
    after = shapely.get_num_coordinates(out.geometry.to_numpy())
    assert before > 50_000 and after.sum() <= 5_000 and (after >= 4).all()  # every city still a polygon
    # a simplified city stays where it was: same place within the tolerance used
    moved = shapely.get_x(shapely.centroid(out.geometry.to_numpy())) - shapely.get_x(shapely.centroid(circles))
    assert np.abs(moved).max() < 0.02
    small = webmap._simplified(frame.iloc[:5])  # under the budget: only rounded to 1e-5°
    assert shapely.get_num_coordinates(small.geometry.to_numpy()).sum() == 5 * 257


def test_projected_result_is_drawn_in_lon_lat(tmp_path):
    res = _cities().to_crs("EPSG:3857")
    res.attrs = _cities().attrs
    page = webmap.write_webmap(res, tmp_path / "map.html", basemap=False).read_text()
    first = _geojson_layers(page)[1]["features"][0]["geometry"]
    assert shapely.geometry.shape(first).bounds == pytest.approx((10, 45, 10.5, 45.4), abs=1e-5)


def test_large_runs_add_clickable_circles_sized_by_area(tmp_path, monkeypatch):
    monkeypatch.setattr(webmap, "POLYGON_LIMIT", 3)
    cities = _cities()
    cities["area_km2"] = [10.0, 40.0, 90.0, 160.0]
    page = webmap.write_webmap(cities, tmp_path / "map.html", basemap=False).read_text()
    circles = _geojson_layers(page)[-1]["features"]
    assert {f["geometry"]["type"] for f in circles} == {"Point"}
    radius = {f["properties"]["id"]: f["properties"]["style"]["radius"] for f in circles}
    # radius ∝ sqrt(area): circle area ∝ city area (none clipped at these sizes)
    assert radius["1"] / radius["0"] == pytest.approx(2.0) and radius["3"] / radius["0"] == pytest.approx(4.0)
    assert [f["properties"]["id"] for f in circles] == ["3", "2", "1", "0"]  # large first, small on top
    assert all(f["properties"]["style"]["fill"] for f in circles)
    assert "circles, area \\u221d city\\u0027s: 4" in page  # a layer of its own (as folium escapes it)
