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
    """A run killed after staging (its lock and staging folder left behind) is cleaned by the next run."""
    out = tmp_path / "out"
    killed = OutputFolder(out)
    killed.__enter__()  # never exited: as after a SIGKILL
    (killed.staging / "a.csv").write_text("half")
    killed._locked = False  # the dead process's lock stays on disk
    lock = json.loads((out / LOCK_NAME).read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / LOCK_NAME).write_text(json.dumps({**lock, "pid": int(dead.stdout)}))
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "1"})
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "item.json", MANIFEST_NAME]  # item.json: the STAC Item


def _user_folder(tmp_path):
    out = tmp_path / "userdir"
    (out / ".staging-mine").mkdir(parents=True)
    files = {
        "notes.txt": "mine",
        ".draft.tmp.txt": "mine",
        ".x.tmpl": "mine",
        ".staging-mine/keep.txt": "mine",
        "summary.csv": "mine",
        "map.png": "mine",
    }
    for name, text in files.items():
        (out / name).write_text(text)
    return out, files


def test_a_folder_of_user_files_is_refused_and_left_untouched(tmp_path):
    """Issue 19 case 4. Old: .staging-mine/, .draft.tmp.txt and .x.tmpl deleted, summary.csv/map.png overwritten."""
    out, files = _user_folder(tmp_path)
    with pytest.raises(OutputFolderError, match=r"not a nightlight output folder .*--overwrite"):
        with OutputFolder(out) as folder:
            _write(folder, **{"summary.csv": "ours", "map.png": "ours"})
    assert {n: (out / n).read_text() for n in files} == files
    assert sorted(p.name for p in out.iterdir()) == sorted([n for n in files if "/" not in n] + [".staging-mine"])


def test_overwrite_writes_into_a_user_folder_and_deletes_none_of_its_files(tmp_path):
    out, files = _user_folder(tmp_path)
    with OutputFolder(out, overwrite=True) as folder:
        _write(folder, **{"summary.csv": "ours", "map.png": "ours"})
    with OutputFolder(out) as folder:  # now an output folder: a second run needs no --overwrite
        _write(folder, **{"cities.csv": "ours"})  # the previous run's summary.csv and map.png go, nothing else
    kept = {n: t for n, t in files.items() if n not in ("summary.csv", "map.png")}
    assert {n: (out / n).read_text() for n in kept} == kept
    assert not (out / "summary.csv").exists() and (out / "cities.csv").read_text() == "ours"


def test_a_user_file_beside_an_output_set_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "1"})
    (out / "b.png").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"b.png already there and not written by an earlier run"):
        with OutputFolder(out) as folder:
            _write(folder, **{"a.csv": "2", "b.png": "ours"})
    assert (out / "b.png").read_text() == "mine" and (out / "a.csv").read_text() == "1"


@pytest.mark.parametrize("outside", ["../victim.txt", "ABSOLUTE"])
def test_a_manifest_naming_files_outside_the_folder_deletes_nothing(tmp_path, outside):
    """Issue 19 case 1. Old: a manifest listing ../victim.txt or /abs/victim.txt deleted it, exit 0."""
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "1"})
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    name = str(victim) if outside == "ABSOLUTE" else outside
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["files"][name] = {"bytes": 8, "sha256": sha256(victim)}  # even with the right checksum
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="not a file inside the output folder"):
        with OutputFolder(out) as folder:
            _write(folder, **{"a.csv": "2"})
    assert victim.read_text() == "precious"


def test_a_previous_file_the_user_edited_is_kept(tmp_path):
    """Only files still holding the bytes we wrote are removed as stale."""
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "1", "fig.png": "ours"})
    (out / "fig.png").write_text("edited by the user")
    with OutputFolder(out) as folder:
        _write(folder, **{"a.csv": "2"})
    assert (out / "fig.png").read_text() == "edited by the user"


def test_a_dangling_symlink_as_out_is_named(tmp_path):
    """Old: 'cannot be written (File exists)'."""
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(OutputFolderError, match=r"symbolic link to .*gone, which does not exist"):
        OutputFolder(link).__enter__()


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


def test_detect_refuses_a_user_folder_before_computing_and_overwrite_passes(tmp_path):
    """The CLI: one line naming the folder and --overwrite; with --overwrite the run goes on (here to its inputs)."""
    from click.testing import CliRunner

    from nightlight.cli import main

    out, files = _user_folder(tmp_path)
    res = CliRunner().invoke(main, ["detect", "nope1.tif", "nope2.tif", "--out", str(out)])
    assert res.exit_code != 0 and "not a nightlight output folder" in res.output and "--overwrite" in res.output
    res = CliRunner().invoke(main, ["detect", "nope1.tif", "nope2.tif", "--out", str(out), "--overwrite"])
    assert res.exit_code != 0 and "nope1.tif" in res.output and "not a nightlight output folder" not in res.output
    assert {n: (out / n).read_text() for n in files} == files
