"""Checksums: a file's SHA-256 and a record's fingerprint (one implementation for the whole package)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

#: (real path, size, mtime in ns) → SHA-256: a file is read once per process while it is unchanged
_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256(path: str | os.PathLike, *, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (once per process while its size and mtime hold)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(block):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def fingerprint(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of a JSON-able record (keys sorted; other values by ``str``)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def wkb_token(geoms: Any) -> list:
    """``[n, SHA-256 of the WKB]`` of a sequence of shapely geometries (missing ones skipped)."""
    import numpy as np
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    wkb = shapely.to_wkb(geoms[~shapely.is_missing(geoms)]).tolist()
    return [len(geoms), hashlib.sha256(b"".join(wkb)).hexdigest()]
