"""Whose output folder is this: the batch state file, the config hash, input checksums, versions.

``batch.json`` (written before any computing, rewritten at the end) holds the hash of
what the run computes — the validated configuration and the SHA-256 of every local
input — and its status. A rerun with the same hash resumes from the checkpoints; a
different configuration (or changed inputs) pointed at the folder is refused unless
``overwrite``, which deletes the old checkpoints first. A folder holding another
run's ``manifest.json`` (a ``nightlight detect`` run, say) is refused the same way.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from nightlight.batch.config import BatchConfig
from nightlight.checkpoint import write_atomic
from nightlight.errors import NightlightError
from nightlight.hashing import fingerprint, sha256
from nightlight.outputs.folder import MANIFEST_NAME

STATE_NAME = "batch.json"
CHECKPOINTS = ".checkpoints"
#: Packages whose versions are written beside the outputs.
PACKAGES = (
    "nightlight",
    "numpy",
    "numba",
    "dask",
    "distributed",
    "xarray",
    "rioxarray",
    "rasterio",
    "geopandas",
    "shapely",
    "pyproj",
    "scipy",
    "dask-jobqueue",
)


class FolderInUseError(NightlightError):
    """The output folder holds another run's outputs."""


def input_checksums(config: BatchConfig, sources: dict[int, Any] | None = None) -> dict[str, dict]:
    """Per year: the source and, for a local file, its size and SHA-256 (remote and catalog sources by name)."""
    out = {}
    for year, src in sorted(config.inputs.items()):
        given = (sources or {}).get(year)
        if given is not None and not isinstance(given, (str, os.PathLike)):  # an in-memory/lazy mosaic
            out[str(year)] = {"source": str(src), "dask_name": getattr(given.data, "name", None)}
        elif (path := _local_file(src)) is not None:
            rec = {"source": str(src), "bytes": os.path.getsize(path), "sha256": sha256(path)}
            out[str(year)] = rec if path == src else {**rec, "resolved": path}
        else:  # a URL, or a catalog name with no local copy yet: recorded by name
            out[str(year)] = {"source": str(src)}
    return out


def _local_file(src: str) -> str | None:
    """``src`` if it is a local file, the local file a catalog name resolves to (never fetched), else None."""
    if os.path.exists(src):
        return src
    from nightlight.io.resolve import resolve

    try:
        path = resolve(src, fetch=False).path
    except (NightlightError, ValueError):
        return None
    return path if os.path.exists(path) else None


def config_hash(config: BatchConfig, checksums: dict[str, dict]) -> str:
    """What the run computes, hashed: the validated configuration and its inputs' checksums."""
    return fingerprint({"config": config.record(), "inputs": checksums})


def versions() -> dict[str, str | None]:
    """Versions of the packages that compute the result, GDAL's and Python's."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except ImportError:  # pragma: no cover
        pass
    out["python"] = platform.python_version()
    return out


def claim(out: Path, digest: str, *, overwrite: bool) -> dict | None:
    """Check the folder is this run's (or empty); returns the previous state. Called with the folder locked."""
    state_file = out / STATE_NAME
    previous = None
    if state_file.exists():
        try:
            previous = json.loads(state_file.read_text())
        except (OSError, ValueError):
            previous = {"config_hash": None}
    other = None
    if previous is not None and previous.get("config_hash") != digest:
        old = str(previous.get("config_hash"))[:12]
        other = f"a batch run of another configuration or other input bytes (hash {old}…)"
    elif previous is None and (out / MANIFEST_NAME).exists():
        other = "the outputs of another run (manifest.json, no batch.json)"
    if other is not None:
        if not overwrite:
            raise FolderInUseError(
                f"{out}: the folder holds {other}. Pass --overwrite to replace it (its checkpoints are deleted), "
                "or choose another --out."
            )
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
        previous = None
    return previous


def write_state(out: Path, record: dict[str, Any]) -> None:
    """``batch.json``, atomically."""
    text = json.dumps({**record, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2, default=str)
    write_atomic(out / STATE_NAME, lambda tmp: tmp.write_text(text))
