"""Find a provider's file whose name holds a processing stamp: read the folder's listing, match the glob.

Providers stamp their file names with the processing date (VNL
``VNL_v21_npp_2016_global_vcmslcfg_c202205302300.average.dat.tif.gz``, Black Marble
``VNP46A4.A2016001.h30v05.001.2021125134834.h5``), so the catalog holds a glob
(``…_c*.average.dat.tif.gz``) and the real name is read from the folder:

- ``listing = "html"`` (default): the folder URL's index page (Apache/nginx autoindex,
  S3 website…): every ``<a href>`` that points at a file directly in the folder;
- ``listing = "laads-json"``: LAADS DAAC's JSON listing, the folder URL without its last
  ``/`` plus ``.json`` (``…/VNP46A4/2016/001.json``), a list of ``{"name": …}`` objects
  (seen in public download scripts, e.g. the ``base_url + ".json"`` loop of several
  MODIS downloaders on GitHub; the ``{"content": [...]}`` form of the newer LAADS API is
  read too). Not checked against the live server (no internet here).

:func:`pick` chooses the match: one → it; several → the newest stamp (the last in sort
order: the stamps are ``YYYYMMDDhhmm`` or ``YYYYDDDhhmmss``, so text order is time order),
with a :class:`StampWarning` naming the others; none → :class:`ListingError` naming the
URL, the glob and the fix. The listing is fetched through :func:`nightlight.io.download.open_url`,
so a token goes only to its own host, as for the download that follows.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.error
import urllib.parse
import warnings
from html.parser import HTMLParser

from nightlight.errors import NightlightError
from nightlight.io.download import Limits, open_url, read_limited

LISTINGS = ("html", "laads-json")
#: A listing larger than this is not a folder index (a provider's error page, a file): refused.
MAX_LISTING_BYTES = 32 << 20


class ListingError(NightlightError, FileNotFoundError):
    """A folder listing that cannot be read, or that holds no file matching the catalog's glob."""


class StampWarning(UserWarning):
    """Several files match a stamped name; the newest was taken."""


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            self.hrefs += [v for k, v in attrs if k.lower() == "href" and v]


def listing_url(folder: str, listing: str = "html") -> str:
    """The URL that lists ``folder`` (which ends in ``/``) for the given listing kind."""
    return folder.rstrip("/") + ".json" if listing == "laads-json" else folder


def parse_html(text: str, folder: str) -> list[str]:
    """File names linked from an index page that lie directly in ``folder`` (no sorting links, parents, sub-folders)."""
    parser = _Links()
    parser.feed(text)
    base = urllib.parse.urlsplit(folder)
    names = []
    for href in parser.hrefs:
        url = urllib.parse.urlsplit(urllib.parse.urljoin(folder, href))
        if url.query or (url.scheme, url.netloc) != (base.scheme, base.netloc):
            continue  # Apache's ?C=N;O=D sorting links, links to other sites
        parent, _, name = url.path.rpartition("/")
        if name and parent + "/" == base.path:
            names.append(urllib.parse.unquote(name))
    return sorted(set(names))


def parse_laads_json(text: str, where: str) -> list[str]:
    """File names of a LAADS ``.json`` listing (a list of objects with ``name``, or ``{"content": [...]}``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ListingError(f"{where}: not a JSON listing ({exc}); the server answered something else.") from exc
    entries = data.get("content", []) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ListingError(f"{where}: a JSON listing without a list of files; set listing = 'html' in the entry.")
    return sorted({str(e["name"]) for e in entries if isinstance(e, dict) and e.get("name")})


def list_folder(
    folder: str,
    *,
    listing: str = "html",
    token: str | None = None,
    token_origin: str | None = None,
    timeout: float | None = None,
) -> list[str]:
    """The file names in a provider's folder (``folder`` ends in ``/``).

    Parameters
    ----------
    folder : str
        ``http(s)://…/`` folder URL.
    listing : {"html", "laads-json"}
        How the folder lists its files (module docstring).
    token, token_origin : str, optional
        Sent as ``Authorization: Bearer`` only to the scheme, host and port of the URL
        ``token_origin`` (default ``folder``).
    timeout : float, optional
        Seconds per blocking socket operation (default ``GDAL_HTTP_TIMEOUT``, 30 s); the
        whole listing is limited as a download is (``NIGHTLIGHT_DOWNLOAD_DEADLINE``, ``…_MIN_RATE``).

    Raises
    ------
    ListingError
        HTTP error, no answer, a stalled answer, an answer too large or not a listing.
    """
    if listing not in LISTINGS:
        raise ListingError(f"listing={listing!r}; use one of {', '.join(LISTINGS)}.")
    url = listing_url(folder, listing)
    limits = Limits(url, timeout)
    chunks: list[bytes] = []
    try:
        resp, _ = open_url(url, token=token, token_origin=token_origin or url, timeout=limits.timeout())
        with resp:
            read_limited(resp, chunks.append, limits, at_most=MAX_LISTING_BYTES)
        body = b"".join(chunks)
    except urllib.error.HTTPError as exc:
        hint = " (a token-protected folder: is the token valid?)" if exc.code in (401, 403) else ""
        raise ListingError(f"{url}: HTTP {exc.code} {exc.reason} when reading the folder listing{hint}.") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ListingError(f"{url}: the folder listing cannot be read ({exc}).") from exc
    if len(body) > MAX_LISTING_BYTES:
        raise ListingError(f"{url}: the answer is over {MAX_LISTING_BYTES >> 20} MiB, not a folder listing.")
    text = body.decode("utf-8", errors="replace")
    return parse_laads_json(text, url) if listing == "laads-json" else parse_html(text, folder)


def pick(names: list[str], pattern: str, where: str) -> str:
    """The one name matching ``pattern`` (a ``*`` glob), the newest stamp of several (with a warning).

    Raises
    ------
    ListingError
        No name matches: the message names ``where`` (the listing's URL), the glob and the fix.
    """
    hits = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if not hits:
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "") if names else "nothing"
        raise ListingError(
            f"{where} lists no file matching {pattern!r} ({len(names)} listed: {shown}). The provider may have "
            "renamed or moved its files: check its landing page and fix files.name/files.url in the catalog entry "
            "(a folder in NIGHTLIGHT_CATALOG overrides it), or download the file by hand into $NIGHTLIGHT_DATA."
        )
    if len(hits) > 1:
        warnings.warn(
            f"{where}: {len(hits)} files match {pattern!r}; taking the newest stamp {hits[-1]!r} "
            f"(not {', '.join(hits[:-1])}). Put the one you want in $NIGHTLIGHT_DATA to choose another.",
            StampWarning,
            stacklevel=3,
        )
    return hits[-1]
