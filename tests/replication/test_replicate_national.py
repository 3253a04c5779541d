"""The national VIIRS-like section of ``nightlight replicate``, on the Northeast window of the real data.

Counts are pinned (a regression in reading, grids, labeling, area, sums, correction or
classification moves them) and checked against independent references: scipy
labeling of the window mask with pyproj geodesic pixel areas for the natural cities,
plain NumPy sums for the decline, a hand-written overlap-weighted shift for the
resampled 2012, scipy's Theil–Sen and FDR for the series, scipy's Spearman and
Fisher on the written prefecture table. The real data are skipped cleanly when absent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
from rasterio.windows import Window
from scipy import ndimage, stats

from nightlight.cities.natural import extract_natural_cities
from nightlight.io.raster import open_mosaic
from nightlight.replication import census as C
from nightlight.replication import national as N
from nightlight.replication.params import CENSUS_FILE, WINDOWS
from nightlight.replication.run import run_replication
from nightlight.replication.studies import load_study
from tests.helpers.realdata import real_file

#: The files the catalog's ``china-viirslike-8bit`` names (read here with rasterio, not through nightlight).
VIIRS_FILE = "china-viirslike-15s/{year}_8bit.tif"
VIIRS_YEARS = range(2012, 2023)

# the national run (real data, a module fixture of ~40 s): `pytest -m "not slow"` leaves it out (CONTRIBUTING.md)
pytestmark = pytest.mark.slow

# Pinned from `nightlight replicate --window northeast` (NationalParams() defaults).
NE_PINNED = {"cities": 135, "shrinking_raw": 50, "shrinking_corrected": 53, "prefectures": 29, "too_dark_default": 26}


# ------------------------------------------------------------------ no data needed
def test_association_matches_a_hand_table():
    light = np.array([-0.3, -0.2, -0.15, 0.1, 0.2, 0.05, -0.01, np.nan])
    pop = np.array([-0.1, -0.2, 0.05, 0.1, -0.05, 0.2, 0.3, 0.1])
    a = C.association(light, pop, decline=0.10)
    assert a["n"] == 7
    assert a["table"] == [[2, 1], [1, 3]]  # light ≤ −10 % × population fell
    odds, p = stats.fisher_exact([[2, 1], [1, 3]])
    assert a["odds_ratio"] == pytest.approx(odds) and a["fisher_p"] == pytest.approx(p)
    assert a["spearman_rho"] == pytest.approx(stats.spearmanr(light[:7], pop[:7])[0])


def test_trend_counts_against_scipy():
    rng = np.random.default_rng(3)
    years = list(range(2012, 2023))
    t = np.arange(11.0)
    light = np.vstack([100 - 3 * t + rng.normal(0, 1, 11) for _ in range(5)] + [100 + rng.normal(0, 5, (20, 11))])
    res = pd.DataFrame(light, columns=[f"light_{y}" for y in years])
    res["status"], res["shrinking"] = "ok", [True] * 3 + [False] * 22
    c = C.trend_counts(res, years, alpha=0.05)
    slopes = np.array([stats.theilslopes(row, years)[0] for row in light])
    assert c["down"] == int((slopes < 0).sum()) and c["tested"] == 25
    assert c["down_fdr"] >= 5 and c["shrinking_and_down_fdr"] == 3  # the five planted declines are found


def test_the_national_study_is_a_batch_configuration_of_catalog_names():
    config = load_study("national-viirslike-2013-2016")
    assert (config.base, config.compare, config.trend_years) == (2013, (2016,), tuple(VIIRS_YEARS))
    assert config.inputs[2013] == "china-viirslike-8bit:2013"  # a catalog name, not a path
    p = config.params
    assert (p.lit_threshold, p.min_area_km2, p.connectivity, p.min_decline) == ("headtail", 5.0, 8, 0.10)
    assert p.nodata is None and p.align == "average" and p.allow_common_shift and p.patterns


# ------------------------------------------------------------------ real data: the Northeast window
@pytest.fixture(scope="module")
def data_dir(shared_data):
    for y in VIIRS_YEARS:
        real_file(shared_data, *VIIRS_FILE.format(year=y).split("/"))
    real_file(shared_data, *CENSUS_FILE.split("/"))
    return shared_data


@pytest.fixture(scope="module")
def ne(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("nat") / "replication"
    res = run_replication(
        out,
        work_dir=out.parent / "work",
        data_dir=data_dir,
        window="northeast",
        sensitivity=False,
        shanghai=False,
        figures=False,
        command="nightlight replicate --out replication --window northeast --no-sensitivity",
    )
    return out, res


def _read(data_dir, year: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    with rasterio.open(data_dir / VIIRS_FILE.format(year=year)) as src:
        return src.read(1, window=Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])).astype(np.float64)


@pytest.fixture(scope="module")
def reference(data_dir, ne):
    """scipy components of the window mask, pyproj areas, NumPy sums: nothing from nightlight."""
    _, res = ne
    n = res["national"]
    r0, r1, c0, c1 = n["grids"]["window_px"]
    with rasterio.open(data_dir / VIIRS_FILE.format(year=2013)) as src:
        whole = src.read(1)
        t = src.transform
    lit = float(whole[whole > 0].mean())  # head/tail, first level, of the whole mosaic
    b, a = _read(data_dir, 2013, (r0, r1), (c0, c1)), _read(data_dir, 2016, (r0, r1), (c0, c1))
    labels, k = ndimage.label(b >= lit, structure=np.ones((3, 3)))
    geod = pyproj.Geod(ellps="WGS84")
    top = t.f + t.e * np.arange(r0, r1)
    row_km2 = np.array([abs(geod.polygon_area_perimeter([0, t.a, t.a, 0], [y, y, y + t.e, y + t.e])[0]) for y in top])
    idx = np.arange(1, k + 1)
    area = ndimage.sum_labels(np.broadcast_to(row_km2[:, None] / 1e6, b.shape), labels, idx)
    keep = area > 5.0
    return {
        "lit": lit,
        "area": area[keep],
        "before": ndimage.sum_labels(b, labels, idx)[keep],
        "after": ndimage.sum_labels(a, labels, idx)[keep],
        "labels": labels,
        "keep_ids": idx[keep],
        "window": (r0, r1, c0, c1),
    }


def test_natural_cities_match_scipy_and_pyproj(ne, reference):
    _, res = ne
    s = res["national"]["study"]
    assert s["threshold"] == pytest.approx(reference["lit"], rel=1e-9)
    assert s["threshold_effective"] == math.ceil(reference["lit"])
    raw = s["raw"]
    assert raw["cities"] == reference["area"].size == NE_PINNED["cities"]
    assert raw["area_km2"] == pytest.approx(reference["area"].sum(), rel=1e-6)


def test_decline_matches_numpy_sums_with_and_without_correction(ne, reference, tmp_path):
    out, res = ne
    s = res["national"]["study"]
    change = (reference["after"] - reference["before"]) / reference["before"]
    assert s["raw"]["shrinking"] == int((change <= -0.10).sum()) == NE_PINNED["shrinking_raw"]
    gain = s["correction"]["gain"]
    corrected = (reference["after"] / gain - reference["before"]) / reference["before"]
    assert s["corrected"]["shrinking"] == int((corrected <= -0.10).sum()) == NE_PINNED["shrinking_corrected"]
    table = pd.read_csv(out / "national_cities_2013_2016.csv.gz")
    np.testing.assert_allclose(np.sort(table["light_before"]), np.sort(reference["before"]), rtol=1e-6)
    np.testing.assert_allclose(np.sort(table["light_after"]), np.sort(reference["after"]), rtol=1e-6)
    assert s["correction"]["n_train"] > 100 and s["correction"]["n_excluded"] > 0  # the cities were left out
    pats = s["corrected"]["patterns"]
    assert sum(pats.values()) + sum(s["corrected"]["pattern_statuses"].values()) == s["corrected"]["shrinking"]


def test_zero_is_dark_not_nodata(data_dir, ne, reference):
    # some city pixels went dark by 2016: with the declared nodata they would drop out of both years
    r0, r1, c0, c1 = reference["window"]
    a = _read(data_dir, 2016, (r0, r1), (c0, c1))
    in_city = np.isin(reference["labels"], reference["keep_ids"])
    assert int((in_city & (a == 0)).sum()) > 0
    _, res = ne
    assert res["national"]["grids"]["declared_nodata"] == 0 and res["national"]["grids"]["nodata_used"] is None


def test_grid_offsets_are_measured_and_handled(ne):
    _, res = ne
    g = res["national"]["grids"]["grids"]
    for y in range(2014, 2022):
        assert g[str(y)]["handling"] == "snapped" and g[str(y)]["dx_px"] == pytest.approx(-0.0167, abs=5e-4)
    for y in (2012, 2022):
        assert g[str(y)]["handling"] == "aligned (average)" and g[str(y)]["dy_px"] == pytest.approx(0.218, abs=1e-3)


def test_series_2012_is_the_overlap_weighted_shift(data_dir, ne, reference):
    out, res = ne
    dy = res["national"]["grids"]["grids"]["2012"]["dy_px"]
    r0, r1, c0, c1 = reference["window"]
    src = _read(data_dir, 2012, (r0, r1 + 1), (c0, c1))  # 2012 row r covers 2013 row r by 1 − dy, row r + 1 by dy
    ref = (1 - dy) * src[:-1] + dy * src[1:]
    expect = ndimage.sum_labels(ref, reference["labels"], reference["keep_ids"])
    table = pd.read_csv(out / "national_cities_2013_2016.csv.gz")
    assert {"trend_slope", "mk_p", "mk_q"} <= set(table.columns)
    s = res["national"]["series"]
    assert s["all"]["tested"] == NE_PINNED["cities"]
    q = stats.false_discovery_control(table["mk_p"].dropna().to_numpy(), method="bh")
    np.testing.assert_allclose(np.sort(table["mk_q"].dropna()), np.sort(q), rtol=1e-6)  # CSV: 7 digits
    assert s["all"]["down_fdr"] == int(((table["trend_slope"] < 0) & (table["mk_q"] < 0.05)).sum())
    totals = s["totals"]
    assert float(totals["2012"]) > 0 and len(totals) == len(VIIRS_YEARS)
    np.testing.assert_allclose(np.sort(table["light_2012"]), np.sort(expect), rtol=1e-5)
    np.testing.assert_allclose(np.sort(table["light_2013"]), np.sort(reference["before"]), rtol=1e-6)


def test_census_tables_and_the_dark_floor_trap(ne):
    out, res = ne
    c = res["national"]["census"]
    assert c["window_prefectures"] == NE_PINNED["prefectures"]
    assert c["too_dark_default"] == NE_PINNED["too_dark_default"] and c["too_dark_chosen"] == 0
    pref = pd.read_csv(out / "prefectures_2013_2016.csv")
    ok = pref[["light_change", "pop_change"]].dropna()
    assert c["prefecture"]["n"] == len(ok)
    assert c["prefecture"]["spearman_rho"] == pytest.approx(stats.spearmanr(ok["light_change"], ok["pop_change"])[0])
    tab = pd.crosstab(ok["light_change"] <= -0.10, ok["pop_change"] < 0).reindex(
        index=[True, False], columns=[True, False]
    )
    assert c["prefecture"]["table"] == tab.fillna(0).astype(int).to_numpy().tolist()
    seeds = {s["name"]: s for s in c["seeds"]}
    assert seeds["Hegang"]["pop_change"] < 0 and seeds["Qitaihe"]["light_shrinking"]
    assert {r["province"] for r in c["northeast"]} <= {"黑龙江省", "吉林省", "辽宁省"}


def test_calibrated_threshold_finds_a_planted_area(data_dir, ne, reference):
    base = open_mosaic("china-viirslike-8bit:2013", nodata=None, region=WINDOWS["northeast"])
    target = float(extract_natural_cities(base, lit_threshold=6.0, min_area_km2=5.0, polygons=False)["area_km2"].sum())
    level, trail = N.calibrated_threshold(base, target + 1e-6)
    assert level == 6 and any(t["level"] == 6 for t in trail)
    areas = [t["area_km2"] for t in sorted(trail, key=lambda t: t["level"])]
    assert areas == sorted(areas, reverse=True)  # area never grows with the level


def test_report_has_the_national_section_from_the_run(ne):
    out, res = ne
    md = out.with_name(out.name + ".md").read_text(encoding="utf-8")
    s = res["national"]["study"]
    assert "## All of China, VIIRS-like, 2013 → 2016" in md
    assert (
        f"| **this run**, head/tail level (lit ≥ {s['threshold_effective']}), corrected | {s['raw']['cities']:,} |"
        in md
    )
    assert "53,275" in md and "13,839" in md and "2,862" in md
    assert "Done since the first report" in md and "the national 2013/2016 VIIRS run itself" not in md
    # the DMSP table keeps its own numbers (no placeholder of the national section overwrote it)
    r = res["china"]["2018→2021"]
    assert f"| **this run**, DMSP-like 2018→2021 | {r['cities']:,} | {r['shrinking']:,} |" in md
    # issue 22: the verdict opens the report, the stale DMSP "Headline" bullet is gone, Kenya and robustness are in
    assert md.split("\n")[2] == "**Verdict** (every number from this run, below):" and "**Headline.**" not in md
    assert "## Kenya, Black Marble VNP46A4" in md and "### Robustness: years, extents, quantisation" in md


def test_robustness_against_numpy(ne, data_dir, reference):
    """Per-year totals and lit pixels of the window, and the consecutive-pair changes, from the raw files."""
    _, res = ne
    rob = res["national"]["robustness"]
    r0, r1, c0, c1 = reference["window"]
    totals = {t["year"]: t for t in rob["years"]["totals"]}
    for y in (2013, 2016):  # on the 2013 grid without resampling: the file's own pixels
        v = _read(data_dir, y, (r0, r1), (c0, c1))
        assert totals[str(y)]["total"] == pytest.approx(v.sum() / 1e6, rel=1e-6)
        assert totals[str(y)]["lit_pixels"] == np.count_nonzero(v >= rob["lit_effective"])
    b15 = ndimage.sum_labels(_read(data_dir, 2015, (r0, r1), (c0, c1)), reference["labels"], reference["keep_ids"])
    pair = {p["pair"]: p for p in rob["years"]["pairs"]}["2015 → 2016"]
    ch = reference["after"] / b15 - 1
    assert pair["median"] == pytest.approx(np.median(ch), rel=1e-3)
    assert pair["share_10"] == pytest.approx(np.mean(ch <= -0.10), abs=1 / len(ch))
    rows = {v["variant"]: v for v in rob["variants"]}
    report = rows["as in the report"]["raw"]["shrinking"]
    for seed in (1, 2):  # quantisation moves a handful of cities, not the count
        assert abs(rows[f"dithered, seed {seed}"]["raw"]["shrinking"] - report) <= max(3, 0.1 * report)
