"""Writers (atomic, metadata round trip), figures and summaries."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from nightlight import outputs as report


def result_frame(n=6):
    rng = np.random.default_rng(0)
    geoms = [shapely.box(10 + i, 40, 10.8 + i, 40.8) for i in range(n)]
    before = rng.uniform(100, 200, n)
    change = np.array([-0.3, -0.12, -0.05, 0.1, 0.2, np.nan])[:n]
    status = ["ok"] * (n - 1) + ["outside"]
    gdf = gpd.GeoDataFrame(
        {
            "city_id": [f"c{i}" for i in range(n)],
            "light_before": before,
            "light_after": before * (1 + np.nan_to_num(change)),
            "change": change,
            "shrinking": np.nan_to_num(change) <= -0.10,
            "status": status,
            "province": ["A", "A", "B", "B", "B", "C"][:n],
            "Parent": [{"adcode": 1}] * n,  # dict column as in the Shanghai shapefile
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    gdf.attrs["nightlight"] = {"threshold": 0.10, "grid": {"crs": "EPSG:4326"}}
    return gdf


@pytest.mark.slow
def test_write_outputs_files_metadata_and_no_temp_left(tmp_path):
    res = result_frame()
    paths = report.write_outputs(res, tmp_path / "out", metadata={"command": "nightlight run", "n": np.int64(3)})
    assert set(paths) == {"cities", "summary", "webmap", "map", "histogram"}
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == [
        "cities.parquet",
        "histogram.png",
        "map.html",
        "map.png",
        "summary.csv",
    ]
    meta = report.read_metadata(paths["cities"])
    assert meta["command"] == "nightlight run" and meta["n"] == 3 and meta["threshold"] == 0.10
    back = gpd.read_parquet(paths["cities"])
    assert back.crs.to_epsg() == 4326 and list(back["city_id"]) == list(res["city_id"])
    assert json.loads(back["Parent"][0]) == {"adcode": 1}
    csv = pd.read_csv(paths["summary"])
    # the user's scalar columns follow the id (the dict column stays in the tables), then the place
    assert list(csv.columns[:5]) == ["city_id", "province", "lon", "lat", "status"] and csv["shrinking"].sum() == 2
    assert paths["map"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    res = result_frame()

    def boom(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", boom)
    with pytest.raises(KeyboardInterrupt):
        report.write_geoparquet(res, tmp_path / "cities.parquet")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rewrite_keeps_previous_file(tmp_path, monkeypatch):
    res = result_frame()
    path = report.write_csv(res, tmp_path / "s.csv")
    before = path.read_bytes()
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        report.write_csv(res.iloc[:2], path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["s.csv"]


def test_geopackage_and_csv_with_wkt(tmp_path):
    res = result_frame()
    g = gpd.read_file(report.write_geopackage(res, tmp_path / "c.gpkg"))
    assert len(g) == len(res) and g.crs.to_epsg() == 4326
    c = pd.read_csv(report.write_csv(res, tmp_path / "c.csv", geometry=True))
    assert shapely.from_wkt(c["geometry"][0]).equals(res.geometry[0])


def test_summarize_by_column_and_overall():
    res = result_frame()
    t = report.summarize(res, "province")
    assert t.loc["A", "shrinking"] == 2 and t.loc["A", "share_shrinking"] == 1.0
    assert t.loc["B", "shrinking"] == 0 and t.loc["C", "classified"] == 0 and np.isnan(t.loc["C", "share_shrinking"])
    a = res[res.province == "A"]
    assert t.loc["A", "change"] == pytest.approx(a.light_after.sum() / a.light_before.sum() - 1)
    overall = report.summarize(res)
    assert overall["cities"].iloc[0] == 6 and overall["shrinking"].iloc[0] == 2


def test_summarize_by_polygon_layer(tmp_path):
    res = result_frame()
    prov = gpd.GeoDataFrame(
        {"pname": ["west", "east"]},
        geometry=[shapely.box(9, 39, 12.9, 42), shapely.box(12.9, 39, 20, 42)],
        crs="EPSG:4326",
    )
    path = tmp_path / "prov.gpkg"
    prov.to_crs("EPSG:3857").to_file(path)  # another CRS: reprojected on read
    t = report.summarize(res, path, name_column="pname")
    assert t.loc["west", "cities"] == 3 and t.loc["east", "cities"] == 3
    assert t.loc["west", "shrinking"] == 2
    with pytest.raises(Exception, match="name_column"):
        report.summarize(res, prov)


def test_summary_places_each_city_in_lon_lat_in_any_crs():
    """Old: summary.csv had no location (city 497 needed a GIS to find)."""
    res = result_frame()
    for frame in (res, res.to_crs("EPSG:3857")):  # geographic and projected results
        t = report.summary_table(frame)
        # the boxes' centres, independent of how the centroid is taken (equal-area: latitude within 0.01°)
        np.testing.assert_allclose(t["lon"], 10.4 + np.arange(6), atol=1e-5)
        np.testing.assert_allclose(t["lat"], 40.4, atol=0.01)
    empty = res.copy()
    empty.loc[0, "geometry"] = shapely.Polygon()
    t = report.summary_table(empty)
    assert np.isnan(t.loc[0, "lon"]) and t.loc[1, "lon"] == pytest.approx(11.4)


@pytest.mark.slow
def test_gpkg_format_beside_parquet_and_unknown_format_refused(tmp_path):
    res = result_frame()
    paths = report.write_outputs(res, tmp_path / "out", metadata={}, formats=("parquet", "gpkg"))
    import pyogrio

    back = pyogrio.read_dataframe(paths["gpkg"])
    assert list(back["city_id"]) == list(res["city_id"]) and back.crs.to_epsg() == 4326
    assert back.geometry.geom_equals_exact(res.geometry, tolerance=1e-9).all()
    from nightlight.errors import ParameterError

    with pytest.raises(ParameterError, match="known table formats are parquet, gpkg"):
        report.write_outputs(res, tmp_path / "o2", metadata={}, formats=("shp",))


@pytest.mark.slow
def test_map_png_symbols_for_large_runs_polygons_for_small(tmp_path, monkeypatch):
    """Old: 1,807 tiny black-outlined polygons. Large runs are drawn as proportional symbols."""
    from nightlight.outputs import figures

    calls = []
    monkeypatch.setattr(figures, "_symbols", lambda *a: calls.append(len(a[1])) or [])
    res = result_frame()
    figures.plot_map(res, tmp_path / "small.png")
    assert calls == []  # 6 cities: their polygons
    monkeypatch.setattr(figures, "POLYGON_LIMIT", 5)
    figures.plot_map(
        res, tmp_path / "large.png", outlines=gpd.GeoDataFrame(geometry=[shapely.box(9, 39, 17, 42)], crs=4326)
    )
    assert calls == [6]


def test_change_colours_diverge_around_zero_and_grey_when_not_measured():
    from nightlight.outputs.figures import NOT_CLASSIFIED, change_colours

    down, flat_down, flat_up, up, missing = change_colours([-0.35, -0.05, 0.05, 0.35, np.nan])
    rgb = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in (down, flat_down, flat_up, up)]
    assert rgb[0][0] > rgb[0][2] and rgb[3][2] > rgb[3][0]  # red for decline, blue for growth
    assert all(min(c) > 200 for c in rgb[1:3])  # near zero: pale
    assert missing == NOT_CLASSIFIED
    assert change_colours([-0.36])[0] == down and change_colours([-0.41])[0] != down  # 10-point classes
