"""The replication report: the template's filters and table specs, the committed report rendered from its results.

No real data: the committed ``docs/replication/results.json`` is the input, and the
committed ``docs/replication.md`` the reference (it must come out byte for byte).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jinja2
import numpy as np
import pytest

from nightlight.replication import STUDY, render_markdown
from nightlight.replication.report import FILTERS, cell, columns, fmt

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMAND = "nightlight replicate --out docs/replication"


@pytest.fixture(scope="module")
def results() -> dict:
    path = DOCS / "replication" / "results.json"
    if not path.is_file():
        pytest.skip(f"{path} not in this checkout")
    return json.loads(path.read_text(encoding="utf-8"))


def test_cells_are_formatted_as_the_tables_show_them():
    assert [fmt(v) for v in (1, 2000, 0.12345, 1234.5, float("nan"), True, None, "x")] == [
        "1",
        "2,000",
        "0.123",
        "1,234",
        "–",
        "yes",
        "–",
        "x",
    ]
    assert FILTERS["pct"](0.2463) == "24.6 %" and FILTERS["signed_pct"](-0.0971) == "-9.7 %"
    assert FILTERS["change2"](-0.0999) == "-9.99 %" and FILTERS["p"](0.0) == "< 1e-300"
    assert FILTERS["odds"](float("inf")) == "∞" and FILTERS["signed_pct"](None) == "–"
    assert [FILTERS["span"](n) for n in (1, 3, 12)] == ["one year", "three years", "12 years"]
    assert (FILTERS["about"](463.3), FILTERS["distance"](1000.0), FILTERS["distance"](463.0)) == (
        "~500 m",
        "1 km",
        "463 m",
    )


def test_table_spec_reads_keys_paths_and_formats():
    row = {"a": 1234, "t": [[2, 3], [4, 5]], "s": 0.25, "x": None}
    cols = columns("A=a; cell=t.1.0; share=s|pct; drop ≥ 10 %=x|change2; g=s|.2f; raw=x; s|pctg")
    assert [c[0] for c in cols] == ["A", "cell", "share", "drop ≥ 10 %", "g", "raw", "s"]
    assert [cell(row, k, f) for _, k, f in cols] == ["1,234", "4", "25.0 %", "–", "0.25", "–", "25 %"]
    assert columns(["a", "s"], {"s": "pct"}) == [("a", "a", ""), ("s", "s", "pct")]


def test_the_study_figures_are_the_data_file_and_go_into_the_results(results):
    assert STUDY["paper"]["cities"] == 2862 and STUDY["paper"]["shrinking"] == 798
    assert STUDY["paper"]["area_km2"] == 53275 and STUDY["paper"]["shrinking_area_km2"] == 13839
    # written into results.json as they were when the figures were a dict in params.py
    assert json.dumps(results["study"], ensure_ascii=False) == json.dumps(STUDY, ensure_ascii=False)


def test_committed_report_is_the_committed_results_rendered(results):
    # docs/replication.md is generated: every figure and word in it comes from results.json through the template
    page = DOCS / "replication.md"
    if not page.is_file():
        pytest.skip(f"{page} not in this checkout")
    assert render_markdown(results, fig_prefix="replication", command=COMMAND) == page.read_text(encoding="utf-8")


def test_the_run_renders_the_page_its_results_json_renders(results):
    # during the run the results are in memory: int year keys, NumPy scalars, tuples
    mem = copy.deepcopy(results)
    sh, pair = mem["shanghai"], mem["china"]["2018→2021"]
    sh["series_total"] = {int(y): np.float64(v) for y, v in sh["series_total"].items()}
    pair["cities"], pair["share"] = np.int64(pair["cities"]), np.float64(pair["share"])
    mem["places"]["2018→2021"][0]["shrinking"] = np.bool_(True)
    mem["national"]["window"] = (118.0, 40.5, 135.0, 49.0)
    read = copy.deepcopy(results)
    read["places"]["2018→2021"][0]["shrinking"] = True
    read["national"]["window"] = [118.0, 40.5, 135.0, 49.0]
    md = render_markdown(mem, command=COMMAND)
    assert md == render_markdown(read, command=COMMAND)
    assert "cropped to the lon/lat box (118.0, 40.5, 135.0, 49.0)" in md


def test_a_figure_follows_its_results_key(results):
    res = copy.deepcopy(results)
    res["national"]["study"]["headline_counts"]["shrinking"] = 123456
    res["study"]["paper"]["shrinking"] = 4321
    md = render_markdown(res, command=COMMAND)
    assert "123,456 of" in md and "4,321 of" in md


def test_words_follow_the_numbers(results):
    md = render_markdown(results, command=COMMAND)
    s = results["national"]["study"]
    assert s["corrected"]["cities"] < 2862 and s["correction"]["gain"] > 1  # the committed run
    assert "from fewer natural cities than the paper" in md and "% brighter in 2016" in md
    res = copy.deepcopy(results)
    res["national"]["study"]["corrected"]["cities"] = 3000
    res["national"]["study"]["correction"]["gain"] = 0.95
    res["national"]["timing"]["wall_s"] = 99.0
    md = render_markdown(res, command=COMMAND)
    assert "from more natural cities than the paper" in md and "5.0 % dimmer in 2016" in md
    assert "Target **missed**: wall; the largest phase is" in md and "Both targets met." not in md


def test_calibrated_seconds_are_the_calibrated_runs(results):
    # the calibrated variant's paragraph once showed the census's seconds (one placeholder name for both)
    res = copy.deepcopy(results)
    res["national"]["census"]["seconds"] = 999.0
    res["national"]["calibrated"]["timing"]["wall_s"] = 12.0
    md = render_markdown(res, command=COMMAND)
    assert "its other figures are predictions (12 s)" in md
    assert "(999 s with the series)" in md


def test_a_seed_outside_the_prefectures_run_has_only_its_names(results):
    # a cropped run: the census record of such a seed has no city, light or trend (a real run failed on it)
    res = copy.deepcopy(results)
    seeds = res["national"]["census"]["seeds"]
    seeds[1] = {"name": "Atlantis", "name_zh": "亚特兰蒂斯", "city_code": float("nan")}
    md = render_markdown(res, command=COMMAND)
    assert "| Atlantis | 亚特兰蒂斯 | (outside the prefectures run) | – | – | – | – | – | – |" in md
    assert "lost population (from" in md and "Atlantis" not in md.split("**Northeast seeds**")[1]


def test_a_key_missing_from_the_results_is_named(results):
    res = copy.deepcopy(results)
    del res["national"]["study"]["correction"]["r2_test"]  # read by the template only
    with pytest.raises(jinja2.UndefinedError, match=r"'national\.study\.correction\.r2_test' is not in the results"):
        render_markdown(res, command=COMMAND)


@pytest.mark.parametrize(
    ("absent", "gone", "kept"),
    [
        (("national", "kenya"), ("## All of China", "**Verdict**", "## Kenya"), "The national 2013/2016 VIIRS mosaics"),
        (("kenya",), ("**Verdict**", "## Kenya"), "## All of China"),
        (("shanghai", "sensitivity_shanghai"), ("## Shanghai", "* **Shanghai 2013→2016**"), "## Sensitivity"),
        (("sensitivity_china",), ("## Sensitivity", "* **Robustness.** On"), "## Shanghai"),
        (("largest", "provinces_2018_2021"), ("Largest natural cities of", "### Provinces"), "### Northeast"),
    ],
)
def test_a_block_is_left_out_when_its_result_is_absent(results, absent, gone, kept):
    res = copy.deepcopy(results)
    for key in absent:
        del res[key]
    md = render_markdown(res, command=COMMAND)
    assert all(g not in md for g in gone) and kept in md
    assert "\n\n\n" not in md and md.endswith(".\n")  # an absent block leaves no gap
