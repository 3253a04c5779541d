"""An output folder written as a set: locked, staged, published together, with a manifest.

A run's files (tables, figures, summaries) belong together: a reader must never find
the tables of one run beside a figure of another. :class:`OutputFolder`:

1. **before any computing** creates the folder, checks that it is writable (a probe
   file) and takes a lock (``.nightlight.lock``, created with ``O_EXCL``): a second
   writer gets :class:`OutputFolderError` naming the holder (pid, host, start time);
   a lock left by a process that no longer runs on this host is taken over;
2. refuses a folder that is not empty and not a nightlight output folder (no manifest
   of ours) unless ``overwrite=True`` (``--overwrite``): the user's own files there
   must not be mixed with, or replaced by, a run's;
3. removes the staging folders that killed runs left behind — only those holding
   our marker file (:data:`STAGING_MARK`), never a user's ``.staging-mine/``;
4. lets the run write into a staging folder inside it (same filesystem, so renames
   are atomic); every temp file, the manifest's and the STAC Item's included, is
   written there, never in the folder itself;
5. on :meth:`publish`, writes ``manifest.json`` (run id, parameters, versions, every
   file's size and SHA-256), moves the files into place, deletes files of the
   previous manifest that this run did not write (no stale figure stays beside new
   tables), and writes the manifest last: the manifest on disk always lists the set
   that is there. A previous file is deleted only if its name resolves inside the
   folder and its bytes are still those the manifest recorded (written by us, not
   edited since): a manifest naming ``../victim.txt`` or ``/etc/x`` deletes nothing;
6. on failure (an exception, a full disk) deletes the staging folder: the previous
   run's set is left exactly as it was.

The same set is also a STAC Item, ``item.json`` beside the manifest (:func:`run_item`):
its id is the run id; its geometry the mosaics' lon/lat footprint; its time the period
of the data (1 January of the first year to 31 December of the last), or the time the
run finished when the years are not known (``nightlight:finished`` holds that time
either way). Each published file is an asset (href relative to the folder,
``file:size`` and ``file:checksum`` as a SHA-256 multihash, a role from its extension);
the command, inputs and parameters are ``nightlight:*`` properties.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from nightlight._version import __version__
from nightlight.errors import NightlightError
from nightlight.hashing import sha256
from nightlight.io.stac import box_geometry, year_span

LOCK_NAME = ".nightlight.lock"
MANIFEST_NAME = "manifest.json"
#: The file inside each staging folder that marks it as ours (its content: the run id).
STAGING_MARK = ".nightlight-staging"
ITEM_NAME = "item.json"
STAC_FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
#: extension → (media type, role) of an asset; other files are "data" of no declared type.
_KINDS = {
    ".parquet": ("application/vnd.apache.parquet", "data"),
    ".gpkg": ("application/geopackage+sqlite3", "data"),
    ".csv": ("text/csv", "data"),
    ".png": ("image/png", "overview"),
    ".html": ("text/html", "overview"),
    ".json": ("application/json", "metadata"),
    ".md": ("text/markdown", "metadata"),
}


class OutputFolderError(NightlightError, OSError):
    """The output folder cannot be written, or another run is writing to it."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
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
    overwrite : bool
        Write into a folder that holds other files and no manifest of ours (they are
        kept unless the run writes a file of the same name, which replaces it).
    markers : tuple of str
        Further names that mark the folder as ours (a batch run's state file: a run
        killed before its first publish left no manifest but may be resumed).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        run: dict | None = None,
        overwrite: bool = False,
        markers: tuple[str, ...] = (),
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.markers = markers
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
            self._check_ours()
            self._clean_leftovers()
            self.staging.mkdir()
            (self.staging / STAGING_MARK).write_text(self.run_id)
        except BaseException:
            self._release()
            raise
        return self

    def _check_writable(self) -> None:
        if self.path.is_symlink() and not self.path.exists():
            raise OutputFolderError(
                f"{self.path}: a symbolic link to {os.readlink(self.path)}, which does not exist. Create the "
                "target folder or pass another --out; nothing was computed."
            )
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
                # a lock left by a process that no longer runs on this host is taken over
                if holder and holder.get("host") == socket.gethostname() and not _pid_alive(holder.get("pid", -1)):
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

    def _is_ours(self, entry: Path) -> bool:
        """Whether ``entry`` (directly in the folder) is a file of ours that the user-files check may ignore."""
        if entry.name in (LOCK_NAME, *self.markers):
            return True
        mark = entry / STAGING_MARK
        return entry.name.startswith(".staging-") and mark.is_file() and f".staging-{_read(mark)}" == entry.name

    def _check_ours(self) -> None:
        """Refuse a non-empty folder without a manifest of ours (user files), unless ``overwrite``."""
        if self.overwrite or self._previous_manifest() is not None:
            return
        others = sorted(p.name for p in self.path.iterdir() if not self._is_ours(p))
        if others:
            shown = ", ".join(others[:5]) + (" …" if len(others) > 5 else "")
            raise OutputFolderError(
                f"{self.path}: not a nightlight output folder (no {MANIFEST_NAME}) and not empty ({shown}); "
                "its files could be replaced. Pass an empty or new folder (--out), or --overwrite to write "
                "into it anyway; nothing was computed."
            )

    def _clean_leftovers(self) -> None:
        """Staging folders of runs that were killed (we hold the lock: none is active); only ours, by their mark."""
        for p in self.path.glob(".staging-*"):
            if p.is_dir() and not p.is_symlink() and self._is_ours(p):
                shutil.rmtree(p, ignore_errors=True)

    # ------------------------------------------------------------------ publish
    def publish(self, extra: dict | None = None) -> dict[str, Path]:
        """Move the staged files into the folder as one set, with ``manifest.json``; returns name → path."""
        files = sorted(p for p in self.staging.rglob("*") if p.is_file() and p.name != STAGING_MARK)
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
        previous = dict((self._previous_manifest() or {}).get("files", {}))
        clash = sorted(n for n in entries if n not in previous and (self.path / n).exists())
        if clash and not self.overwrite:
            raise OutputFolderError(
                f"{self.path}: {', '.join(clash)} already there and not written by an earlier run (not in its "
                f"{MANIFEST_NAME}); nothing was replaced. Move them away, or pass --overwrite."
            )
        for name in entries:
            dest = self.path / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / name, dest)
        for name, info in previous.items():
            if name not in entries:  # the old run's files this run did not replace
                self._remove_previous(name, info)
        # The manifest and the STAC Item are written in staging too, then renamed: no temp file in the folder.
        (self.staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=str))
        (self.staging / ITEM_NAME).write_text(json.dumps(run_item(manifest), indent=2))
        os.replace(self.staging / ITEM_NAME, self.path / ITEM_NAME)  # the same set as a STAC Item
        os.replace(self.staging / MANIFEST_NAME, self.path / MANIFEST_NAME)  # last: it lists what is there
        self.published = {name: self.path / name for name in entries}
        return self.published

    def _remove_previous(self, name: str, info: Any) -> None:
        """Delete a file of the previous manifest: only inside the folder, and only if still the bytes we wrote."""
        root = self.path.resolve()
        target = self.path / name
        inside = not Path(name).is_absolute() and target.resolve().is_relative_to(root)
        if not inside or target.is_symlink():
            warnings.warn(
                f"{self.path / MANIFEST_NAME} lists {name!r}, which is not a file inside the output folder; "
                "it was not deleted (the manifest was edited or is not ours).",
                stacklevel=3,
            )
            return
        recorded = info.get("sha256") if isinstance(info, dict) else None
        if target.is_file() and recorded and sha256(target) == recorded:
            target.unlink()
        # else: gone already, or changed since we wrote it (the user's now): left alone

    def _previous_manifest(self) -> dict | None:
        """The folder's manifest if it is one of ours (a run id and a files table), else None."""
        try:
            data = json.loads((self.path / MANIFEST_NAME).read_text())
        except (OSError, ValueError):
            return None
        if isinstance(data, dict) and "run_id" in data and isinstance(data.get("files"), dict):
            return data
        return None

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


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def run_item(manifest: dict[str, Any]) -> dict[str, Any]:
    """The STAC Item (as a dict, validated by building it with pystac) of a run's manifest."""
    import pystac

    finished = manifest.get("finished")
    try:
        when = dt.datetime.strptime(str(finished), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        when = dt.datetime.now(dt.UTC)
    props = {
        f"nightlight:{k}": manifest[k]
        for k in ("command", "before", "after", "parameters", "nightlight_version", "status_counts")
        if k in manifest
    }
    props["nightlight:finished"] = when.isoformat()
    box = manifest.get("footprint")
    period = manifest.get("period")
    times: dict[str, Any] = {"datetime": when}
    if period:
        start, end = year_span(*period)
        times = {"datetime": None, "start_datetime": start, "end_datetime": end}
    item = pystac.Item(
        id=str(manifest.get("run_id", "run")),
        geometry=box_geometry(*box) if box else None,
        bbox=list(box) if box else None,
        properties=json.loads(json.dumps(props, default=str)),
        stac_extensions=[STAC_FILE],
        **times,
    )
    for name, info in sorted(manifest.get("files", {}).items()):
        media_type, role = _KINDS.get(Path(name).suffix.lower(), (None, "data"))
        item.add_asset(
            name,
            pystac.Asset(
                href=f"./{name}",
                media_type=media_type,
                roles=[role],
                extra_fields={"file:size": info.get("bytes"), "file:checksum": "1220" + str(info.get("sha256"))},
            ),
        )
    return item.to_dict(include_self_link=False, transform_hrefs=False)
