"""Issue 10 case 9: an output folder is written as a set (lock, staging, manifest, cleanup)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from nightlight.hashing import sha256
from nightlight.outputs.folder import LOCK_NAME, MANIFEST_NAME, OutputFolder, OutputFolderError


def _write(folder: OutputFolder, **files: str) -> dict:
    for name, text in files.items():
        (folder.staging / name).write_text(text)
    return folder.publish()


def test_files_are_published_together_with_a_manifest(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, run={"command": "test", "parameters": {"decline": 0.1}}) as folder:
        assert not (out / "a.csv").exists()  # staged, not yet visible
        _write(folder, **{"a.csv": "1", "b.png": "2"})
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {"a.csv", "b.png"}
    assert manifest["files"]["a.csv"]["sha256"] == sha256(out / "a.csv")
    assert manifest["parameters"] == {"decline": 0.1} and manifest["nightlight_version"]
    assert not (out / LOCK_NAME).exists() and not list(out.glob(".staging-*"))


def test_a_second_writer_gets_a_clear_error(tmp_path):
    """Old: two runs into one --out mixed their tables and figures, both with exit code 0."""
    out = tmp_path / "out"
    with OutputFolder(out):
        with pytest.raises(OutputFolderError, match="is writing to this output folder"):
            OutputFolder(out).__enter__()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (out / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0}))
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "1"})
    assert (out / "a.csv").read_text() == "1"


def test_stale_files_of_a_previous_run_do_not_stay_beside_new_ones(tmp_path):
    """Old: re-running into a used folder left a stale figure beside the new tables."""
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "old", "old_figure.png": "old"})
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "new"})
    assert (out / "a.csv").read_text() == "new" and not (out / "old_figure.png").exists()


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path):
    """Old: a SIGKILL left an orphan .map.*.tmp.png for ever."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".map.x1y2.tmp.png").write_text("half")
    (out / ".staging-20260101T000000-deadbeef").mkdir()
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "1"})
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "item.json", MANIFEST_NAME]  # item.json: the STAC Item


def test_a_failed_run_leaves_the_previous_set_unchanged(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "old", "b.png": "old"})
    before = {p.name: p.read_text() for p in out.iterdir() if p.is_file()}
    with pytest.raises(RuntimeError):
        with OutputFolder(out) as folder:
            (folder.staging / "a.csv").write_text("new")
            raise RuntimeError("the computation failed half way")
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == before


def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_set(tmp_path):
    """Old: a full disk left new tables beside old figures."""
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "old", "b.png": "old"})
    with pytest.raises(OutputFolderError, match="disk is full"):
        with OutputFolder(out) as folder:
            (folder.staging / "a.csv").write_text("new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert (out / "a.csv").read_text() == "old" and (out / "b.png").read_text() == "old"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_an_unwritable_folder_fails_before_any_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(OutputFolderError, match="cannot be written"):
        OutputFolder(ro / "out").__enter__()


def test_an_unwritable_folder_fails_before_any_work_even_as_root(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutputFolderError, match="cannot be written"):
        OutputFolder(blocker / "out").__enter__()


def test_detect_checks_the_folder_before_computing(tmp_path, monkeypatch):
    """The CLI job refuses a locked folder before opening any mosaic."""
    import nightlight.pipeline as pipeline

    def boom(*a, **k):
        raise AssertionError("a mosaic was opened")

    monkeypatch.setattr(pipeline, "prepare_inputs", boom)
    out = tmp_path / "out"
    with OutputFolder(out):
        with pytest.raises(OutputFolderError):
            pipeline.run_detect("a.tif", "b.tif", out)
