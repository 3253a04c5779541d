"""``nightlight batch``: the configuration, equality with ``detect``, resume, refusal, a full disk.

Checkpoints: planted pickles never run, damaged or swapped blocks are recomputed, an input
edited in place is never answered from old checkpoints, and a fault-injection test kills
the batch at random moments and mid-write, then tampers with its checkpoints.

The cluster tests start a real ``dask scheduler`` and two ``dask worker`` processes
with this interpreter on 127.0.0.1 (always killed at the end), and run the batch as
``python -m nightlight batch …`` in a subprocess, as an operator runs it.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from nightlight.batch import ConfigError, load_config, run_batch
from nightlight.batch.state import FolderInUseError
from nightlight.checkpoint import CheckpointError, CheckpointWarning
from nightlight.cli import main
from nightlight.hashing import sha256
from nightlight.pipeline import run_detect
from nightlight.synthetic import make_world

# every test here runs a batch job (some on a cluster, some killed and resumed):
# `pytest -m "not slow"` leaves them out (CONTRIBUTING.md)
pytestmark = pytest.mark.slow

YEARS = (2013, 2014, 2015, 2016, 2017)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def world_files(tmp_path_factory) -> tuple[dict[int, Path], float]:
    world = make_world(seed=5, bounds=(10.0, 44.0, 11.5, 45.0), years=YEARS, chunks=128)
    files = world.write_geotiffs(tmp_path_factory.mktemp("batch-world"))
    return files, float(world.lit_threshold)


def write_config(path: Path, files: dict[int, Path], lit: float, *, extra: str = "", chunks: int = 128) -> Path:
    lines = "\n".join(f'{y} = "{p}"' for y, p in files.items())
    path.write_text(
        f"""[inputs.files]
{lines}

[cities]
lit_threshold = {lit}

[decline]
base = 2013
compare = [2014, 2016]
min_decline = 0.10

[trend]
years = "2013-2017"

[run]
chunks = {chunks}
{extra}"""
    )
    return path


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal ids, areas, sums and flags (geometry by exact equality)."""
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if col == "geometry":
            assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry))
        elif a[col].dtype.kind == "f":
            np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
        else:
            assert a[col].tolist() == b[col].tolist(), col


# --------------------------------------------------------------------------- configuration
def test_example_config_is_valid_from_the_repo_root(shared_data, monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_config(REPO / "docs" / "examples" / "batch-china.toml")
    assert cfg.base == 2013 and cfg.compare == (2014, 2015, 2016)
    assert cfg.trend_years == tuple(range(2012, 2023)) and len(cfg.inputs) == 11
    assert cfg.params.nodata == "file" and cfg.params.align == "average"  # the catalog says 0 is dark


@pytest.mark.parametrize(
    "edit, key, marker",
    [
        (
            ("min_decline = 0.10", "min_decline = 0.10\nthreshhold = 0.2"),
            "[decline.threshhold] unknown key",
            "threshhold",
        ),
        (("[trend]", "[trends]"), "[trends] unknown table", "[trends]"),
        (("min_decline = 0.10", "min_decline = 1.5"), "[decline.min_decline]", "min_decline = 1.5"),
        (("compare = [2014, 2016]", "compare = [2014, 2018]"), "has no input for 2018", "[inputs.files]"),
        (('years = "2013-2017"', 'years = "2013-2015"'), "needs at least 4 years", "years ="),
        (("[cities]", "[cities]\nconnectivity = 6"), "[cities.connectivity] connectivity=6", "connectivity"),
        (("base = 2013", 'base = "2013"'), "expected int", "base ="),
    ],
)
def test_config_errors_name_the_key_and_its_line(tmp_path, world_files, edit, key, marker):
    files, lit = world_files
    path = write_config(tmp_path / "c.toml", files, lit)
    path.write_text(path.read_text().replace(*edit, 1))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(marker))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}, line {line}: ") and key in msg, msg


def test_a_missing_input_file_names_the_key_line_and_file(tmp_path, world_files):
    files, lit = world_files
    gone = {**files, 2016: tmp_path / "nope_2016.tif"}
    path = write_config(tmp_path / "c.toml", gone, lit)
    with pytest.raises(ConfigError, match=r"line 5: \[inputs.files.2016\] the input of 2016, .*nope_2016.tif"):
        load_config(path)


def test_cli_reports_config_errors_in_one_line(tmp_path, world_files):
    files, lit = world_files
    path = write_config(tmp_path / "c.toml", files, lit, extra="bogus = 1\n")
    res = CliRunner().invoke(main, ["batch", str(path), "--dry-run"])
    assert res.exit_code == 2
    assert "[run.bogus] unknown key" in res.output and len(res.output.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the job
@pytest.fixture(scope="module")
def first_run(tmp_path_factory, world_files):
    files, lit = world_files
    root = tmp_path_factory.mktemp("batch-run")
    cfg = load_config(write_config(root / "c.toml", files, lit))
    return cfg, root / "out", run_batch(cfg, root / "out", formats=("parquet", "gpkg"))


def test_each_pair_equals_nightlight_detect_on_the_same_pair(first_run, world_files, tmp_path):
    cfg, out, result = first_run
    files, lit = world_files
    for y in cfg.compare:
        detected, _, paths = run_detect(
            str(files[2013]), str(files[y]), tmp_path / f"d{y}", lit_threshold=lit, chunks=128
        )
        same_table(result.pairs[y], detected)
        same_table(gpd.read_parquet(out / f"decline_2013_{y}" / "cities.parquet"), gpd.read_parquet(paths["cities"]))
    assert int(result.pairs[2016]["shrinking"].sum()) > 3


def test_the_merged_table_holds_every_year_and_the_trend(first_run):
    cfg, out, result = first_run
    t = gpd.read_parquet(out / "cities.parquet")
    assert t["city_id"].is_unique and len(t) == len(result.pairs[2014]) > 5
    for y in cfg.compare:
        np.testing.assert_array_equal(t[f"change_{y}"], result.pairs[y]["change"])
        assert t[f"shrinking_{y}"].tolist() == result.pairs[y]["shrinking"].tolist()
    np.testing.assert_array_equal(t["mk_p"], result.trend["mk_p"])
    summary = pd.read_csv(out / "summary.csv")
    assert summary["shrinking"].tolist() == [int(result.pairs[y]["shrinking"].sum()) for y in cfg.compare]


def test_outputs_record_the_config_checksums_versions_and_the_run_log(first_run, world_files):
    cfg, out, result = first_run
    files, _ = world_files
    assert (out / "config.toml").read_text() == cfg.text
    inputs = json.loads((out / "inputs.json").read_text())
    assert inputs["2013"]["bytes"] == files[2013].stat().st_size and len(inputs["2013"]["sha256"]) == 64
    assert json.loads((out / "versions.json").read_text())["dask"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_hash"] == result.config_hash and "cities.parquet" in manifest["files"]
    for y in cfg.compare:  # each pair's full bundle, the interactive map and the GeoPackage too
        for name in ("cities.parquet", "cities.gpkg", "summary.csv", "map.html", "map.png"):
            assert f"decline_2013_{y}/{name}" in manifest["files"]
    assert "cities.gpkg" in manifest["files"]
    assert gpd.read_file(out / "cities.gpkg")["city_id"].tolist() == result.cities["city_id"].tolist()
    log = [json.loads(line) for line in (out / "run.jsonl").read_text().splitlines()]
    stages = [r["stage"] for r in log if r["event"] == "stage"]
    assert stages == ["open", "cities", "decline 2013->2014", "decline 2013->2016", "trend", "report"]
    assert all(r["seconds"] >= 0 and r["peak_rss_mb"]["driver"] > 0 for r in log if r["event"] == "stage")
    # a mosaic's totals are computed once: the base year's again in the second pair, and the
    # trend's years already summed in the pairs, come from the checkpoints
    reused = (len(cfg.compare) - 1) + len({cfg.base, *cfg.compare} & set(cfg.trend_years))
    assert result.blocks["computed"] > 0 and result.blocks["loaded"] == reused == 4


def test_a_rerun_of_the_same_config_loads_every_block_and_equals_the_first(first_run):
    cfg, out, result = first_run
    again = run_batch(cfg, out)
    assert again.blocks["computed"] == 0 and again.blocks["loaded"] == sum(result.blocks.values())
    same_table(again.cities, result.cities)
    for y in cfg.compare:
        same_table(again.pairs[y], result.pairs[y])


def test_another_config_on_the_same_folder_is_refused_unless_overwrite(first_run, tmp_path, world_files):
    cfg, out, result = first_run
    files, lit = world_files
    other = load_config(write_config(tmp_path / "other.toml", files, lit * 1.5))
    with pytest.raises(FolderInUseError, match="another configuration.*--overwrite"):
        run_batch(other, out)
    assert json.loads((out / "batch.json").read_text())["config_hash"] == result.config_hash  # untouched
    copy = tmp_path / "copy"
    run_batch(cfg, copy)
    replaced = run_batch(other, copy, overwrite=True)
    assert replaced.blocks["loaded"] == 4  # only the totals reused within the run (see above)
    assert json.loads((copy / "batch.json").read_text())["config_hash"] == replaced.config_hash


def test_a_detect_output_folder_is_refused(tmp_path, world_files):
    files, lit = world_files
    run_detect(str(files[2013]), str(files[2016]), tmp_path / "d", lit_threshold=lit, chunks=128)
    cfg = load_config(write_config(tmp_path / "c.toml", files, lit))
    with pytest.raises(FolderInUseError, match="another run"):
        run_batch(cfg, tmp_path / "d")


def test_a_full_disk_while_checkpointing_keeps_nothing_partial_and_resumes(
    tmp_path, world_files, first_run, monkeypatch
):
    import nightlight.checkpoint as ck

    files, lit = world_files
    cfg = load_config(write_config(tmp_path / "c.toml", files, lit))
    real_replace, calls = ck.os.replace, {"n": 0}

    def replace(src, dst):  # the 15th checkpoint write fails as a full disk would
        calls["n"] += 1
        if calls["n"] == 15:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", replace)
    with pytest.raises(CheckpointError, match="disk is full"):
        run_batch(cfg, tmp_path / "out")
    monkeypatch.setattr(ck.os, "replace", real_replace)
    ckpt = tmp_path / "out" / ".checkpoints"
    # blocks other threads were writing when the error surfaced finish (renamed whole) moments later
    _wait_for(lambda: not list(ckpt.rglob(".*.tmp-*")), 30, "in-flight writes to finish: a partial checkpoint was kept")
    assert not (tmp_path / "out" / "cities.parquet").exists()
    resumed = run_batch(cfg, tmp_path / "out")
    assert resumed.blocks["loaded"] >= 10  # the finished blocks were kept
    same_table(resumed.cities, first_run[2].cities)


# --------------------------------------------------------------------------- checkpoints cannot run code or go stale
class _Planted:
    """Unpickling this writes ``marker``: the proof that a checkpoint ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code from a checkpoint ran')",))


def _block_files(out: Path) -> list[Path]:
    """Every block file of every stage (whatever its format), in a stable order."""
    return sorted(p for p in (out / ".checkpoints").glob("*/*") if p.is_file() and p.name != "stage.json")


def _same_run(a, b) -> None:
    same_table(a.cities, b.cities)
    for y in b.pairs:
        same_table(a.pairs[y], b.pairs[y])


def test_block_files_round_trip_exactly_and_name_their_problem(tmp_path):
    import shapely

    from nightlight.checkpoint import TREE, load, save
    from nightlight.cities.polygons import PIECES_CODEC

    holed = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 4, 4))
    parts = shapely.MultiPolygon([shapely.box(20, 0, 21, 1), shapely.box(22, 0, 23, 1)])
    for codec, value, as_bytes in [
        (PIECES_CODEC, [(3, holed), (7, parts), (3, shapely.box(5, 5, 6, 7))], lambda v: [(c, g.wkb) for c, g in v]),
        (PIECES_CODEC, [], list),
        (TREE, (np.arange(3), [(np.ones((3, 2)), np.full(3, -np.inf))]), _as_lists),
    ]:
        save(tmp_path / "b.npz", codec.encode(value), "stage/0-0")
        assert as_bytes(codec.decode(load(tmp_path / "b.npz", "stage/0-0"))) == as_bytes(value)
    with pytest.raises(CheckpointError, match=r"b.npz: it holds another block"):
        load(tmp_path / "b.npz", "stage/0-1")
    np.save(tmp_path / "o.npy", np.array([object()], dtype=object))
    with pytest.raises(CheckpointError, match=r"o.npy: not a readable checkpoint .*allow_pickle"):
        load(tmp_path / "o.npy", "stage/0-0")


def _as_lists(v):
    return [_as_lists(x) for x in v] if isinstance(v, (list, tuple)) else v.tolist()


def test_a_planted_pickle_or_object_array_never_runs_and_its_block_is_recomputed(first_run, tmp_path):
    cfg, out, result = first_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    marker = tmp_path / "ran"
    files = _block_files(copy)
    outside = tmp_path / "outside.txt"
    outside.write_text("not a checkpoint")
    for k, f in enumerate(files):
        if k in (0, 2):  # a FIFO (reading it would wait forever) and a link to a file elsewhere
            f.unlink()
            os.mkfifo(f) if k == 0 else f.symlink_to(outside)
        elif k % 2:  # a pickle where a block was (the folder is on a filesystem others can write)
            f.write_bytes(pickle.dumps(_Planted(marker)))
        else:  # a valid .npz whose array holds a pickled object
            with open(f, "wb") as fh:
                np.savez(fh, istats=np.array([_Planted(marker)], dtype=object))
        (f.parent / "evil.pkl").write_bytes(pickle.dumps(_Planted(marker)))  # files of no block: never opened
    with pytest.warns(CheckpointWarning, match="not a readable checkpoint") as caught:
        again = run_batch(cfg, copy)
    assert not marker.exists(), "code from the checkpoint folder ran"
    assert outside.read_text() == "not a checkpoint"  # the link was removed, not its target
    assert again.blocks["rejected"] == len(files) == sum(issubclass(w.category, CheckpointWarning) for w in caught)
    _same_run(again, result)


def _damage(files: list[Path]) -> None:
    """Truncate one, empty one, flip a byte of one, swap two blocks of a stage, copy one into another stage."""
    big = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(big.read_bytes())
    data[len(data) // 2] ^= 0xFF
    big.write_bytes(bytes(data))
    rest = [f for f in files if f != big]
    rest[0].write_bytes(rest[0].read_bytes()[: rest[0].stat().st_size // 2])
    rest[1].write_bytes(b"")
    a, b = [f for f in rest[2:] if f.parent == rest[2].parent][:2]
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    other = next(f for f in rest if f.parent != a.parent and f not in (rest[0], rest[1]))
    target = next(f for f in rest if f.parent != other.parent and f not in (rest[0], rest[1], a, b))
    target.write_bytes(other.read_bytes())


def test_truncated_flipped_and_swapped_checkpoints_are_recomputed_with_a_warning_each(first_run, tmp_path):
    cfg, out, result = first_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    _damage(_block_files(copy))
    with pytest.warns(CheckpointWarning) as caught:
        again = run_batch(cfg, copy)
    messages = [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]
    assert len(messages) == again.blocks["rejected"] == 6, messages
    assert sum("holds another block" in m for m in messages) == 3  # the swapped pair and the copy
    assert all(m.startswith(str(copy / ".checkpoints")) and "computed again" in m for m in messages)
    _same_run(again, result)
    log = [json.loads(x) for x in (copy / "run.jsonl").read_text().splitlines()]
    assert sum(r.get("blocks_rejected", 0) for r in log if r["event"] == "stage") == 6  # on record
    assert run_batch(cfg, copy).blocks["computed"] == 0  # the recomputed blocks were written whole


def _dim(path: Path, factor: float) -> None:
    """Rewrite a GeoTIFF in place (same path) with its top-left quarter dimmed."""
    import rasterio

    with rasterio.open(path) as src:
        data, profile = src.read(1), src.profile
    h, w = data.shape
    data[: h // 2, : w // 2] *= factor
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def test_checkpoints_of_an_input_edited_in_place_are_never_reused(tmp_path, world_files):
    """Issue 19 item 3: same path, other bytes, the old checkpoint folder copied into a fresh --out."""
    files, lit = world_files
    (tmp_path / "in").mkdir()
    mine = {y: Path(shutil.copy(p, tmp_path / "in" / p.name)) for y, p in files.items()}
    cfg = load_config(write_config(tmp_path / "c.toml", mine, lit))
    before = run_batch(cfg, tmp_path / "first")
    _dim(mine[2016], 0.5)
    shutil.copytree(tmp_path / "first" / ".checkpoints", tmp_path / "second" / ".checkpoints")
    with pytest.warns(CheckpointWarning, match="other inputs"):
        second = run_batch(cfg, tmp_path / "second")
    fresh = run_batch(cfg, tmp_path / "fresh")
    assert not fresh.pairs[2016]["light_after"].equals(before.pairs[2016]["light_after"])  # the edit matters
    _same_run(second, fresh)
    same_table(second.trend, fresh.trend)
    assert second.blocks == fresh.blocks  # nothing of the old folder was loaded
    recorded = json.loads((tmp_path / "second" / "inputs.json").read_text())["2016"]["sha256"]
    assert recorded == sha256(mine[2016])


# --------------------------------------------------------------------------- on a real cluster
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _spawn(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=ENV, start_new_session=True
    )


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _wait_for(predicate, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers; yields (address, [worker processes])."""
    sched_file = tmp_path / "scheduler.json"
    procs = [
        _spawn(
            "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(sched_file), log=tmp_path / "scheduler.log",
        )
    ]  # fmt: skip
    try:
        _wait_for(sched_file.exists, 60, "the scheduler file")
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        workers = [
            _spawn(
                "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard",
                "--memory-limit", "2GB", "--name", f"w{i}", log=tmp_path / f"worker{i}.log",
            )
            for i in range(2)
        ]  # fmt: skip
        procs += workers
        from distributed import Client

        with Client(address, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs:
            _kill(p)


@pytest.fixture(scope="module")
def slow_config(tmp_path_factory, world_files):
    """The test world in 64-px chunks: enough block tasks to interrupt the job part-way."""
    files, lit = world_files
    root = tmp_path_factory.mktemp("batch-cluster")
    cfg_path = write_config(root / "c.toml", files, lit, chunks=64)
    reference = run_batch(load_config(cfg_path), root / "reference")  # uninterrupted, threaded, in-process
    return cfg_path, reference


def _batch(cfg: Path, out: Path, *args: str, log: Path) -> subprocess.Popen:
    return _spawn("-m", "nightlight", "batch", str(cfg), "--out", str(out), *args, log=log)


def _check_equal(out: Path, reference) -> None:
    same_table(gpd.read_parquet(out / "cities.parquet"), reference.cities)
    for y, res in reference.pairs.items():
        same_table(gpd.read_parquet(out / f"decline_2013_{y}" / "cities.parquet"), res)


def _blocks(out: Path) -> int:
    return sum(1 for _ in (out / ".checkpoints").rglob("*.npz")) if (out / ".checkpoints").exists() else 0


def test_a_batch_through_a_running_scheduler_equals_the_local_run(cluster, slow_config, tmp_path):
    address, _ = cluster
    cfg, reference = slow_config
    proc = _batch(cfg, tmp_path / "out", "--scheduler", address, log=tmp_path / "batch.log")
    assert proc.wait(timeout=600) == 0, (tmp_path / "batch.log").read_text()
    assert "dask dashboard" in (tmp_path / "batch.log").read_text()
    _check_equal(tmp_path / "out", reference)
    log = [json.loads(x) for x in (tmp_path / "out" / "run.jsonl").read_text().splitlines()]
    workers = {k for r in log if r["event"] == "stage" for k in r["peak_rss_mb"] if k.startswith("tcp://")}
    assert len(workers) == 2  # memory per worker is on record
    tasks = [r["tasks"] for r in log if r["event"] == "stage"]
    assert None not in tasks and sum(tasks) > 50  # counted by the scheduler plugin


def test_a_killed_worker_does_not_change_the_result(cluster, slow_config, tmp_path):
    address, workers = cluster
    cfg, reference = slow_config
    out = tmp_path / "out"
    proc = _batch(cfg, out, "--scheduler", address, log=tmp_path / "batch.log")
    try:
        _wait_for(lambda: _blocks(out) >= 10 or proc.poll() is not None, 300, "the first checkpoints")
        assert proc.poll() is None, (
            "the job finished before a worker could be killed: " + (tmp_path / "batch.log").read_text()
        )
        _kill(workers[0])  # SIGKILL: no goodbye to the scheduler
        assert proc.wait(timeout=600) == 0, (tmp_path / "batch.log").read_text()
    finally:
        _kill(proc)
    _check_equal(out, reference)


def test_a_killed_batch_resumes_without_losing_or_redoing_finished_work(slow_config, tmp_path):
    cfg, reference = slow_config
    out = tmp_path / "out"
    first = _batch(cfg, out, "--cores", "1", log=tmp_path / "first.log")
    try:
        _wait_for(lambda: _blocks(out) >= 20 or first.poll() is not None, 300, "the first checkpoints")
        assert first.poll() is None, "the job finished before it could be killed"
    finally:
        _kill(first)  # SIGKILL of the whole batch (its LocalCluster is in the same process group)
    kept = _blocks(out)
    assert kept >= 20 and not (out / "cities.parquet").exists()
    second = _batch(cfg, out, "--cores", "1", log=tmp_path / "second.log")
    assert second.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()
    _check_equal(out, reference)
    runs = [json.loads(x) for x in (out / "run.jsonl").read_text().splitlines()]
    finish = [r for r in runs if r["event"] == "finish"]
    assert len(finish) == 1 and finish[0]["blocks"]["loaded"] >= kept - 1  # a stage may be emptied at most once
    assert sum(finish[0]["blocks"].values()) == sum(reference.blocks.values())
    assert [r["resumed"] for r in runs if r["event"] == "start"] == [False, True]
    assert _blocks(out) == reference.blocks["computed"]  # nothing duplicated


def test_an_unreachable_scheduler_is_one_clear_error_without_a_hang(slow_config, tmp_path):
    cfg, _ = slow_config
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "nightlight", "batch", str(cfg), "--out", str(tmp_path / "o"),
         "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2"],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    assert res.returncode == 1
    assert "tcp://127.0.0.1:9" in res.stderr and "no dask scheduler answered within 2 s" in res.stderr
    assert time.monotonic() - t0 < 60


def test_dry_run_prints_the_slurm_job_script_and_submits_nothing(slow_config, tmp_path):
    pytest.importorskip("dask_jobqueue")
    cfg, _ = slow_config
    res = subprocess.run(
        [sys.executable, "-m", "nightlight", "batch", str(cfg), "--cluster", "slurm", "--workers", "4",
         "--cores", "8", "--memory", "32GB", "--dry-run", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "#SBATCH --cpus-per-task=8" in res.stdout and "dask_worker" in res.stdout.replace("-", "_")
    assert "configuration" in res.stdout and "valid" in res.stdout and f"output folder {tmp_path / 'o'}/" in res.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written: no output folder, no checkpoints


def test_catalog_names_in_a_config_run_the_real_shanghai_series(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # catalog names find ../shared/data from the repo root
    cfg_path = tmp_path / "shanghai.toml"
    cfg_path.write_text(
        """[inputs]
template = "shanghai-viirs-like:{year}"

[cities]
lit_threshold = 10.0

[decline]
base = 2013
compare = [2016]

[trend]
years = "2013-2020"

[run]
chunks = 128
"""
    )
    cfg = load_config(cfg_path)
    result = run_batch(cfg, tmp_path / "out")
    direct, _, _ = run_detect(
        str(shared_data / "shanghai-viirs-like/annual/NTL_Shanghai_2000_2020_2013.tif"),
        str(shared_data / "shanghai-viirs-like/annual/NTL_Shanghai_2000_2020_2016.tif"),
        tmp_path / "d",
        lit_threshold=10.0,
        chunks=128,
    )
    same_table(result.pairs[2016], direct)
    assert len(result.cities) >= 1 and result.trend["mk_p"].notna().all()
    inputs = json.loads((tmp_path / "out" / "inputs.json").read_text())
    assert inputs["2016"]["source"] == "shanghai-viirs-like:2016"
    assert inputs["2016"]["resolved"].endswith("_2016.tif") and len(inputs["2016"]["sha256"]) == 64


# --------------------------------------------------------------------------- fault injection
#: A batch that kills itself (SIGKILL: no cleanup) at a point chosen by its seed: at a random
#: moment, or at a random checkpoint write — partway through its bytes, after the whole
#: temporary file but before the rename, or right after the rename.
KILLER = r"""
import io, os, random, signal, sys, threading
import numpy as np
from nightlight.batch import load_config, run_batch

cfg, out, seed, writes, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rng = random.Random(seed)
mode = ("mid-write", "before-rename", "after-rename", "timer")[seed % 4]
nth, count, lock = rng.randrange(1, writes + 1), [0], threading.Lock()
print(mode, nth, flush=True)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def hit(target):
    with lock:
        count[0] += str(target).endswith(".npz") or isinstance(target, io.IOBase)
        return count[0] == nth

real_savez, real_replace = np.savez, os.replace

def savez(f, *args, **arrays):
    if mode == "mid-write" and hit(f):
        buf = io.BytesIO()
        real_savez(buf, *args, **arrays)
        f.write(buf.getvalue()[: rng.randrange(1, len(buf.getvalue()))])
        f.flush()
        die()
    return real_savez(f, *args, **arrays)

def replace(src, dst):
    if mode == "before-rename" and hit(dst):
        die()
    real_replace(src, dst)
    if mode == "after-rename" and hit(dst):
        die()

np.savez, os.replace = savez, replace
if mode == "timer":
    threading.Timer(rng.uniform(0.0, seconds), die).start()
run_batch(load_config(cfg), out)
"""


def _tamper(out: Path, rng: random.Random, marker: Path) -> list[str]:
    """Three of: flip a bit, truncate, empty, swap two blocks, copy one over another, plant a pickle or object array."""
    files = _block_files(out)
    done = []
    for action in rng.sample(["flip", "truncate", "empty", "swap", "copy", "pickle", "object"], 3):
        f = rng.choice(files)
        g = rng.choice([x for x in files if x != f])
        data = f.read_bytes()
        if action == "flip":
            i = rng.randrange(len(data))
            f.write_bytes(data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :])
        elif action == "truncate":
            f.write_bytes(data[: rng.randrange(len(data))])
        elif action == "empty":
            f.write_bytes(b"")
        elif action == "swap":
            f.write_bytes(g.read_bytes())
            g.write_bytes(data)
        elif action == "copy":
            f.write_bytes(g.read_bytes())
        elif action == "pickle":
            f.write_bytes(pickle.dumps(_Planted(marker)))
        else:
            with open(f, "wb") as fh:
                np.savez(fh, a0=np.array([_Planted(marker)], dtype=object))
        done.append(f"{action} {f.relative_to(out)}")
    return done


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_fault_injection_kill_then_tamper_every_rerun_equals_the_uninterrupted_run(slow_config, tmp_path, seed):
    cfg, reference = slow_config
    out, marker, rng = tmp_path / "out", tmp_path / "ran", random.Random(seed)
    writes = str(reference.blocks["computed"])
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(cfg), str(out), str(seed), writes, "4"],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert killed.returncode in (0, -signal.SIGKILL), killed.stderr
    what = [f"killed: {killed.stdout.strip()} (exit {killed.returncode})"]
    for round_ in range(3):
        if round_:
            what.append(f"tampered: {_tamper(out, rng, marker)}")
        again = run_batch(load_config(cfg), out)  # resume after the kill, then after each tampering
        assert not marker.exists(), f"code from the checkpoint folder ran after {what}"
        _same_run(again, reference)
        same_table(again.trend, reference.trend)
        assert again.blocks["loaded"] + again.blocks["computed"] == sum(reference.blocks.values()), what
        assert again.blocks["rejected"] <= (4 if round_ else 0), what  # a swap rejects both files
