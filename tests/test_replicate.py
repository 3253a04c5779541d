"""Replication on real data, cropped to the Northeast so it fits the CI budget.

Counts are pinned (a regression in any stage — reading, alignment, labeling, area,
sums, classification — moves them) and checked against independent references:
scipy labeling for the cities and their sums, a hand-written overlap-weighted shift
for the alignment, ``detect_shrinking`` for the per-city change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import real_file
from scipy import ndimage

import nightlight
from nightlight import replication as R
from nightlight.errors import UnitsError
from nightlight.grid import Grid

# real data, and each test runs a whole study: `pytest -m "not slow"` leaves them out (CONTRIBUTING.md)
pytestmark = [pytest.mark.realdata, pytest.mark.slow]

# Pinned from `nightlight replicate --window northeast` (Params() defaults).
NE_PINNED = {  # pair: (natural cities, shrinking)
    2018: (592, 111),
    2019: (643, 191),
    2020: (502, 84),
}


@pytest.fixture(scope="module")
def data_dir(shared_data):
    for rel in R.CHINA_FILES.values():
        real_file(shared_data, *rel.split("/"))
    return shared_data


@pytest.fixture(scope="module")
def ne_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "replication"
    res = R.run_replication(
        out,
        data_dir=data_dir,
        window="northeast",
        sensitivity=False,
        national=False,  # the national section has its own tests (test_replicate_national.py)
        command="nightlight replicate --out replication --window northeast --no-sensitivity --no-national",
    )
    return out, res


# ------------------------------------------------------------------ no data needed
def test_check_dmsp_dn_refuses_values_outside_0_63():
    da = xr.DataArray(np.array([[0.0, 63.0], [np.nan, 70.0]], np.float32), dims=("y", "x")).chunk(1)
    checked = R.check_dmsp_dn(da, name="fake.tif")
    with pytest.raises(UnitsError, match="fake.tif"):
        checked.compute()
    ok = R.check_dmsp_dn(xr.DataArray(np.array([[0.0, 63.0], [np.nan, 12.0]], np.float32), dims=("y", "x")).chunk(1))
    np.testing.assert_array_equal(ok.values, [[0, 63], [np.nan, 12]])


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
    out = R.classify_change(cities, decline=0.10, dark_floor=7.0)
    assert out["change"].iloc[0] == -0.1
    assert out["shrinking"].tolist() == [True, False, False]
    assert out["status"].tolist() == ["ok", "ok", "no_data"]  # city 3 lacks a target-year pixel


def test_md_table_renders_rows():
    t = R.md_table(pd.DataFrame({"a": [1, 2000], "b": [0.12345, float("nan")], "c": [True, None]}))
    assert t.splitlines() == ["| a | b | c |", "|---|---|---|", "| 1 | 0.123 | yes |", "| 2,000 | – | – |"]


# ------------------------------------------------------------------ real data
def test_alignment_nearest_reindexes_and_average_matches_overlap_weights(data_dir):
    base = R.open_china_year(data_dir, 2018)
    target = R.open_china_year(data_dir, 2021)
    off = Grid.of(target).offset_to(Grid.of(base))  # base's origin minus target's
    dx, dy = off.dx, off.dy
    assert dx == pytest.approx(143.94, abs=0.01) and dy == pytest.approx(-334.23, abs=0.01)
    mask, light, tc, rec = R.china_inputs(data_dir, 2018, 2021, window="northeast")
    r0, c0, h, w = rec["window_px"]
    src = base.isel(y=slice(r0 - 1, r0 + h), x=slice(c0 - 1, c0 + w)).values.astype(np.float64)
    # Shift < ½ pixel on both axes: nearest takes pixel (r, c) of the base grid for (r, c) of the target grid.
    np.testing.assert_array_equal(mask.values, src[1:, 1:])
    # Average = overlap-weighted mean of the 4 base pixels a shifted target pixel covers.
    fx, fy = dx / 1000.0, -dy / 1000.0
    ref = (
        fy * fx * src[:-1, :-1]
        + fy * (1 - fx) * src[:-1, 1:]
        + (1 - fy) * fx * src[1:, :-1]
        + (1 - fy) * (1 - fx) * src[1:, 1:]
    )
    np.testing.assert_allclose(light.values, ref, atol=1e-5)
    nightlight.require_same_grid(mask, tc)


def test_northeast_2020_2021_matches_scipy_reference(data_dir):
    res, rec = R.china_change(data_dir, 2020, 2021, window="northeast")
    r0, c0, h, w = rec["window_px"]
    crop = dict(y=slice(r0, r0 + h), x=slice(c0, c0 + w))
    base = R.open_china_year(data_dir, 2020).isel(**crop).values
    after = R.open_china_year(data_dir, 2021).isel(**crop).values
    labels, n = ndimage.label(base >= 10, structure=np.ones((3, 3)))
    idx = np.arange(1, n + 1)
    npx = ndimage.sum_labels(np.ones_like(base), labels, idx)
    keep = npx > 5  # Albers equal-area, 1 km pixels: 1 km² each
    sb = ndimage.sum_labels(np.nan_to_num(base), labels, idx)[keep]
    sa = ndimage.sum_labels(np.nan_to_num(after), labels, idx)[keep]
    assert rec["cities"] == int(keep.sum())
    assert rec["shrinking"] == int(((sa - sb) / sb <= -0.10).sum())
    np.testing.assert_allclose(np.sort(res["light_before"].to_numpy()), np.sort(sb))
    np.testing.assert_allclose(np.sort(res["light_after"].to_numpy()), np.sort(sa))


def test_northeast_counts_are_pinned(ne_run):
    _, res = ne_run
    for y, (cities, shrinking) in NE_PINNED.items():
        r = res["china"][f"{y}→2021"]
        assert (r["cities"], r["shrinking"]) == (cities, shrinking), f"{y}→2021 moved: {r}"
        assert r["classified"] == cities
    assert res["native_counts"] == {str(y): c for y, (c, _) in NE_PINNED.items()}  # nearest keeps every city


def test_northeast_resource_cities_found_and_classified(ne_run):
    _, res = ne_run
    for pair, recs in res["places"].items():
        t = pd.DataFrame(recs).set_index("name")
        assert set(t.index) == {"Hegang", "Yichun", "Jixi", "Shuangyashan", "Qitaihe", "Fuxin"}
        assert (t["match"] == "inside").all(), f"{pair}: a place is not inside a lit natural city"
    q = {k: pd.DataFrame(v).set_index("name").loc["Qitaihe"] for k, v in res["places"].items()}
    assert all(bool(r["shrinking"]) for r in q.values())
    assert q["2018→2021"]["change"] == pytest.approx(-0.1959, abs=5e-4)
    hegang = pd.DataFrame(res["places"]["2020→2021"]).set_index("name").loc["Hegang"]
    assert hegang["change"] == pytest.approx(0.1628, abs=5e-4) and not hegang["shrinking"]


def test_labeling_sums_agree_with_detect_shrinking(ne_run):
    _, res = ne_run
    for c in res["crosscheck"]:
        assert c["cities_checked"] >= 100
        assert c["max_abs_change_diff"] < 1e-9
        assert c["same_shrinking"]


def test_provinces_are_lonlat_gbk_and_on_china(data_dir, ne_run):
    prov = R.read_provinces(data_dir)
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


def test_sensitivity_moves_counts_in_the_expected_direction(data_dir):
    # Higher lit threshold → fewer cities; dropping the area rule → more; 4-connectivity → at least as many.
    base = R.china_change(data_dir, 2020, 2021, window="northeast")[1]["cities"]
    hi = R.china_change(data_dir, 2020, 2021, window="northeast", params=R.Params(lit_dn=13))[1]["cities"]
    c4 = R.china_change(data_dir, 2020, 2021, window="northeast", params=R.Params(connectivity=4))[1]["cities"]
    assert hi < base <= c4


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
