"""Per-block checkpoints of the expensive map passes, so an interrupted batch job resumes.

A batch job over a global mosaic spends its time in a few *map passes*: per-block
labeling statistics (:mod:`nightlight.cities.label`), per-block polygon pieces
(:mod:`nightlight.cities.polygons`), whole-mosaic totals and per-block zonal sums of
every year (:mod:`nightlight.change`). When a :class:`CheckpointStore` is active
(``with checkpoints(folder):``), each of those passes asks it for a :class:`Stage`
and every block task

* whose result file exists is replaced, **in the graph the driver builds**, by a task
  that loads it — it has no dependencies, so dask culls the reads of that block;
* else computes as before and writes its result atomically (temporary file in the
  same folder, ``fsync``, ``os.replace``): a file that exists is whole. A failed write
  (a full disk) leaves no file, so the block is simply redone on resume.

Stages are numbered per name in call order (``label-00``, ``zonal-03``): the batch
runs the same passes in the same order for the same configuration. Each stage
folder holds ``stage.json`` with a fingerprint of what the pass computes (the dask
names of its inputs, which are content tokens of the files and steps, its block
layout and parameters); a stage whose fingerprint differs is emptied and redone, so
a checkpoint of other inputs is never reused.

Files are pickles written by this package for this folder; do not point a job at a
checkpoint folder you did not create.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask

from nightlight.errors import NightlightError
from nightlight.hashing import fingerprint

STAGE_FILE = "stage.json"
_ACTIVE: ContextVar[CheckpointStore | None] = ContextVar("nightlight_checkpoints", default=None)


class CheckpointError(NightlightError, OSError):
    """A checkpoint could not be written or read."""


def save(path: str | os.PathLike, obj: Any) -> None:
    """Pickle ``obj`` to ``path`` atomically: the file exists only when it is whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        full = exc.errno == errno.ENOSPC
        raise CheckpointError(
            f"{path}: the checkpoint could not be written ({'the disk is full' if full else exc.strerror or exc}). "
            "Nothing partial was kept: free space (or fix the folder) and run the same command again; finished "
            "blocks are kept and this one is redone."
        ) from exc


def load(path: str | os.PathLike) -> Any:
    """A checkpoint written by :func:`save`."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(
            f"{path}: the checkpoint cannot be read ({exc}). Delete it and run again: that block is redone."
        ) from exc


def compute_and_save(path: str, func: Any, *args: Any) -> Any:
    """Run ``func(*args)`` (a block task), save its result to ``path``, return it."""
    result = func(*args)
    save(path, result)
    return result


@dataclass
class Stage:
    """The checkpoint folder of one map pass; ``key``s name its blocks (e.g. ``"3-7"``)."""

    path: Path
    loaded: int = 0
    computed: int = 0

    def file(self, key: str) -> str:
        return str(self.path / f"{key}.pkl")

    def done(self, key: str) -> bool:
        return os.path.exists(self.file(key))

    def task(self, key: str, func: Any, *args: Any) -> tuple:
        """A raw dask task: load block ``key`` if it is done, else compute and save it."""
        if self.done(key):
            self.loaded += 1
            return (load, self.file(key))
        self.computed += 1
        return (compute_and_save, self.file(key), func, *args)

    def delayed(self, key: str, func: Any, *args: Any) -> Any:
        """:func:`task` as a ``dask.delayed`` object (a done block does not depend on ``args``)."""
        if self.done(key):
            self.loaded += 1
            # the key names the file (its path, hashed): another run's stage of the same name is another key
            name = f"nightlight-checkpoint-{fingerprint({'file': self.file(key)})[:20]}"
            return dask.delayed(load, pure=True)(self.file(key), dask_key_name=name)
        self.computed += 1
        return dask.delayed(compute_and_save, pure=False)(self.file(key), func, *args)


@dataclass
class CheckpointStore:
    """A folder of :class:`Stage` folders (see the module docstring)."""

    root: Path
    stages: list[Stage] = field(default_factory=list)
    _seq: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        for tmp in self.root.glob("*/.*.tmp-*"):  # writes cut short by a kill
            tmp.unlink(missing_ok=True)

    def stage(self, name: str, record: Mapping[str, Any], *, shared: bool = False) -> Stage:
        """The next stage called ``name``, emptied first if it was written for other inputs.

        ``shared``: one folder for every call (no sequence number), for results keyed by
        the identity of their input (a mosaic's totals, whichever pass asks for them).
        """
        n = self._seq[name]
        self._seq[name] += 1
        folder = self.root / (name if shared else f"{name}-{n:02d}")
        if shared and folder in {s.path for s in self.stages}:
            stage = next(s for s in self.stages if s.path == folder)
            return stage
        fp = fingerprint(record)
        meta = folder / STAGE_FILE
        if folder.exists():
            try:
                same = json.loads(meta.read_text()).get("fingerprint") == fp
            except (OSError, ValueError):
                same = False
            if not same:
                shutil.rmtree(folder)
        if not folder.exists():
            folder.mkdir()
            tmp = folder / f".{STAGE_FILE}.tmp-{uuid.uuid4().hex[:8]}"
            tmp.write_text(json.dumps({"fingerprint": fp, "record": record}, indent=1, default=str))
            os.replace(tmp, meta)
        stage = Stage(folder)
        self.stages.append(stage)
        return stage

    def counts(self) -> dict[str, int]:
        """Blocks loaded from checkpoints and blocks computed, over every stage so far."""
        return {
            "loaded": sum(s.loaded for s in self.stages),
            "computed": sum(s.computed for s in self.stages),
        }


@contextmanager
def checkpoints(root: str | os.PathLike) -> Iterator[CheckpointStore]:
    """Checkpoint every map pass run inside the block into ``root``."""
    store = CheckpointStore(Path(root))
    token = _ACTIVE.set(store)
    try:
        yield store
    finally:
        _ACTIVE.reset(token)


def checkpointed(stage: Stage | None, key: str, func: Any, *args: Any) -> Any:
    """``dask.delayed(func)(*args)``, through ``stage`` when one is active (see :meth:`Stage.delayed`)."""
    return dask.delayed(func)(*args) if stage is None else stage.delayed(key, func, *args)


def active_stage(name: str, record: Mapping[str, Any], *, shared: bool = False) -> Stage | None:
    """The next stage of the active store, or None when no checkpointing is active."""
    store = _ACTIVE.get()
    return None if store is None else store.stage(name, record, shared=shared)
