"""The decline test against each city's own noise (nightlight.change.significance), on planted truth.

The planted world: 9 years (2012–2020), 300 cities of which ~25 % lose exactly 30 % of
their light in one step (in 2014–2018) and the rest do not change at all; every city's
light scatters from year to year by 8 % (lognormal, ``year_scatter=0.08``: about the
scatter of real annual products, issue 22) on top of the pixel noise; the 8-bit copy is
floor(0.5 × value) × 2 like ``china-viirslike-8bit``. Cities are extracted in 2014 —
neither a base nor a compare year, so the extent is not selected on their noise.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from scipy import stats
from shapely.geometry import box

import nightlight
from nightlight.change.significance import change_pvalue, moderate, year_scatter
from nightlight.cli import main
from nightlight.errors import ParameterError
from nightlight.synthetic import make_world

YEARS = list(range(2012, 2021))
PERIODS = {"base_years": [2012, 2013], "compare_years": [2019, 2020]}


def _quantised(da):
    """The 8-bit copy of the China VIIRS-like product: floor(0.5 × value), 0…255, read back × 2."""
    return (np.floor(da * 0.5).clip(0, 255) * 2).astype("float32")


@pytest.fixture(scope="module")
def world():
    return make_world(
        seed=3,
        years=YEARS,
        progress="step",
        year_scatter=0.08,
        shares=(0.25, 0.75, 0.0),
        change_ranges={"shrinking": (-0.3, -0.3), "stable": (0.0, 0.0)},
        n_cities=300,
        bounds=(10.0, 44.0, 16.0, 47.0),
    )


def _scores(world, result) -> dict:
    """False-positive rates and recall over the classified cities matched to a planted city."""
    truth = world.truth
    points = gpd.GeoDataFrame(
        truth[["city_id", "planted_change", "is_flare"]].rename(columns={"city_id": "truth_id"}),
        geometry=gpd.points_from_xy(truth["lon"], truth["lat"]),
        crs="EPSG:4326",
    )
    cols = ["city_id", "status", "shrinking", "shrinking_significant", "change_p", "geometry"]
    joined = gpd.sjoin(points, result[cols], predicate="within").drop_duplicates("city_id")
    joined = joined[(joined["status"] == "ok") & ~joined["is_flare"]]
    null, step = joined[joined["planted_change"] == 0], joined[joined["planted_change"] < 0]
    return {
        "null": len(null),
        "step": len(step),
        "fpr_rule": float(null["shrinking"].mean()),
        "fpr_significant": float(null["shrinking_significant"].mean()),
        "null_p_below_005": float((null["change_p"] < 0.05).mean()),
        "recall_rule": float(step["shrinking"].mean()),
        "recall_significant": float(step["shrinking_significant"].mean()),
    }


@pytest.mark.slow
@pytest.mark.parametrize("quantised", [False, True], ids=["float", "8bit"])
def test_planted_truth_significant_flag_controls_false_positives(world, quantised):
    mosaics = {y: world.mosaic(y) for y in YEARS}
    if quantised:
        mosaics = {y: _quantised(m) for y, m in mosaics.items()}
    cities = nightlight.extract_natural_cities(mosaics[2014], lit_threshold=world.lit_threshold)
    single = nightlight.detect_shrinking(cities, series=mosaics, patterns=False)
    means = nightlight.detect_shrinking(cities, series=mosaics, patterns=False, **PERIODS)
    s1, s2 = _scores(world, single), _scores(world, means)
    print(f"\n{'8-bit' if quantised else 'float'} single years 2012→2020: {s1}\n  means 2012–13→2019–20: {s2}")
    assert s1["null"] > 150 and s1["step"] > 50
    for s in (s1, s2):
        # the significant flag keeps its false-positive rate ≤ 5 %, several times below the rule's
        assert s["fpr_significant"] <= 0.05
        assert s["fpr_rule"] >= 3 * max(s["fpr_significant"], 0.01)
        # change_p is roughly calibrated on unchanged cities (5 % would be exact; see the module's limits)
        assert 0.02 <= s["null_p_below_005"] <= 0.10
    # multi-year means halve the rule's false positives and give the test its power
    assert s2["fpr_rule"] < 0.7 * s1["fpr_rule"]
    assert s2["recall_significant"] >= 0.90
    assert s2["recall_rule"] >= 0.95


@pytest.mark.slow
def test_base_and_compare_means_are_the_yearly_means():
    w = make_world(seed=1, years=range(2012, 2018), year_scatter=0.05, n_cities=30, bounds=(10.0, 44.0, 12.0, 45.5))
    mosaics = w.mosaics()
    cities = nightlight.extract_natural_cities(mosaics[2012], lit_threshold=w.lit_threshold)
    r = nightlight.detect_shrinking(
        cities, series=mosaics, base_years=[2013, 2012], compare_years=[2016, 2017], patterns=False
    )
    before = (r["light_2012"] + r["light_2013"]) / 2
    after = (r["light_2016"] + r["light_2017"]) / 2
    np.testing.assert_allclose(r["light_before"], before, rtol=1e-12)
    np.testing.assert_allclose(r["change"], (after - before) / before, rtol=1e-9)
    assert r.attrs["nightlight"]["base_years"] == [2012, 2013]
    ok = r["status"] == "ok"
    assert r.loc[ok, "change_p"].notna().all() and r.loc[~ok, "change_p"].isna().all()
    assert not (r["shrinking_significant"] & ~r["shrinking"]).any()


def test_year_scatter_and_p_match_an_independent_reference():
    rng = np.random.default_rng(0)
    years = np.arange(2015, 2019, dtype=float)  # 4 years: the line model, 2 degrees of freedom
    values = np.exp(5 + 0.02 * (years - 2015) + rng.normal(0, 0.1, (20, 4)))
    sigma, dof = year_scatter(values, years)
    for k in range(20):
        fit = stats.linregress(years, np.log(values[k]))
        resid = np.log(values[k]) - (fit.intercept + fit.slope * years)
        assert sigma[k] == pytest.approx(np.sqrt(np.sum(resid**2) / 2), rel=1e-9)
    assert (dof == 2).all()
    change = values[:, -1] / values[:, 0] - 1
    p = change_pvalue(change, sigma, dof)
    ref = stats.t.cdf(np.log(values[:, -1] / values[:, 0]) / (sigma * np.sqrt(2)), 2)
    np.testing.assert_allclose(p, ref, rtol=1e-10)
    # 7 years: a step between 2016 and 2019 is part of the model, not of the noise
    years7 = np.arange(2013, 2020, dtype=float)
    x = 4 + 0.01 * years7 - 0.357 * (years7 >= 2017) + np.array([0.05, -0.03, 0.02, -0.04, 0.01, 0.03, -0.04])
    s7, d7 = year_scatter(np.exp(x)[None, :], years7, step_after=2014, step_by=2019)
    design = np.column_stack([np.ones(7), years7, years7 >= 2017])
    resid = x - design @ np.linalg.solve(design.T @ design, design.T @ x)
    assert d7[0] == 3 and s7[0] == pytest.approx(np.sqrt(resid @ resid / 3), rel=1e-6)


def test_moderation_pulls_toward_the_common_scatter():
    rng = np.random.default_rng(1)
    d = np.full(500, 5)
    own = 0.08 * np.sqrt(rng.chisquare(5, 500) / 5)  # one common σ = 0.08, 5 degrees of freedom each
    post, dof, prior = moderate(own, d, np.ones(500, bool))
    assert prior["s0"] == pytest.approx(0.08, rel=0.05)
    assert prior["d0"] > 30  # the cities agree: much shrinkage
    assert np.std(post) < 0.5 * np.std(own) and (dof > 35).all()
    mixed = np.concatenate([own[:250], own[250:] * 4])  # two kinds of city: little shrinkage
    _, _, prior2 = moderate(mixed, d, np.ones(500, bool))
    assert prior2["d0"] < 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_years": [2012]}, "series"),
        ({"series": "S", "base_years": [2012, 2014], "compare_years": [2013]}, "precede"),
        ({"series": "S", "base_years": [2011]}, "not in it"),
        ({"series": "S", "after": "A", "base_years": [2012]}, "leave before/after out"),
    ],
)
def test_bad_periods_fail_before_any_work(kwargs, message):
    w = make_world(seed=1, years=range(2012, 2016), n_cities=5, bounds=(10.0, 44.0, 11.0, 45.0))
    mosaics = w.mosaics()
    kwargs = {k: (mosaics if v == "S" else mosaics[2015] if v == "A" else v) for k, v in kwargs.items()}
    cities = gpd.GeoDataFrame(geometry=[box(10.2, 44.2, 10.6, 44.6)], crs="EPSG:4326")
    before = mosaics[2012] if "series" not in kwargs else None
    with pytest.raises(ParameterError, match=message):
        nightlight.detect_shrinking(cities, before, **kwargs)


@pytest.mark.slow
def test_batch_reports_multi_year_means_with_an_independent_extent_year(tmp_path):
    """``[decline] base`` is the extent year (2014); the trend run compares mean 2012–13 with mean 2016–17."""
    w = make_world(seed=2, years=range(2012, 2018), year_scatter=0.05, n_cities=30, bounds=(10.0, 44.0, 11.5, 45.0))
    files = w.write_geotiffs(tmp_path / "world")
    lines = "\n".join(f'{y} = "{p}"' for y, p in files.items())
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f"[inputs.files]\n{lines}\n\n[cities]\nlit_threshold = {w.lit_threshold}\n\n"
        "[decline]\nbase = 2014\ncompare = [2017]\nbase_years = [2012, 2013]\ncompare_years = '2016-2017'\n\n"
        '[trend]\nyears = "2012-2017"\n\n[run]\nchunks = 256\n'
    )
    res = CliRunner().invoke(main, ["batch", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "mean 2012–2013 → mean 2016–2017:" in res.output and "beyond their own year-to-year scatter" in res.output
    merged = gpd.read_parquet(tmp_path / "out" / "cities.parquet")
    trend = gpd.read_parquet(tmp_path / "out" / "trend" / "cities.parquet")
    before = (trend["light_2012"] + trend["light_2013"]) / 2
    after = (trend["light_2016"] + trend["light_2017"]) / 2
    np.testing.assert_allclose(merged["series_change"], (after - before) / before, rtol=1e-9)
    assert {"change_p", "change_q", "year_scatter", "shrinking_significant"} <= set(merged.columns)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["shrinking_significant"].iloc[0] == int(merged["shrinking_significant"].sum())
    # `detect` compares two files: multi-year means are refused in one line naming the fix
    res = CliRunner().invoke(
        main, ["detect", str(files[2012]), str(files[2017]), "--out", str(tmp_path / "d"), "--base-years", "2012,2013"]
    )
    assert res.exit_code != 0 and "nightlight batch" in res.output and "Error:" in res.output


@pytest.mark.slow
def test_a_time_stack_is_a_series():
    w = make_world(seed=1, years=range(2012, 2017), year_scatter=0.05, n_cities=20, bounds=(10.0, 44.0, 11.0, 45.0))
    mosaics = w.mosaics()
    stack = xr.concat(list(mosaics.values()), dim="time").assign_coords(
        time=pd.to_datetime([f"{y}-07-01" for y in mosaics])
    )
    cities = nightlight.extract_natural_cities(mosaics[2012], lit_threshold=w.lit_threshold)
    by_dict = nightlight.detect_shrinking(cities, series=mosaics, patterns=False)
    by_stack = nightlight.detect_shrinking(cities, stack, patterns=False)
    np.testing.assert_array_equal(by_stack["change_p"], by_dict["change_p"])
    assert list(by_stack.attrs["nightlight"]["series"]) == [str(y) for y in mosaics]
    with pytest.raises(ParameterError, match="coordinate"):
        nightlight.detect_shrinking(cities, series=stack.drop_vars("time"))


def test_the_china_noise_example_configuration_is_valid(shared_data, monkeypatch):
    from nightlight.batch import load_config

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    cfg = load_config(Path("docs/examples/batch-china-noise.toml"))
    assert cfg.base == 2015 and cfg.params.base_years == (2013, 2014) and cfg.params.compare_years == (2016, 2017)
    assert cfg.trend_years == tuple(range(2013, 2023)) and cfg.base not in cfg.params.base_years
