"""An output folder written as a set: locked, staged, published together, with a manifest.

A run's files (tables, figures, summaries) belong together: a reader must never find
the tables of one run beside a figure of another. :class:`OutputFolder`:

1. **before any computing** creates the folder, checks that it is writable (a probe
   file) and takes a lock (``.nightlight.lock``, created with ``O_EXCL``): a second
   writer gets :class:`OutputFolderError` naming the holder (pid, host, start time);
   a lock left by a process that no longer runs on this host is taken over;
2. removes what killed runs left behind (``.staging-*`` folders, ``.*.tmp*`` files);
3. lets the run write into a staging folder inside it (same filesystem, so renames
   are atomic);
4. on :meth:`publish`, writes ``manifest.json`` (run id, parameters, versions, every
   file's size and SHA-256), moves the files into place, deletes files of the
   previous manifest that this run did not write (no stale figure stays beside new
   tables), and writes the manifest last: the manifest on disk always lists the set
   that is there;
5. on failure (an exception, a full disk) deletes the staging folder: the previous
   run's set is left exactly as it was.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from types import TracebackType

from nightlight._version import __version__
from nightlight.errors import NightlightError
from nightlight.hashing import sha256
from nightlight.outputs.stac import write_run_item

LOCK_NAME = ".nightlight.lock"
MANIFEST_NAME = "manifest.json"


class OutputFolderError(NightlightError, OSError):
    """The output folder cannot be written, or another run is writing to it."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class OutputFolder:
    """Context manager for one run's output folder (see the module docstring).

    Parameters
    ----------
    path : path
        The output folder (created).
    run : dict, optional
        What to record in the manifest besides the files (command, inputs, parameters).
    """

    def __init__(self, path: str | os.PathLike, *, run: dict | None = None) -> None:
        self.path = Path(path)
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.run = dict(run or {})
        self.staging = self.path / f".staging-{self.run_id}"
        self._lock = self.path / LOCK_NAME
        self._locked = False
        self.published: dict[str, Path] = {}

    # ------------------------------------------------------------------ enter: check, lock, clean
    def __enter__(self) -> OutputFolder:
        self._check_writable()
        self._acquire()
        try:
            self._clean_leftovers()
            self.staging.mkdir()
        except BaseException:
            self._release()
            raise
        return self

    def _check_writable(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".probe-{self.run_id}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise OutputFolderError(
                f"{self.path}: the output folder cannot be written ({exc.strerror or exc}). "
                "Choose a folder you can write to (--out) or fix its permissions; nothing was computed."
            ) from exc

    def _acquire(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "run_id": self.run_id}
        for _ in range(2):
            try:
                fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._stale(holder):
                    self._lock.unlink(missing_ok=True)
                    continue
                who = (
                    f"run {holder.get('run_id')} (pid {holder.get('pid')} on {holder.get('host')}, started "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.get('started', 0)))})"
                    if holder
                    else "another run"
                )
                raise OutputFolderError(
                    f"{self.path}: {who} is writing to this output folder. Wait for it to finish or pass another "
                    f"--out; if no run is active, delete {self._lock}."
                ) from None
            with os.fdopen(fd, "w") as f:
                json.dump(info, f)
            self._locked = True
            return
        raise OutputFolderError(f"{self.path}: could not take the lock {self._lock}; delete it if no run is active.")

    def _holder(self) -> dict | None:
        try:
            return dict(json.loads(self._lock.read_text()))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _stale(holder: dict) -> bool:
        return holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", -1)))

    def _clean_leftovers(self) -> None:
        """Staging folders and temp files of runs that were killed (we hold the lock: none is active)."""
        for p in self.path.glob(".staging-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.path.glob(".*.tmp*"):
            p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ publish
    def publish(self, extra: dict | None = None) -> dict[str, Path]:
        """Move the staged files into the folder as one set, with ``manifest.json``; returns name → path."""
        files = sorted(p for p in self.staging.rglob("*") if p.is_file())
        entries = {
            p.relative_to(self.staging).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in files
        }
        manifest = {
            "run_id": self.run_id,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "nightlight_version": __version__,
            **self.run,
            **(extra or {}),
            "files": entries,
        }
        previous = self._previous_files()
        for name in entries:
            dest = self.path / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / name, dest)
        for name in previous - set(entries):  # the old run's files this run did not replace
            (self.path / name).unlink(missing_ok=True)
        tmp = self.path / f".{MANIFEST_NAME}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
        os.replace(tmp, self.path / MANIFEST_NAME)
        write_run_item(self.path, manifest)  # the same set as a STAC Item, beside the manifest
        self.published = {name: self.path / name for name in entries}
        return self.published

    def _previous_files(self) -> set[str]:
        try:
            return set(json.loads((self.path / MANIFEST_NAME).read_text()).get("files", {}))
        except (OSError, ValueError):
            return set()

    # ------------------------------------------------------------------ exit
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        self._release()
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise OutputFolderError(
                f"{self.path}: the disk is full; nothing of this run was published and the previous outputs "
                "are unchanged. Free space and run again."
            ) from exc

    def _release(self) -> None:
        if self._locked:
            self._lock.unlink(missing_ok=True)
            self._locked = False
