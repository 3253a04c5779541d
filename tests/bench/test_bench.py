"""``nightlight bench``: the harness runs a case in real subprocesses, reports missing peers, mismatches and
every column — never timing assertions (the figures depend on the machine)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nightlight.bench import registry
from nightlight.bench.harness import NIGHTLIGHT, Case, Prepared, Session, Target, Tool, max_rel_diff, spread
from nightlight.bench.report import COLUMNS, markdown, rows, write_json, write_markdown
from nightlight.bench.suite import REPEATS, run_suite
from nightlight.cli import main


def measure(case: Case, tool: str, variant: str, params: dict, workdir: Path, repeats: int = 1) -> dict:
    """One tool checked and timed in this process (the suite runs each in its own): Session.check's record,
    with spread of ``repeats`` runs when the result agrees."""
    s = Session(case, tool, variant, params, workdir)
    rec = s.check()
    if rec["status"] == "ok":
        rec.update(spread([s.time()["s"] for _ in range(repeats)]))
    return {**rec, **s.close()}


# the harness runs each measurement in its own process: `pytest -m "not slow"` leaves them out (CONTRIBUTING.md)
pytestmark = pytest.mark.slow

TINY = {"n": 256}  # calib-apply_model on 256² px: each measurement process runs in a few seconds
GHOST_PIP = "pip install nightlight-ghost-peer"


def _ghost_setup(params, workdir, variant):  # never called: the peer is missing
    raise AssertionError("a missing peer must not be measured")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """One real run of calib-apply_model (nightlight + NumPy, two subprocesses), with a missing third peer."""
    case = registry.CASES["calib-apply_model"]
    ghost = Tool("ghost", "a peer that is not installed", _ghost_setup, requires=("nightlight_no_such_peer",))
    ghost = dataclasses.replace(ghost, pip=GHOST_PIP)
    patched = dataclasses.replace(case, tools=(*case.tools, ghost))
    mp = pytest.MonkeyPatch()
    mp.setitem(registry.CASES, case.name, patched)
    try:
        work = tmp_path_factory.mktemp("bench")
        yield run_suite("quick", only=["calib-apply_model"], params=TINY, workdir=work)
    finally:
        mp.undo()


def test_a_tiny_case_runs_through_the_subprocess_harness(record):
    (case,) = record["cases"]
    assert case["case"] == "calib-apply_model" and case["status"] == "ok"
    nl, peer = case["nightlight"], case["peers"]["numpy"]
    for m in (nl, peer):
        assert m["status"] == "ok" and m["seconds"] > 0 and m["peak_rss_mb"] > 0
        assert m["process_s"] > 0  # measured in a child process, not here
        assert len(m["runs_s"]) == record["cases"][0]["repeats"] == REPEATS["quick"]
        assert m["seconds"] == pytest.approx(float(np.median(m["runs_s"])))
        assert m["min_s"] <= m["seconds"] <= m["max_s"]
    assert peer["ratio"] == pytest.approx(peer["seconds"] / nl["seconds"])  # the ratio of the medians
    rounds = [p / n for p, n in zip(peer["runs_s"], nl["runs_s"])]
    assert (peer["ratio_min"], peer["ratio_max"]) == pytest.approx((min(rounds), max(rounds)))
    # the check ran against nightlight's saved result, and agreed
    assert peer["max_diff"] is not None and peer["max_diff"] <= case["tolerance"]
    assert case["params"] == {"n": 256}
    assert "256² px" in case["size"]


def test_a_missing_peer_is_skipped_with_its_pip_line(record):
    ghost = record["cases"][0]["peers"]["ghost"]
    assert ghost["status"] == "skipped"
    assert ghost["pip"] == GHOST_PIP
    assert "nightlight_no_such_peer" in ghost["reason"]
    assert ghost["seconds"] is None and ghost["ratio"] is None
    table = markdown(record)
    assert f"skipped: `{GHOST_PIP}`" in table


def test_the_json_has_every_column(record, tmp_path):
    out = json.loads(write_json(record, tmp_path / "bench.json").read_text())
    assert {"mode", "started_utc", "machine", "load_start", "load_end", "cases"} <= set(out)
    assert out["machine"]["cpu_count"] >= 1
    (case,) = out["cases"]
    assert {"case", "task", "size", "params", "status", "nightlight", "peers", "targets"} <= set(case)
    assert case["task"].startswith("calibration kernel apply_model")
    assert {"seconds", "min_s", "max_s", "iqr_s", "peak_rss_mb", "runs_s"} <= set(case["nightlight"])
    for name, peer in case["peers"].items():
        assert {"seconds", "ratio", "peak_rss_mb", "max_diff", "status", "label"} <= set(peer), name


def test_the_markdown_is_written_with_every_column(record, tmp_path):
    text = write_markdown(record, tmp_path / "bench.md").read_text()
    assert "| " + " | ".join(COLUMNS) + " |" in text
    assert "calibration kernel apply_model" in text and "NumPy/scipy expression" in text
    assert "load average" in text
    body = [ln for ln in text.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    assert len(body) == 2  # one row per peer: NumPy, and the missing one
    assert "NumPy/scipy expression" in body[0] and "a peer that is not installed" in body[1]


# ---------------------------------------------------------------- the protocol, in this process
def _const(value: float):
    def setup(params, workdir, variant):
        return Prepared(run=lambda: {"x": np.full(4, value)})

    return setup


def _case(peer_value: float) -> Case:
    return Case(
        name="toy",
        task="toy",
        sizes={"quick": {}},
        size_label=lambda p: "4 values",
        tools=(Tool(NIGHTLIGHT, "ours", _const(1.0)), Tool("peer", "theirs", _const(peer_value))),
        compare=lambda a, b: max_rel_diff(a["x"], b["x"]),
        tolerance=1e-6,
        targets=(Target("≥ 2×", peer="peer", min_ratio=2.0),),
    )


def test_a_peer_that_disagrees_is_a_mismatch_and_not_timed(tmp_path):
    case = _case(1.5)
    ours = measure(case, NIGHTLIGHT, "", {}, tmp_path)
    assert ours["status"] == "ok"
    theirs = measure(case, "peer", "", {}, tmp_path)
    assert theirs["status"] == "mismatch"
    assert theirs["max_diff"] == pytest.approx(0.5 / 1.5)
    assert "seconds" not in theirs and "tolerance" in theirs["error"]
    # the table marks it loudly
    rec = {
        "mode": "quick",
        "started_utc": "-",
        "wall_s": 0.0,
        "machine": {"nightlight": "-", "cpu_count": 2, "threads": 2, "memory_gb": 1, "platform": "-", "python": "-"},
        "cases": [
            {
                "case": "toy",
                "task": "toy",
                "size": "4 values",
                "status": "mismatch",
                "nightlight": ours,
                "peers": {"peer": {**theirs, "label": "theirs", "ratio": None}},
                "targets": [{"text": "≥ 2×", "peer": "peer", "met": None}],
            }
        ],
    }
    ((cells, style),) = list(rows(rec))
    assert style == "fail" and cells["peer s"].startswith("MISMATCH")
    assert cells["verdict"] == "not measured"
    assert "target" not in cells and "≥ 2×" not in markdown(rec)  # the goals stay in the JSON


def test_a_peer_that_agrees_is_timed_and_checked(tmp_path):
    case = _case(1.0 + 1e-9)
    measure(case, NIGHTLIGHT, "", {}, tmp_path)
    theirs = measure(case, "peer", "", {}, tmp_path, repeats=3)
    assert theirs["status"] == "ok" and theirs["max_diff"] == pytest.approx(1e-9)
    assert len(theirs["runs_s"]) == 3


ORDER_CASE = """
from pathlib import Path
import numpy as np
from nightlight.bench.harness import Case, Prepared, Target, Tool, max_rel_diff

def _tool(name):
    def setup(params, workdir, variant):
        def run():
            with open(params["log"], "a") as f:
                f.write(name + "\\n")
            if params.get("fail") == name:
                raise RuntimeError("broken on purpose")
            return {"x": np.ones(3)}
        return Prepared(run=run)
    return setup

CASE = Case(
    name="bench_order_case:CASE", task="order", sizes={"quick": {}}, size_label=lambda p: "3 values",
    tools=(Tool("nightlight", "ours", _tool("nightlight")), Tool("peer", "theirs", _tool("peer"))),
    compare=lambda a, b: max_rel_diff(a["x"], b["x"]), tolerance=0.0,
    targets=(Target("≥ 1000×", peer="peer", min_ratio=1000.0),),
)
"""


def test_nightlight_and_its_peer_are_timed_in_turn(tmp_path, monkeypatch):
    """After the two checks, the timed runs alternate A B A B: a burst of load cannot land on one side only."""
    (tmp_path / "bench_order_case.py").write_text(ORDER_CASE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    log = tmp_path / "order.log"
    rec = run_suite("quick", only=["bench_order_case:CASE"], params={"log": str(log)}, workdir=tmp_path, repeats=5)
    (case,) = rec["cases"]
    assert case["status"] == "ok", case
    assert log.read_text().split() == ["nightlight", "peer"] + ["nightlight", "peer"] * 5
    assert len(case["nightlight"]["runs_s"]) == len(case["peers"]["peer"]["runs_s"]) == 5
    # the verdict is taken on the medians
    assert case["targets"] == [{"text": "≥ 1000×", "peer": "peer", "met": case["peers"]["peer"]["ratio"] >= 1000}]
    # nightlight failing its check: nothing to compare the peer with, the peer is not started
    log.unlink()
    rec = run_suite(
        "quick", only=["bench_order_case:CASE"], params={"log": str(log), "fail": "nightlight"}, workdir=tmp_path
    )
    (case,) = rec["cases"]
    assert case["status"] == "error" and "broken on purpose" in case["error"]
    assert log.read_text().split() == ["nightlight"]


def test_the_default_suite_times_every_tool_five_times_or_more():
    assert REPEATS["default"] >= 5 and REPEATS["full"] >= 5


def test_spread_is_the_median_and_its_range():
    s = spread([3.0, 1.0, 100.0, 2.0, 2.5])
    assert s["seconds"] == 2.5 and (s["min_s"], s["max_s"]) == (1.0, 100.0)  # one slow run does not move the median
    assert s["iqr_s"] == pytest.approx(3.0 - 2.0)


def test_targets_are_checked_on_the_figures():
    t = Target("≥ 10×", peer="scipy", min_ratio=10.0)
    assert t.met({"seconds": 1.0}, {"scipy": {"ratio": 12.0}}) is True
    assert t.met({"seconds": 1.0}, {"scipy": {"ratio": 9.0}}) is False
    assert t.met({"seconds": 1.0}, {"scipy": {"ratio": None}}) is None
    limits = Target("≤ 10 min, ≤ 8 GB", max_seconds=600.0, max_rss_mb=8000.0)
    assert limits.met({"seconds": 500.0, "peak_rss_mb": 7000}, {}) is True
    assert limits.met({"seconds": 500.0, "peak_rss_mb": 9000}, {}) is False


def test_max_rel_diff_is_relative_above_one_absolute_below():
    assert max_rel_diff(np.array([110.0, 0.5]), np.array([100.0, 0.25])) == pytest.approx(0.25)
    assert max_rel_diff(np.array([100.0, 0.0]), np.array([110.0, 0.0])) == pytest.approx(10 / 110)
    assert max_rel_diff(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == 0.0
    assert max_rel_diff(np.array([np.nan, 1.0]), np.array([2.0, 1.0])) == np.inf
    assert max_rel_diff(np.zeros(3), np.zeros(4)) == np.inf


# ---------------------------------------------------------------- selection and the command line
def test_modes_select_their_cases():
    quick = {c.name for c in registry.select("quick")}
    default = {c.name for c in registry.select("default")}
    full = {c.name for c in registry.select("full")}
    assert {"label", "label-dask", "zonal-exact", "blur30"} <= quick
    assert {"e2e-national", "zonal-centre"} <= default and not {"e2e-national", "zonal-centre"} & quick
    assert "e2e-global" in full and "e2e-global" not in default
    assert quick < default < full  # --full adds the global pair (and nogil) to the default suite
    assert {"nogil-apply_model", "e2e-national", "label"} <= full
    assert [c.name for c in registry.select("quick", ["calib"])] == [n for n in registry.CASES if n.startswith("calib")]


def test_every_optional_peer_names_how_to_install_it():
    core = {"scipy", "rasterio"}  # nightlight's own dependencies
    for case in registry.CASES.values():
        assert case.tools[0].name == NIGHTLIGHT, case.name
        for tool in case.tools[1:]:
            if set(tool.requires) - core:
                assert tool.pip.startswith("pip install"), (case.name, tool.name)


def test_cli_lists_the_cases_and_refuses_an_unknown_one():
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "--list"])
    assert res.exit_code == 0, res.output
    assert "zonal-exact" in res.output and "exactextract" in res.output
    res = runner.invoke(main, ["bench", "--only", "no-such-case"])
    assert res.exit_code == 2
    assert "no-such-case" in res.output


def test_benchmarks_scripts_are_thin_callers():
    root = Path(__file__).resolve().parents[2] / "benchmarks"
    for script in ("bench_label.py", "bench_zonal.py", "bench_calibrate.py", "bench_nogil.py"):
        text = (root / script).read_text()
        assert '"bench"' in text and len(text.splitlines()) < 40, script


# ---------------------------------------------------------------- the cases agree with their references (tiny)
@pytest.mark.parametrize(
    ("case_name", "peer", "params"),
    [
        ("label", "scipy", {"side": 480, "seed": 0, "chunk": 128}),
        ("zonal-exact", "exactextract", {"size": 512, "n": 40, "chunk": 128, "subset": 40}),
        ("calib-composite", "numpy", {"n": 64}),
    ],
)
def test_a_case_and_its_reference_peer_agree_on_a_tiny_input(tmp_path, case_name, peer, params):
    case = registry.CASES[case_name]
    for tool in case.tools:
        if tool.name == peer:
            for mod in tool.requires:
                pytest.importorskip(mod)
    if case.prepare is not None:
        case.prepare(params, tmp_path)
    ours = measure(case, NIGHTLIGHT, "", params, tmp_path)
    variant = case.tool(peer).variants[-1]
    theirs = measure(case, peer, variant, params, tmp_path)
    assert ours["status"] == "ok", ours
    assert theirs["status"] == "ok", theirs
    assert theirs["max_diff"] <= case.tolerance


def _tiny_global(monkeypatch, tmp_path):
    """The e2e-global case (series of four years, patterns) on a 2° × 2° box: its run and its floor's."""
    from nightlight.bench import e2e

    monkeypatch.setattr(e2e, "GLOBAL_BOUNDS", (0.0, 40.0, 2.0, 42.0))
    return e2e._global({"chunk": 256}, tmp_path, ""), e2e._global_floor({"chunk": 256}, tmp_path, "")


def test_the_global_series_case_checks_its_flags_against_the_planted_truth(monkeypatch, tmp_path):
    ours, floor = _tiny_global(monkeypatch, tmp_path)
    result = ours.run()
    assert result["cities"][0] > 0 and result["shrinking"][0] > 0
    assert ours.info["truth"]["precision"] == ours.info["truth"]["recall"] == 1.0
    assert sum(ours.info["patterns"].values()) == result["shrinking"][0]  # every shrinking city has a pattern
    assert max_rel_diff(result["mosaic_change"], floor.run()["mosaic_change"]) <= registry.CASES["e2e-global"].tolerance


def test_the_global_series_case_fails_on_a_false_flag(monkeypatch, tmp_path):
    import nightlight.synthetic.validate as validate

    real = validate.score_against_truth

    def one_false_positive(result, truth, **kw):
        return {**real(result, truth, **kw), "false_positive_city_ids": [1]}

    monkeypatch.setattr(validate, "score_against_truth", one_false_positive)
    ours, _ = _tiny_global(monkeypatch, tmp_path)
    with pytest.raises(AssertionError, match="planted truth"):
        ours.run()


def test_a_case_with_two_goals_names_each_verdict():
    from nightlight.bench.report import rows

    case = {
        "task": "t",
        "size": "s",
        "status": "ok",
        "nightlight": {"seconds": 3.0, "min_s": 3.0, "max_s": 3.0, "peak_rss_mb": 600.0},
        "peers": {
            "floor": {
                "label": "floor",
                "seconds": 1.0,
                "min_s": 1.0,
                "max_s": 1.0,
                "ratio": 0.33,
                "ratio_min": 0.33,
                "ratio_max": 0.33,
                "status": "ok",
            }
        },
        "targets": [
            {"text": "≤ 1.5 × floor", "peer": "floor", "met": False},
            {"text": "≤ 4 s", "peer": None, "met": True},
        ],
    }
    ((cells, _),) = rows({"cases": [case]})
    assert cells["verdict"] == "≤ 1.5 × floor: goal missed; ≤ 4 s: goal met"
    case["targets"] = case["targets"][1:]  # one goal: the verdict alone, as before
    assert next(rows({"cases": [case]}))[0]["verdict"] == "goal met"
