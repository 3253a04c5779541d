"""Download one file into the cache: resumable, verified, atomic, with the token kept on its own host.

:func:`download` writes ``DEST.part``, resumes it with an HTTP ``Range`` request after an
interruption (in the same call, up to ``retries`` times, or in a later call), checks the
length the server announced and the SHA-256 when one is given, and only then renames
``DEST.part`` → ``DEST`` (atomic on one file system): a file at ``DEST`` is always
complete. A checksum mismatch deletes the ``.part`` (resuming it would keep the bad
bytes); a truncated transfer keeps it, to resume.

Redirects are followed by hand (at most :data:`MAX_REDIRECTS`): ``Authorization`` is sent
only to the host the token belongs to (the first URL's host unless ``token_host`` is
given), so a redirect to a CDN or another site never receives it. Timeouts are the
``GDAL_HTTP_TIMEOUT`` of :mod:`nightlight.io.remote` (environment or default).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from nightlight.errors import NightlightError
from nightlight.hashing import sha256 as file_sha256
from nightlight.io.remote import gdal_env

MAX_REDIRECTS = 5
_BLOCK = 1 << 16


class DownloadError(NightlightError, OSError):
    """A download that did not produce a complete, verified file."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to :func:`open_url` so it decides which headers the next host gets."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def open_url(url: str, *, start: int = 0, token: str | None, token_host: str | None, timeout: float):
    """GET ``url`` from byte ``start`` (following redirects by hand); the response and the final URL.

    ``Authorization: Bearer token`` goes only to ``token_host`` (also after a redirect), so a
    provider's CDN or another site never sees it. Directory listings
    (:mod:`nightlight.io.listing`) and downloads both go through here.
    """
    for _ in range(MAX_REDIRECTS + 1):
        req = urllib.request.Request(url, headers={"User-Agent": "nightlight"})
        if start:
            req.add_header("Range", f"bytes={start}-")
        if token and urllib.parse.urlsplit(url).hostname == token_host:
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
    token_host: str | None = None,
    retries: int = 3,
    timeout: float | None = None,
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
        Sent as ``Authorization: Bearer …`` to ``token_host`` only (default: ``url``'s host).
    retries : int
        Resumptions after a dropped connection within this call.
    timeout : float, optional
        Seconds per blocking socket operation (default ``GDAL_HTTP_TIMEOUT``, 30 s).

    Returns
    -------
    Path
        ``dest``, complete (and verified when ``sha256`` was given). An existing ``dest``
        is returned as it is (verified when ``sha256`` is given).

    Raises
    ------
    DownloadError
        Checksum mismatch (the ``.part`` is deleted), a transfer still short after the
        retries (the ``.part`` is kept to resume), an HTTP error.
    """
    dest = Path(dest)
    want = sha256.removeprefix("sha256:").lower() if sha256 else None
    if dest.is_file():
        if want and file_sha256(dest) != want:
            raise DownloadError(f"{dest}: in the cache but its SHA-256 is not {want}; delete it and download again.")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    timeout = float(timeout if timeout is not None else gdal_env()["GDAL_HTTP_TIMEOUT"])
    token_host = token_host or urllib.parse.urlsplit(url).hostname
    last: Exception | None = None
    for _ in range(retries + 1):
        try:
            if _transfer(url, part, token=token, token_host=token_host, timeout=timeout):
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
    os.replace(part, dest)
    return dest


def _transfer(url: str, part: Path, *, token: str | None, token_host: str | None, timeout: float) -> bool:
    """Append to ``part`` from where it stops; True when the server's announced length is reached."""
    start = part.stat().st_size if part.exists() else 0
    try:
        resp, final = open_url(url, start=start, token=token, token_host=token_host, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the .part already holds every byte
            return True
        raise
    with resp:
        if start and resp.status != 206:
            start = 0  # the server ignored the Range: start over
        total = _total_length(resp, start)
        with open(part, "ab" if start else "wb") as f:
            for block in iter(lambda: resp.read(_BLOCK), b""):
                f.write(block)
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
