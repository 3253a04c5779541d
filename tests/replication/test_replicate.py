"""Replication on real data, cropped to the Northeast so it fits the CI budget.

Counts are pinned (a regression in any stage — reading, alignment, labeling, area,
sums, classification — moves them) and checked against independent references:
scipy labeling for the cities and their sums, a hand-written overlap-weighted shift
for the alignment of 2021 onto the base year's grid (what the batch engine does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from scipy import ndimage

from nightlight import replication as R
from nightlight.batch.run import open_years
from nightlight.grid import Grid
from nightlight.replication.china import china_change, china_studies
from nightlight.replication.params import read_provinces
from nightlight.replication.sensitivity import classify_change
from nightlight.replication.studies import run_study, variant
from tests.helpers.realdata import real_file

# real data, and each test runs a whole study: `pytest -m "not slow"` leaves them out (CONTRIBUTING.md)
pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: The files the catalog's ``china-dmsplike-1km`` names (read here with rasterio, not through nightlight).
CHINA_FILES = {
    2018: "china-dmsplike-1km/DMSP-like2018.tif",
    2019: "china-dmsplike-1km/DMSP-like2019.tif",
    2020: "china-dmsplike-1km/DMSP-like2020.tif",
    2021: "china-dmsplike-1km/DMSP_like2021.tif",
}
NE = R.WINDOWS["northeast"]

# Pinned from `nightlight replicate --window northeast` (the study configurations).
NE_PINNED = {  # pair: (natural cities, shrinking)
    2018: (592, 252),  # 111 before the pairs ran through the batch engine (see docs/replication.md)
    2019: (643, 359),  # 191 before
    2020: (502, 84),
}


@pytest.fixture(scope="module")
def data_dir(shared_data):
    for rel in CHINA_FILES.values():
        real_file(shared_data, *rel.split("/"))
    return shared_data


@pytest.fixture(scope="module")
def ne_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "replication"
    res = R.run_replication(
        out,
        work_dir=out.parent / "work",
        data_dir=data_dir,
        window="northeast",
        sensitivity=False,
        national=False,  # the national section has its own tests (test_replicate_national.py)
        command="nightlight replicate --out replication --window northeast --no-sensitivity --no-national",
    )
    return out, res


# ------------------------------------------------------------------ no data needed
def test_classify_change_counts_an_exact_ten_percent_drop_as_shrinking():
    # 60 → 54 DN is exactly −10 %; 54/60 − 1 is one ulp above −0.1 in floating point.
    cities = pd.DataFrame(
        {
            "city_id": [1, 2, 3],
            "n_pixels": [6, 6, 6],
            "light": [60.0, 60.0, 30.0],
            "light_after": [54.0, 55.0, 10.0],
            "n_valid_after": [6, 6, 5],
        }
    )
    out = classify_change(cities, decline=0.10, dark_floor=7.0)
    assert out["change"].iloc[0] == -0.1
    assert out["shrinking"].tolist() == [True, False, False]
    assert out["status"].tolist() == ["ok", "ok", "no_data"]  # city 3 lacks a target-year pixel


# ------------------------------------------------------------------ real data
def _read(data_dir, year: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    with rasterio.open(data_dir / CHINA_FILES[year]) as src:
        fill = src.nodata if src.nodata is not None else 0  # past the file's edge (the Northeast box reaches it)
        a = src.read(1, window=((rows[0], rows[1]), (cols[0], cols[1])), boundless=True, fill_value=fill)
        a = a.astype(np.float64)
        return np.where(a == src.nodata, np.nan, a) if src.nodata is not None else a


def test_2021_on_the_2018_grid_is_the_overlap_weighted_shift(data_dir, tmp_path):
    config = china_studies(NE)[2018]
    mos = open_years(config, {}, tmp_path)
    crop = Grid.of(mos[2018])
    h, w = crop.shape
    # 2018's origin is 143.94 m east and 334.23 m south of 2021's: 2018 pixel (r, c) covers
    # 2021 pixels (r..r+1, c..c+1) with weights (1 − fy, fy) × (1 − fx, fx).
    with rasterio.open(data_dir / CHINA_FILES[2021]) as src, rasterio.open(data_dir / CHINA_FILES[2018]) as b:
        fx, fy = (b.transform.c - src.transform.c) / 1000.0, (src.transform.f - b.transform.f) / 1000.0
        r0 = round((b.transform.f - crop.transform.f) / 1000.0)
        c0 = round((crop.transform.c - b.transform.c) / 1000.0)
    assert fx == pytest.approx(0.14394, abs=1e-5) and fy == pytest.approx(0.33423, abs=1e-5)
    t = _read(data_dir, 2021, (r0, r0 + h + 1), (c0, c0 + w + 1))
    ref = (
        (1 - fy) * (1 - fx) * t[:-1, :-1]
        + (1 - fy) * fx * t[:-1, 1:]
        + fy * (1 - fx) * t[1:, :-1]
        + fy * fx * t[1:, 1:]
    )
    got = mos[2021].values
    ok = np.isfinite(ref)
    # the last row's footprint reaches one row past the box: the input boundary reads a year it
    # resamples beyond the box, so that row gets its whole footprint too (it once did not)
    assert ok.mean() > 0.99
    np.testing.assert_allclose(got[ok], ref[ok], atol=1e-4)


def test_northeast_2020_2021_matches_scipy_reference(data_dir, tmp_path):
    config = china_studies(NE)[2020]
    res, rec = china_change(config, tmp_path, "pair")
    g = Grid.of(open_years(config, {}, tmp_path / "a")[2020])
    with rasterio.open(data_dir / CHINA_FILES[2020]) as src:
        r0, c0 = round((src.transform.f - g.transform.f) / 1000.0), round((g.transform.c - src.transform.c) / 1000.0)
    h, w = g.shape
    base = _read(data_dir, 2020, (r0, r0 + h), (c0, c0 + w))
    after = _read(data_dir, 2021, (r0, r0 + h), (c0, c0 + w))
    labels, n = ndimage.label(base >= 10, structure=np.ones((3, 3)))
    idx = np.arange(1, n + 1)
    npx = ndimage.sum_labels(np.ones_like(base), labels, idx)
    keep = npx > 5  # Albers equal-area, 1 km pixels: 1 km² each
    sb = ndimage.sum_labels(np.nan_to_num(base), labels, idx)[keep]
    sa = ndimage.sum_labels(np.nan_to_num(after), labels, idx)[keep]
    assert rec["cities"] == int(keep.sum()) and rec["aligned"] is None
    assert rec["shrinking"] == int(((sa - sb) / sb <= -0.10).sum())
    np.testing.assert_allclose(np.sort(res["light_before"].to_numpy()), np.sort(sb))
    np.testing.assert_allclose(np.sort(res["light_after"].to_numpy()), np.sort(sa))


def test_northeast_counts_are_pinned(ne_run):
    _, res = ne_run
    for y, (cities, shrinking) in NE_PINNED.items():
        r = res["china"][f"{y}→2021"]
        assert (r["cities"], r["shrinking"]) == (cities, shrinking), f"{y}→2021 moved: {r}"
        assert r["classified"] == cities
    for y in (2018, 2019):  # the base year's origin minus 2021's, metres (the report's "shifted by")
        al = res["china"][f"{y}→2021"]["aligned"]
        assert (al["offset_x_m"], al["offset_y_m"]) == (
            pytest.approx(143.94, abs=0.01),
            pytest.approx(-334.23, abs=0.01),
        )
    assert res["china"]["2020→2021"]["aligned"] is None and res["china_nodata"] == {
        "2018": None,
        "2019": None,
        "2020": None,
        "2021": -128.0,
    }


def test_northeast_resource_cities_found_and_classified(ne_run):
    _, res = ne_run
    for pair, recs in res["places"].items():
        t = pd.DataFrame(recs).set_index("name")
        assert set(t.index) == {"Hegang", "Yichun", "Jixi", "Shuangyashan", "Qitaihe", "Fuxin"}
        assert (t["match"] == "inside").all(), f"{pair}: a place is not inside a lit natural city"
    q = {k: pd.DataFrame(v).set_index("name").loc["Qitaihe"] for k, v in res["places"].items()}
    assert all(bool(r["shrinking"]) for r in q.values())
    assert q["2018→2021"]["change"] == pytest.approx(-0.2168, abs=5e-4)
    hegang = pd.DataFrame(res["places"]["2020→2021"]).set_index("name").loc["Hegang"]
    assert hegang["change"] == pytest.approx(0.1628, abs=5e-4) and not hegang["shrinking"]


def test_provinces_are_lonlat_gbk_and_on_china(data_dir, ne_run):
    prov = read_provinces(data_dir)
    assert prov.crs.to_epsg() == 4326
    assert {"黑龙江省", "上海市", "广东省"} <= set(prov["NAME"])
    _, res = ne_run
    t = pd.DataFrame(res["provinces_2018_2021"]).set_index("NAME")
    assert t["cities"].sum() == NE_PINNED[2018][0]
    assert t.loc["黑龙江省", "cities"] > 100


def test_shanghai_2013_2016_pinned(ne_run):
    _, res = ne_run
    sh = res["shanghai"]
    assert sh["lit_threshold"] == pytest.approx(17.08, abs=0.01)
    assert (sh["light"]["cities"], sh["light"]["shrinking"]) == (15, 6)
    assert (sh["mgup"]["cities"], sh["mgup"]["classified"], sh["mgup"]["shrinking"]) == (16, 15, 2)
    assert (sh["districts"]["cities"], sh["districts"]["shrinking"], sh["districts"]["significant_decline"]) == (
        16,
        4,
        1,
    )
    assert len(sh["series_total"]) == 21


def test_report_is_written_from_the_run(ne_run):
    out, res = ne_run
    md = out.with_name(out.name + ".md").read_text(encoding="utf-8")
    r = res["china"]["2018→2021"]
    assert f"| **this run**, DMSP-like 2018→2021 | {r['cities']:,} | {r['shrinking']:,} |" in md
    assert "798" in md and "938" in md and "--window northeast" in md
    for png in ("china_2018_2021.png", "change_hist.png", "shanghai_series.png"):
        assert (out / png).stat().st_size < 300_000


def test_sensitivity_moves_counts_in_the_expected_direction(data_dir, tmp_path):
    # Higher lit threshold → fewer cities; 4-connectivity → at least as many.
    config = china_studies(NE)[2020]
    n = {}
    for name, change in (("base", {}), ("hi", {"lit_threshold": 13.0}), ("c4", {"connectivity": 4})):
        result, _ = run_study(variant(config, **change), tmp_path, name)
        n[name] = len(result.pairs[2021])
    assert n["hi"] < n["base"] <= n["c4"]


def test_an_unknown_study_names_the_file_and_the_known_ones():
    from nightlight.errors import ParameterError
    from nightlight.replication.studies import load_study

    with pytest.raises(ParameterError, match=r"atlantis\.toml: no such study .*national-viirslike-2013-2016"):
        load_study("atlantis")
    # the study's published figures sit in the same folder but are not a study
    with pytest.raises(ParameterError, match=r"jiang2020\.toml: no such study") as err:
        load_study("jiang2020")
    assert "jiang2020" not in str(err.value).split("the catalog has")[1]


def test_the_china_studies_are_batch_configurations_of_catalog_names():
    for y, config in china_studies().items():
        assert (config.base, config.compare) == (y, (2021,))
        assert config.inputs == {y: f"china-dmsplike-1km:{y}", 2021: "china-dmsplike-1km:2021"}
        p = config.params
        assert (p.lit_threshold, p.min_area_km2, p.connectivity, p.min_decline, p.dark_floor) == (
            10.0,
            5.0,
            8,
            0.1,
            7.0,
        )


def test_cli_replicate_refuses_an_unknown_window():
    from click.testing import CliRunner

    from nightlight.cli import main

    r = CliRunner().invoke(main, ["replicate", "--out", "unused", "--window", "atlantis"])
    assert r.exit_code != 0 and "northeast" in r.output


def test_cli_replicate_northeast_writes_report(data_dir, tmp_path):
    from click.testing import CliRunner

    from nightlight.cli import main

    out = tmp_path / "rep"
    r = CliRunner().invoke(
        main,
        [
            "replicate",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--window",
            "northeast",
            "--no-sensitivity",
            "--no-national",
        ],
    )
    assert r.exit_code == 0, r.output
    cities, shrinking = NE_PINNED[2018]
    assert f"China DMSP-like 2018→2021: {shrinking} of {cities} natural cities shrank" in r.output
    assert (tmp_path / "rep.md").exists() and (out / "results.json").exists()
