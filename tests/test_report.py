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


def test_write_outputs_files_metadata_and_no_temp_left(tmp_path):
    res = result_frame()
    paths = report.write_outputs(res, tmp_path / "out", metadata={"command": "nightlight run", "n": np.int64(3)})
    assert set(paths) == {"cities", "summary", "map", "histogram"}
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == [
        "cities.parquet",
        "histogram.png",
        "map.png",
        "summary.csv",
    ]
    meta = report.read_metadata(paths["cities"])
    assert meta["command"] == "nightlight run" and meta["n"] == 3 and meta["threshold"] == 0.10
    back = gpd.read_parquet(paths["cities"])
    assert back.crs.to_epsg() == 4326 and list(back["city_id"]) == list(res["city_id"])
    assert json.loads(back["Parent"][0]) == {"adcode": 1}
    csv = pd.read_csv(paths["summary"])
    assert list(csv.columns[:3]) == ["city_id", "status", "light_before"] and csv["shrinking"].sum() == 2
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
