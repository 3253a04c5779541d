"""Per-block checkpoints of the expensive map passes, so an interrupted batch job resumes.

A batch job over a global mosaic spends its time in a few *map passes*: per-block
labeling statistics (:mod:`nightlight.cities.label`), per-block polygon pieces
(:mod:`nightlight.cities.polygons`), whole-mosaic totals and per-block zonal sums of
every year (:mod:`nightlight.change`). The batch layer owns a :class:`CheckpointStore`
and hands it to those passes explicitly (their ``checkpoints=`` argument; None, the
default, keeps nothing). A pass asks the store for a :class:`Stage` and every block task

* whose file is present and valid is replaced, **in the graph the driver builds**, by
  its loaded value — it has no dependencies, so dask culls the reads of that block;
* else computes as before and writes its result atomically (temporary file in the
  same folder, ``fsync``, ``os.replace``): a file that exists is whole. A failed write
  (a full disk) leaves no file, so the block is simply redone on resume.

What a checkpoint folder can and cannot do to a run (it may sit on a shared filesystem
others can write):

* **No code runs on load.** A block file is a NumPy ``.npz`` of plain arrays, read with
  ``allow_pickle=False``; each pass has a :class:`Codec` that turns its block result
  into named arrays (geometries as WKB bytes) and back. No other file is ever opened.
* **Never stale.** The store has a ``key``: the batch passes its configuration hash,
  which holds the SHA-256 of every input file (the dask token of an in-memory mosaic).
  A folder written under another key is emptied first, and every stage fingerprint
  (``stage.json``: the key and what the pass computes — its inputs, block layout and
  parameters) and every block file carries it.
* **Never silently wrong, never fatal.** Each block file records its block key (store
  key, stage fingerprint, block) and the SHA-256 of its arrays, both checked before use:
  a truncated, damaged or altered file, a file swapped with another block's or copied
  from another run, or any file that is not such an archive is deleted and its block
  recomputed, with a :class:`CheckpointWarning` naming the file and the problem.

Stages are numbered per name in call order (``nightlight-label-00``, ``zonal-03``):
the batch runs the same passes in the same order for the same configuration.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import numpy as np

from nightlight.errors import NightlightError
from nightlight.hashing import fingerprint

#: Version of the block file layout; a store written by another version is emptied.
FORMAT = 2
STORE_FILE = "store.json"
STAGE_FILE = "stage.json"
SUFFIX = ".npz"
_META = "__meta__"


class CheckpointError(NightlightError, OSError):
    """A checkpoint could not be written, or a block file is not a valid block of this stage."""


class CheckpointWarning(UserWarning):
    """A checkpoint was unusable (damaged, altered, of other inputs) and its work is done again."""


@dataclass(frozen=True)
class Codec:
    """How one pass's block result becomes named plain arrays and back (nothing else is stored).

    ``encode`` must return arrays of a numeric, bool or bytes dtype (never ``object``);
    ``decode`` gets those arrays back, verified.
    """

    encode: Callable[[Any], Mapping[str, np.ndarray]]
    decode: Callable[[Mapping[str, np.ndarray]], Any]


def _encode_tree(value: Any) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}

    def walk(v: Any) -> Any:  # the structure as JSON: a list per tuple/list, an array's name per leaf
        if isinstance(v, (tuple, list)):
            return [walk(x) for x in v]
        arrays[name := f"a{len(arrays)}"] = np.asarray(v)
        return name

    spec = walk(value)
    return {**arrays, "tree": np.frombuffer(json.dumps(spec).encode(), np.uint8)}


def _decode_tree(arrays: Mapping[str, np.ndarray]) -> Any:
    def build(spec: Any) -> Any:
        return tuple(build(s) for s in spec) if isinstance(spec, list) else arrays[spec]

    return build(json.loads(arrays["tree"].tobytes()))


#: Nested tuples/lists of plain arrays or numbers (read back as tuples of arrays).
TREE = Codec(_encode_tree, _decode_tree)


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of named arrays: names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], key: str) -> None:
    """Write ``arrays`` as block ``key`` to ``path`` atomically: the file exists only when it is whole."""
    path = Path(path)
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    if any(a.dtype.hasobject for a in arrays.values()):  # a codec bug: object arrays would need pickle
        raise TypeError(f"{path}: a checkpoint holds plain arrays only, not dtype=object.")
    meta = json.dumps({"format": FORMAT, "key": key, "sha256": _digest(arrays)}).encode()
    payload: dict[str, Any] = {**arrays, _META: np.frombuffer(meta, np.uint8)}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())

    try:
        write_atomic(path, write)
    except OSError as exc:
        full = exc.errno == errno.ENOSPC
        raise CheckpointError(
            f"{path}: the checkpoint could not be written ({'the disk is full' if full else exc.strerror or exc}). "
            "Nothing partial was kept: free space (or fix the folder) and run the same command again; finished "
            "blocks are kept and this one is redone."
        ) from exc


def load(path: str | os.PathLike, key: str) -> dict[str, np.ndarray]:
    """The arrays of block ``key`` saved by :func:`save`, verified; :class:`CheckpointError` says what is wrong."""
    try:
        if not os.path.isfile(path):  # a FIFO or device planted under a block's name would hang or never end
            raise ValueError("not a regular file")
        # allow_pickle=False: an object array (or a pickle) is refused before anything is unpickled
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}  # reading checks each member's CRC
        meta = json.loads(arrays.pop(_META).tobytes())
    except Exception as exc:  # the bytes are untrusted: any parse failure means "unusable", and none runs code
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: written by another checkpoint format")
    if meta.get("key") != key:
        raise CheckpointError(f"{path}: it holds another block (swapped, or copied from another stage or run)")
    if meta.get("sha256") != _digest(arrays):
        raise CheckpointError(f"{path}: its content does not match its checksum (damaged or altered)")
    return arrays


def compute_and_save(path: str, key: str, encode: Callable, func: Any, *args: Any) -> Any:
    """Run ``func(*args)`` (a block task), save its encoded result to ``path`` as block ``key``, return it."""
    result = func(*args)
    save(path, encode(result), key)
    return result


@dataclass
class Stage:
    """The checkpoint folder of one map pass; ``key``s name its blocks (e.g. ``"3-7"``)."""

    path: Path
    fingerprint: str
    codec: Codec
    loaded: int = 0
    computed: int = 0
    rejected: int = 0

    def file(self, key: str) -> Path:
        return self.path / f"{key}{SUFFIX}"

    def _block_key(self, key: str) -> str:
        return f"{self.fingerprint}/{key}"

    def _load(self, key: str) -> tuple[bool, Any]:
        """``(True, result)`` of a valid block file; ``(False, None)`` when there is none or it was unusable."""
        path = self.file(key)
        if not path.exists() and not path.is_symlink():
            return False, None
        try:
            result = self.codec.decode(load(path, self._block_key(key)))
        except Exception as exc:  # CheckpointError, or arrays the decoder cannot use
            self.rejected += 1
            _remove(path)  # rewritten whole when the block is recomputed
            problem = str(exc) if isinstance(exc, CheckpointError) else f"{path}: {type(exc).__name__}: {exc}"
            warnings.warn(
                f"{problem}. The file was deleted and this block is computed again.", CheckpointWarning, stacklevel=3
            )
            return False, None
        self.loaded += 1
        return True, result

    def task(self, key: str, func: Any, *args: Any) -> Any:
        """A raw dask task: block ``key``'s loaded result when its file is valid, else compute and save it."""
        done, result = self._load(key)
        if done:
            return result
        self.computed += 1
        return (compute_and_save, str(self.file(key)), self._block_key(key), self.codec.encode, func, *args)

    def delayed(self, key: str, func: Any, *args: Any) -> Any:
        """:meth:`task` as a ``dask.delayed`` object (a loaded block does not depend on ``args``)."""
        done, result = self._load(key)
        if done:
            return dask.delayed(result, name=f"nightlight-checkpoint-{self.fingerprint[:20]}-{key}")
        self.computed += 1
        path, block = str(self.file(key)), self._block_key(key)
        return dask.delayed(compute_and_save, pure=False)(path, block, self.codec.encode, func, *args)


@dataclass
class CheckpointStore:
    """A folder of :class:`Stage` folders for one ``key`` (see the module docstring).

    Parameters
    ----------
    root : path
        The folder (created); emptied when it was written under another ``key``.
    key : str
        What every checkpoint is computed from: the batch's configuration hash (it holds
        the SHA-256 of every input file).
    """

    root: Path
    key: str
    stages: list[Stage] = field(default_factory=list)
    _seq: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        identity = {"format": FORMAT, "key": self.key}
        meta = self.root / STORE_FILE
        try:
            same = json.loads(meta.read_text()) == identity
        except (OSError, ValueError):
            same = False
        if not same:
            stale = list(self.root.iterdir())
            for p in stale:
                _remove(p)
            if stale:
                warnings.warn(
                    f"{self.root}: the checkpoints there were written for other inputs, another configuration or "
                    "another nightlight version; they were deleted and every block is computed again.",
                    CheckpointWarning,
                    stacklevel=3,
                )
            _write_json(meta, identity)
        for tmp in [*self.root.glob(".*.tmp-*"), *self.root.glob("*/.*.tmp-*")]:  # writes cut short by a kill
            tmp.unlink(missing_ok=True)

    def stage(self, name: str, record: Mapping[str, Any], codec: Codec, *, shared: bool = False) -> Stage:
        """The next stage called ``name``, emptied first if it was written for other inputs.

        ``shared``: one folder for every call (no sequence number), for results keyed by
        the identity of their input (a mosaic's totals, whichever pass asks for them).
        """
        n = self._seq[name]
        self._seq[name] += 1
        folder = self.root / (name if shared else f"{name}-{n:02d}")
        if shared and folder in {s.path for s in self.stages}:
            return next(s for s in self.stages if s.path == folder)
        fp = fingerprint({"store": self.key, "format": FORMAT, "record": record})
        meta = folder / STAGE_FILE
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):  # not a folder this store made
            _remove(folder)
        if folder.exists():
            try:
                same = json.loads(meta.read_text()).get("fingerprint") == fp
            except (OSError, ValueError, AttributeError):
                same = False
            if not same:
                shutil.rmtree(folder)
        if not folder.exists():
            folder.mkdir()
            _write_json(meta, {"fingerprint": fp, "record": record})
        stage = Stage(folder, fp, codec)
        self.stages.append(stage)
        return stage

    def counts(self) -> dict[str, int]:
        """Blocks loaded from checkpoints, computed, and rejected (unusable files), over every stage so far."""
        return {
            "loaded": sum(s.loaded for s in self.stages),
            "computed": sum(s.computed for s in self.stages),
            "rejected": sum(s.rejected for s in self.stages),
        }


def _remove(path: Path) -> None:
    """Delete a file, a link (not its target) or a folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it to ``path``: a file at ``path`` is whole.

    The temp name is ``.NAME.tmp-XXXXXXXX``, the pattern :class:`CheckpointStore` deletes after a
    kill; it does not exist when ``write`` is called (GDAL refuses to overwrite some formats),
    so writers must not infer the format from its suffix. Also the outputs' and GeoTIFFs' writer.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_json(path: Path, record: Mapping[str, Any]) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, default=str)))


def checkpointed(stage: Stage | None, key: str, func: Any, *args: Any) -> Any:
    """``dask.delayed(func)(*args)``, through ``stage`` when there is one (see :meth:`Stage.delayed`)."""
    return dask.delayed(func)(*args) if stage is None else stage.delayed(key, func, *args)


def stage_of(
    store: CheckpointStore | None, name: str, record: Mapping[str, Any], codec: Codec, *, shared: bool = False
) -> Stage | None:
    """``store``'s next stage ``name``, or None when the caller keeps no checkpoints."""
    return None if store is None else store.stage(name, record, codec, shared=shared)
