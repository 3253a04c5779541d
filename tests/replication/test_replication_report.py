"""The replication report: table specs, ``${path|format}`` lookups, the committed report rendered from its results.

No real data: the committed ``docs/replication/results.json`` is the input.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nightlight.replication import render_markdown
from nightlight.replication.tables import table

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMAND = "nightlight replicate --out docs/replication"


@pytest.fixture(scope="module")
def results() -> dict:
    path = DOCS / "replication" / "results.json"
    if not path.is_file():
        pytest.skip(f"{path} not in this checkout")
    return json.loads(path.read_text(encoding="utf-8"))


def test_table_spec_reads_keys_paths_and_formats():
    rows = [{"a": 1234, "t": [[2, 3], [4, 5]], "s": 0.25, "x": None}]
    spec = "A=a; cell=t.1.0; share=s|pct; drop ≥ {d:g} %=x|change2; g=s|.2f; raw=x"
    assert table(rows, spec, d=10).splitlines() == [
        "| A | cell | share | drop ≥ 10 % | g | raw |",
        "|---|---|---|---|---|---|",
        "| 1,234 | 4 | 25.0 % | – | 0.25 | – |",
    ]


def test_committed_report_is_the_committed_results_rendered(results):
    # docs/replication.md is generated: every figure in it comes from results.json through the template
    assert render_markdown(results, fig_prefix="replication", command=COMMAND) == (DOCS / "replication.md").read_text(
        encoding="utf-8"
    )


def test_a_figure_follows_its_results_key(results):
    res = copy.deepcopy(results)
    res["national"]["study"]["headline_counts"]["shrinking"] = 123456
    res["study"]["paper"]["shrinking"] = 4321
    md = render_markdown(res, command=COMMAND)
    assert "123,456 of" in md and "4,321 of" in md


def test_calibrated_seconds_are_the_calibrated_runs(results):
    # the calibrated variant's paragraph once showed the census's seconds (one placeholder name for both)
    res = copy.deepcopy(results)
    res["national"]["census"]["seconds"] = 999.0
    res["national"]["calibrated"]["timing"]["wall_s"] = 12.0
    md = render_markdown(res, command=COMMAND)
    assert "its other figures are predictions (12 s)" in md
    assert "(999 s with the series)" in md


def test_a_placeholder_missing_from_the_results_is_named(results):
    res = copy.deepcopy(results)
    del res["national"]["study"]["correction"]["r2_test"]  # read by the template only
    with pytest.raises(KeyError, match=r"national\.study\.correction\.r2_test' is not in the results"):
        render_markdown(res, command=COMMAND)
