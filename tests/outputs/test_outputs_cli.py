"""What a run writes for a person: detect --format gpkg, map.html, summary lon/lat, column descriptions
that agree with the docs, and `nightlight map RESULT`."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from nightlight.cli import main
from nightlight.outputs import read_column_descriptions
from nightlight.outputs.glossary import COLUMNS, STATUSES, describe, user_columns
from nightlight.outputs.webmap import page_is_offline
from nightlight.synthetic import make_world

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One small detect run with --format gpkg."""
    tmp = tmp_path_factory.mktemp("run")
    world = make_world(seed=2, bounds=(10.0, 44.0, 12.0, 45.5), chunks=256, n_cities=30)
    files = world.write_geotiffs(tmp / "m")
    y0, y1 = world.years[0], world.years[-1]
    out = tmp / "out"
    args = ["detect", str(files[y0]), str(files[y1]), "--out", str(out), "--lit-threshold", str(world.lit_threshold)]
    res = CliRunner().invoke(main, [*args, "--format", "gpkg"])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.slow
def test_detect_writes_the_maps_and_a_geopackage_listed_in_the_manifest(run):
    files = json.loads((run / "manifest.json").read_text())["files"]
    for name in ("cities.parquet", "cities.gpkg", "summary.csv", "map.html", "map.png", "histogram.png"):
        assert name in files and (run / name).stat().st_size > 0
    assert page_is_offline((run / "map.html").read_text())
    parquet = gpd.read_parquet(run / "cities.parquet")
    gpkg = pyogrio.read_dataframe(run / "cities.gpkg")
    assert len(gpkg) == len(parquet) > 3 and gpkg["city_id"].tolist() == parquet["city_id"].tolist()
    assert gpkg.crs.to_epsg() == parquet.crs.to_epsg() == 4326
    assert gpkg.geometry.geom_equals(parquet.geometry).all()  # GDAL writes the layer as MultiPolygon
    np.testing.assert_allclose(gpkg["change"], parquet["change"])


@pytest.mark.slow
def test_summary_has_each_city_centroid_in_lon_lat(run):
    parquet = gpd.read_parquet(run / "cities.parquet")
    csv = pd.read_csv(run / "summary.csv")
    assert list(csv.columns[:3]) == ["city_id", "lon", "lat"]
    # the reference: centroids in UTM 32N metres (another projection: the centroid of these cities moves
    # < 5e-5° between it and summary's equal-area frame; taken in plain degrees it is up to 2.2e-4° off)
    ref = parquet.geometry.to_crs("EPSG:32632").centroid.to_crs("EPSG:4326")
    np.testing.assert_allclose(csv["lon"], ref.x, atol=5e-5)
    np.testing.assert_allclose(csv["lat"], ref.y, atol=5e-5)


@pytest.mark.slow
def test_every_column_a_run_writes_is_described_in_the_parquet_and_the_docs(run):
    parquet = gpd.read_parquet(run / "cities.parquet")
    described = read_column_descriptions(run / "cities.parquet")
    assert user_columns(parquet) == []  # nothing nightlight writes lacks a description
    assert set(described) == set(parquet.columns)
    assert described["change"] == COLUMNS["change"]
    docs = DOCS.read_text()
    for name, text in {**COLUMNS, **STATUSES}.items():
        assert f"| `{name}` | {text} |" in docs, name
    assert describe("change_2016") == f"{COLUMNS['change']} (year 2016)" and describe("province") is None
    for name in ("score.json", "item.json", "mosaics/", "manifest.json", "map.html", "cities.gpkg"):
        assert f"`{name}`" in docs


@pytest.mark.slow
def test_map_command_redraws_an_existing_result_with_outlines(run, tmp_path):
    regions = tmp_path / "regions.gpkg"
    gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=[shapely.box(9, 43, 11, 46), shapely.box(11, 43, 13, 46)],
                     crs="EPSG:4326").to_crs("EPSG:3857").to_file(regions)  # fmt: skip
    out = tmp_path / "maps"
    res = CliRunner().invoke(main, ["map", str(run), "--out", str(out), "--outlines", str(regions), "--no-basemap"])
    assert res.exit_code == 0, res.output
    page = (out / "map.html").read_text()
    assert "region outlines" in page and "openstreetmap" not in page.lower().replace("© openstreetmap", "")
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"
    again = CliRunner().invoke(main, ["map", str(run / "cities.gpkg"), "--out", str(tmp_path / "g")])
    assert again.exit_code == 0, again.output


@pytest.mark.slow
def test_map_command_errors_name_the_file_and_the_fix(run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["map", str(empty)])
    assert res.exit_code == 1 and "cities.parquet: no such file; pass a run's output folder" in res.output
    batch = tmp_path / "batch"
    (batch / "decline_2013_2016").mkdir(parents=True)
    gpd.read_parquet(run / "cities.parquet").drop(columns=["change"]).to_parquet(batch / "cities.parquet")
    res = CliRunner().invoke(main, ["map", str(batch)])
    assert res.exit_code == 1 and "not a decline table (no change column)" in res.output
    assert "decline_2013_2016" in res.output


def test_unknown_format_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["detect", "a.tif", "b.tif", "--out", str(tmp_path / "o"), "--format", "shp"])
    assert res.exit_code == 2 and "known table formats are parquet, gpkg" in res.output
    assert not (tmp_path / "o").exists()
