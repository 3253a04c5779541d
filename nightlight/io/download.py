"""Download one file into the cache: resumable, verified, atomic, with the token kept on its own host.

:func:`download` writes ``DEST.part``, resumes it with an HTTP ``Range`` request after an
interruption (in the same call, up to ``retries`` times, or in a later call), checks the
length the server announced and the SHA-256 when one is given, and only then renames
``DEST.part`` → ``DEST`` (atomic on one file system): a file at ``DEST`` is always
complete. A checksum mismatch deletes the ``.part`` (resuming it would keep the bad
bytes); a truncated transfer keeps it, to resume.

Redirects are followed by hand (at most :data:`MAX_REDIRECTS`): ``Authorization`` is sent
only to the origin the token belongs to — the same scheme, host and port as the first
URL (or ``token_origin``) — so a redirect to a CDN, another service on the same host, or
from https to plain http never receives it.

Each blocking socket operation waits at most ``GDAL_HTTP_TIMEOUT`` seconds; a whole
download (its resumptions included) stops at ``NIGHTLIGHT_DOWNLOAD_DEADLINE`` and when
fewer than ``NIGHTLIGHT_DOWNLOAD_MIN_RATE`` bytes/s arrive over :data:`RATE_WINDOW` s —
a server that trickles a byte now and then never trips the per-read timeout
(:mod:`nightlight.io.remote` has the defaults).
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from nightlight.errors import NightlightError
from nightlight.hashing import sha256 as file_sha256
from nightlight.io.remote import download_limits, gdal_env

MAX_REDIRECTS = 5
#: Seconds over which the transfer rate is averaged for ``NIGHTLIGHT_DOWNLOAD_MIN_RATE``.
RATE_WINDOW = 30.0
_BLOCK = 1 << 16


class DownloadError(NightlightError, OSError):
    """A download that did not produce a complete, verified file."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to :func:`open_url` so it decides which headers the next host gets."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, the port made explicit (80/443 when the URL has none)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def open_url(url: str, *, start: int = 0, token: str | None, token_origin: str | None, timeout: float):
    """GET ``url`` from byte ``start``, following redirects by hand so the token goes only to the origin of
    ``token_origin`` (module docstring); the response and the final URL. Listings and downloads both use it."""
    owner = origin(token_origin or url)
    for _ in range(MAX_REDIRECTS + 1):
        req = urllib.request.Request(url, headers={"User-Agent": "nightlight"})
        if start:
            req.add_header("Range", f"bytes={start}-")
        if token and origin(url) == owner:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            return _OPENER.open(req, timeout=timeout), url
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                url = urllib.parse.urljoin(url, exc.headers["Location"])
                exc.close()
                continue
            raise
    raise DownloadError(f"{url}: more than {MAX_REDIRECTS} redirects; the server's links loop.")


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    token: str | None = None,
    token_origin: str | None = None,
    retries: int = 3,
    timeout: float | None = None,
    check: Callable[[Path], str | None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified, atomic).

    Parameters
    ----------
    url : str
        ``http(s)://`` URL.
    dest : path
        The final file; ``dest + ".part"`` holds the bytes until they are complete and verified.
    sha256 : str, optional
        Expected SHA-256 (hex, with or without a ``"sha256:"`` prefix).
    token : str, optional
        Sent as ``Authorization: Bearer …`` only to the scheme, host and port of
        ``token_origin`` (a URL; default ``url``).
    retries : int
        Resumptions after a dropped connection within this call.
    timeout : float, optional
        Seconds per blocking socket operation (default ``GDAL_HTTP_TIMEOUT``, 30 s); the
        whole call is limited by ``NIGHTLIGHT_DOWNLOAD_DEADLINE`` and ``NIGHTLIGHT_DOWNLOAD_MIN_RATE``.
    check : callable, optional
        ``check(part)`` → None when the complete bytes are what was asked for, else what
        is wrong with them (e.g. "is an HTML page, not a raster"): the ``.part`` is then
        deleted and nothing enters the cache (a provider's login page served with 200).

    Returns
    -------
    Path
        ``dest``, complete (and verified when ``sha256`` was given). An existing ``dest``
        is returned as it is (verified when ``sha256`` is given).

    Raises
    ------
    DownloadError
        Checksum mismatch (the ``.part`` is deleted), a transfer still short after the
        retries, past the deadline or below the minimum rate (the ``.part`` is kept to
        resume), an HTTP error.
    """
    dest = Path(dest)
    want = sha256.removeprefix("sha256:").lower() if sha256 else None
    if dest.is_file():
        if want and file_sha256(dest) != want:
            raise DownloadError(f"{dest}: in the cache but its SHA-256 is not {want}; delete it and download again.")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    limits = Limits(url, timeout)
    last: Exception | None = None
    for _ in range(retries + 1):
        try:
            if _transfer(url, part, token=token, token_origin=token_origin or url, limits=limits):
                break
        except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
            last = exc
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}.") from exc
    else:
        raise DownloadError(
            f"{url}: the transfer stopped at {part.stat().st_size if part.exists() else 0} bytes after "
            f"{retries} resumption(s) ({last}); {part} is kept: call again to resume."
        )
    if want:
        got = file_sha256(part)
        if got != want:
            part.unlink()
            raise DownloadError(
                f"{url}: SHA-256 {got} is not the catalog's {want}; the file was deleted. The server sent other "
                "bytes than the catalog describes: check the URL, or update the checksum if the provider "
                "republished the file."
            )
    if check is not None and (problem := check(part)):
        part.unlink()
        raise DownloadError(
            f"{url}: the server's answer {problem}; it was deleted, not cached. A login or error page: check the "
            "token (or log in on the provider's site) and the URL."
        )
    os.replace(part, dest)
    return dest


class Limits:
    """The deadline and minimum rate of one download or listing (module docstring), checked as bytes arrive."""

    def __init__(self, url: str, per_read: float | None = None) -> None:
        self.url = url
        # seconds per blocking socket operation (default GDAL_HTTP_TIMEOUT)
        self.per_read = float(per_read if per_read is not None else gdal_env()["GDAL_HTTP_TIMEOUT"])
        self.deadline, self.min_rate = download_limits()
        self.t0 = time.monotonic()
        self._mark = (self.t0, 0)  # start of the current rate window: (time, bytes received by then)
        self.received = 0

    def timeout(self) -> float:
        """The socket timeout for the next operation: ``per_read``, but never past the deadline."""
        self.check(0)
        return max(0.001, min(self.per_read, self.deadline - (time.monotonic() - self.t0)))

    def check(self, n: int) -> None:
        """Count ``n`` more bytes; raise :class:`DownloadError` past the deadline or below the rate."""
        self.received += n
        now = time.monotonic()
        if now - self.t0 > self.deadline:
            raise DownloadError(
                f"{self.url}: not complete after {self.deadline:g} s (NIGHTLIGHT_DOWNLOAD_DEADLINE; "
                f"{self.received} bytes received). Retry later (a download resumes from its .part), or raise "
                "NIGHTLIGHT_DOWNLOAD_DEADLINE."
            )
        t_mark, n_mark = self._mark
        if now - t_mark >= RATE_WINDOW:
            rate = (self.received - n_mark) / (now - t_mark)
            if rate < self.min_rate:
                raise DownloadError(
                    f"{self.url}: {rate:.0f} bytes/s over the last {now - t_mark:.0f} s, below "
                    f"NIGHTLIGHT_DOWNLOAD_MIN_RATE={self.min_rate:g} bytes/s: the server stalled. Retry later (a "
                    "download resumes from its .part), or lower NIGHTLIGHT_DOWNLOAD_MIN_RATE (0: no minimum)."
                )
            self._mark = (now, self.received)


def read_limited(resp, write, limits: Limits, *, at_most: int | None = None) -> int:
    """Pass the body of ``resp`` to ``write`` as it arrives, under ``limits``; the bytes read.

    ``read1`` returns whatever has arrived (``read(n)`` waits for all ``n`` bytes, and a
    trickle of one byte per read never fills a block nor trips the per-read timeout), so
    the limits are checked as the bytes come. Stops after ``at_most`` + 1 bytes.
    """
    n = 0
    while at_most is None or n <= at_most:
        block = resp.read1(_BLOCK)
        if not block:
            break
        write(block)
        n += len(block)
        limits.check(len(block))
    return n


def _transfer(url: str, part: Path, *, token: str | None, token_origin: str, limits: Limits) -> bool:
    """Append to ``part`` from where it stops; True when the server's announced length is reached."""
    start = part.stat().st_size if part.exists() else 0
    try:
        resp, final = open_url(url, start=start, token=token, token_origin=token_origin, timeout=limits.timeout())
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the .part already holds every byte
            return True
        raise
    with resp:
        if start and resp.status != 206:
            start = 0  # the server ignored the Range: start over
        total = _total_length(resp, start)
        with open(part, "ab" if start else "wb") as f:
            read_limited(resp, f.write, limits)
    size = part.stat().st_size
    if total is not None and size < total:
        raise http.client.IncompleteRead(b"", total - size)
    if total is not None and size > total:
        part.unlink()
        raise DownloadError(f"{final}: received {size} bytes, more than the {total} announced; the .part was deleted.")
    return True


def _total_length(resp, start: int) -> int | None:
    """The full file length the server announced (``Content-Range`` total, else offset + ``Content-Length``)."""
    content_range = resp.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = resp.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None
