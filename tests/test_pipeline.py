"""The whole pipeline end to end: the demo against planted truth, the CLI on real files, bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner

import nightlight
from nightlight.cli import main
from nightlight.outputs import read_metadata
from nightlight.synthetic import make_world
from nightlight.synthetic.validate import score_against_truth


@pytest.mark.slow
def test_demo_reaches_precision_and_recall_on_the_default_world(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].endswith("natural cities shrank (≥10% decline)")
    score = json.loads((out / "score.json").read_text())
    assert score["precision"] >= 0.95 and score["recall"] >= 0.95, score
    assert score["truth_shrinking"] >= 20  # the default world plants enough to mean something
    for name in ("cities.parquet", "summary.csv", "map.html", "map.png"):
        assert (out / name).stat().st_size > 0
    cities = gpd.read_parquet(out / "cities.parquet")
    assert {"city_id", "light_before", "light_after", "change", "shrinking", "geometry"} <= set(cities.columns)
    n, m = int(cities["shrinking"].sum()), len(cities)
    assert lines[0] == f"{n} of {m} natural cities shrank (≥10% decline)"
    meta = read_metadata(out / "cities.parquet")
    assert meta["natural_cities"]["min_area_km2"] == 5.0 and meta["min_decline"] == 0.10


def test_scoring_can_fail_when_the_detector_is_wrong():
    world = make_world(seed=1)
    truth = world.truth[world.truth["expected_natural_city"] & ~world.truth["is_flare"]]
    fake = gpd.GeoDataFrame(
        {
            "city_id": truth["city_id"].to_numpy(),
            "change": -truth["true_change"].to_numpy(),
            "shrinking": (-truth["true_change"] <= -0.10).to_numpy(),
        },
        geometry=gpd.points_from_xy(truth["lon"], truth["lat"]).buffer(0.01),
        crs="EPSG:4326",
    )
    score = score_against_truth(fake, world.truth)
    assert score["precision"] < 0.5 and score["recall"] < 0.5


@pytest.mark.realdata
def test_cli_refuses_misaligned_real_grids_and_writes_nothing(shared_file, tmp_path):
    b = shared_file("china-dmsplike-1km", "DMSP-like2019.tif")
    a = shared_file("china-dmsplike-1km", "DMSP-like2020.tif")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["detect", str(b), str(a), "--out", str(out), "--lit-threshold", "10"])
    assert res.exit_code != 0
    assert "not on the same pixel grid" in res.output and "--align" in res.output
    assert not (out / "cities.parquet").exists()


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_detect_on_real_shanghai_viirs_like(shared_file, tmp_path):
    b = shared_file("shanghai-viirs-like", "annual", "NTL_Shanghai_2000_2020_2013.tif")
    a = shared_file("shanghai-viirs-like", "annual", "NTL_Shanghai_2000_2020_2016.tif")
    res = CliRunner().invoke(main, ["detect", str(b), str(a), "--out", str(tmp_path), "--lit-threshold", "10"])
    assert res.exit_code == 0, res.output
    cities = gpd.read_parquet(tmp_path / "cities.parquet")
    direct = nightlight.extract_natural_cities(nightlight.open_mosaic(b), lit_threshold=10)
    assert len(cities) == len(direct) > 0
    # Polygon sums (zonal) equal the labeling pass's own per-component sums.
    np.testing.assert_allclose(np.sort(cities["light_before"]), np.sort(direct["light"]), rtol=1e-5)


def test_cli_bad_raster_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_text("nope")
    res = CliRunner().invoke(main, ["detect", str(junk), str(junk), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "junk.tif" in res.output and "cannot be opened as a raster" in res.output


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_preprocess_steps_are_applied_and_recorded(shared_file, tmp_path):
    b = shared_file("shanghai-viirs-like", "annual", "NTL_Shanghai_2000_2020_2013.tif")
    a = shared_file("shanghai-viirs-like", "annual", "NTL_Shanghai_2000_2020_2016.tif")
    args = ["detect", str(b), str(a), "--lit-threshold", "10"]
    plain = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "plain")])
    floored = CliRunner().invoke(
        main, [*args, "--out", str(tmp_path / "floor"), "--preprocess", "noise_floor=30", "--allow-common-shift"]
    )
    assert plain.exit_code == 0 and floored.exit_code == 0, floored.output
    meta = read_metadata(tmp_path / "floor" / "cities.parquet")
    steps = meta["preprocess"][0]["steps"]
    assert [s["step"] for s in steps] == ["noise_floor"] and steps[0]["params"] == 30
    p = gpd.read_parquet(tmp_path / "plain" / "cities.parquet")
    f = gpd.read_parquet(tmp_path / "floor" / "cities.parquet")
    # A 30 nW/cm²/sr floor zeroes the dim edges: less light, fewer or smaller cities.
    assert f["light_before"].sum() < p["light_before"].sum()


@pytest.mark.slow
def test_detect_region_equals_detect_on_files_cropped_by_rasterio(tmp_path):
    import rasterio
    import rasterio.windows

    world = make_world(seed=2, bounds=(10.0, 44.0, 12.0, 45.5), chunks=256)
    files = world.write_geotiffs(tmp_path / "m")
    box = (10.5, 44.25, 11.75, 45.25)
    cropped = {}
    for y, path in files.items():  # the independent crop: a rasterio window from the same bounds
        with rasterio.open(path) as src:
            win = rasterio.windows.from_bounds(*box, transform=src.transform).round_offsets().round_lengths()
            profile = {**src.profile, "height": win.height, "width": win.width, "transform": src.window_transform(win)}
            cropped[y] = tmp_path / f"crop_{y}.tif"
            with rasterio.open(cropped[y], "w", **profile) as dst:
                dst.write(src.read(window=win))
    y0, y1 = world.years[0], world.years[-1]
    lit = str(world.lit_threshold)
    run = CliRunner().invoke
    a = run(main, ["detect", str(files[y0]), str(files[y1]), "--out", str(tmp_path / "a"), "--lit-threshold", lit,
                   "--region", ",".join(map(str, box))])  # fmt: skip
    b = run(main, ["detect", str(cropped[y0]), str(cropped[y1]), "--out", str(tmp_path / "b"), "--lit-threshold", lit])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    ta, tb = gpd.read_parquet(tmp_path / "a" / "cities.parquet"), gpd.read_parquet(tmp_path / "b" / "cities.parquet")
    assert len(ta) == len(tb) > 3
    np.testing.assert_allclose(ta["light_before"], tb["light_before"], rtol=1e-12)
    assert ta["shrinking"].tolist() == tb["shrinking"].tolist()
    bad = run(main, ["detect", str(files[y0]), str(files[y1]), "--out", str(tmp_path / "c"), "--region", "1,2,3"])
    assert bad.exit_code == 2 and "WEST,SOUTH,EAST,NORTH" in bad.output
