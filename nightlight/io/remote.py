"""GDAL options for reading mosaics: timeouts and retries for remote ones by default.

GDAL's own defaults wait for an HTTP server for ever: a server that accepts the
connection and never answers hangs a run (seen: killed after 180 s). Every read in
nightlight runs under these options (``rasterio.Env``):

========================  =======  ===============================================
option                    default  meaning
========================  =======  ===============================================
GDAL_HTTP_CONNECTTIMEOUT  10       seconds to establish the connection
GDAL_HTTP_TIMEOUT         30       seconds for a whole request (a COG range read)
GDAL_HTTP_MAX_RETRY       3        retries of a failed request (HTTP 429, 5xx, timeouts)
GDAL_HTTP_RETRY_DELAY     1        seconds before the first retry (GDAL backs off)
GTIFF_VIRTUAL_MEM_IO      YES      memory-map local uncompressed GeoTIFFs (a third less CPU than
                                   GDAL's block cache; compressed and remote files are read as before)
========================  =======  ===============================================

Override them per call (``open_mosaic(url, gdal_options={"GDAL_HTTP_TIMEOUT": "120"})``)
or for a whole session through the environment (``export GDAL_HTTP_TIMEOUT=120``): an
option already set in the environment wins over the default, an explicit
``gdal_options`` entry wins over both.

A read that fails after waiting its whole ``GDAL_HTTP_TIMEOUT`` is reported as a time-out
(:func:`timed_out`): GDAL itself only says "Read failed" or names the HTTP status of the
unfinished response.

Downloads into the cache (:mod:`nightlight.io.download`, and the folder listings) have
two more limits, because a server that sends a byte now and then never trips a per-read
timeout:

==============================  =======  ==========================================
setting                         default  meaning
==============================  =======  ==========================================
NIGHTLIGHT_DOWNLOAD_DEADLINE    14400    seconds for a whole download (4 h), resumes included
NIGHTLIGHT_DOWNLOAD_MIN_RATE    1024     bytes/s, averaged over each 30 s, below which it stops
==============================  =======  ==========================================

Downloaded files (and the VRT mosaics of Black Marble tiles) go to :func:`cache_dir`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

#: The download cache folder (default ``~/.cache/nightlight``).
ENV_CACHE = "NIGHTLIGHT_CACHE"

#: nightlight's defaults (see the module docstring).
GDAL_DEFAULTS = {
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GTIFF_VIRTUAL_MEM_IO": "YES",
}


#: Download limits (see the module docstring): environment name → default.
DOWNLOAD_DEFAULTS = {"NIGHTLIGHT_DOWNLOAD_DEADLINE": "14400", "NIGHTLIGHT_DOWNLOAD_MIN_RATE": "1024"}


def download_limits() -> tuple[float, float]:
    """(deadline s, minimum rate B/s) of a download: the environment, else the defaults."""
    env = {k: os.environ.get(k, v) for k, v in DOWNLOAD_DEFAULTS.items()}
    return float(env["NIGHTLIGHT_DOWNLOAD_DEADLINE"]), float(env["NIGHTLIGHT_DOWNLOAD_MIN_RATE"])


def timed_out(path: str, started: float, options: dict[str, str] | tuple[tuple[str, str], ...]) -> str | None:
    """If a failed GDAL read of remote ``path`` took its whole ``GDAL_HTTP_TIMEOUT``: the sentence to say so.

    GDAL reports a request cut by its timeout as "Read failed" or "HTTP response code
    206" (the status of the response it abandoned); only the elapsed time tells.
    """
    if not path.startswith("/vsi"):
        return None
    timeout = float(dict(options).get("GDAL_HTTP_TIMEOUT", GDAL_DEFAULTS["GDAL_HTTP_TIMEOUT"]))
    if time.monotonic() - started < 0.95 * timeout:
        return None
    return (
        f"timed out: the server did not deliver the bytes within GDAL_HTTP_TIMEOUT={timeout:g} s (it answers too "
        "slowly or stalled). Retry later, or raise GDAL_HTTP_TIMEOUT (environment or gdal_options=)"
    )


def gdal_env(overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The GDAL options for a read: defaults, then the environment, then ``overrides``."""
    env = {k: os.environ.get(k, v) for k, v in GDAL_DEFAULTS.items()}
    env.update({str(k): str(v) for k, v in (overrides or {}).items()})
    return env


def gdal_path(path: str) -> str:
    """Turn URLs into GDAL virtual paths; local paths are returned as they are."""
    if path.startswith(("http://", "https://")):
        return "/vsicurl/" + path
    if path.startswith("s3://"):
        return "/vsis3/" + path[len("s3://") :]
    if path.startswith("gs://"):
        return "/vsigs/" + path[len("gs://") :]
    if path.startswith("file://"):
        return path[len("file://") :]
    return path


def cache_dir() -> Path:
    """The download cache (``NIGHTLIGHT_CACHE``, default ``~/.cache/nightlight``)."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "nightlight").expanduser()
