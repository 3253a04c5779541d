"""Where the file of a catalog product is: local data folders first, then the cache, then the provider.

Order (first match wins) for ``NAME:KEY`` (:func:`resolve`):

1. the data folders: ``NIGHTLIGHT_DATA`` (folders separated by ``os.pathsep``), then
   ``data_dir = "…"`` in ``~/.config/nightlight/config.toml`` (``$XDG_CONFIG_HOME``
   respected); in each, the file name, ``NAME/<file name>`` and, for local products,
   their ``../shared/data``-relative path;
2. for local products, ``../shared/data/<path>`` relative to the working directory
   (how tests and ``nightlight replicate`` find the real data);
3. the download cache, ``NIGHTLIGHT_CACHE`` (default ``~/.cache/nightlight``)``/NAME/<file name>``;
4. the provider: an anonymous, uncompressed GeoTIFF/COG is read in place through GDAL
   ``/vsicurl/`` (range requests, timeouts of :mod:`nightlight.io.remote`); a token-protected
   or gzip-compressed file is downloaded into the cache (:mod:`nightlight.io.download`:
   checksum when the entry has one, resume, atomic rename) and opened from there.

A file name with ``*`` (a provider's processing stamp) is matched by glob in the local
folders; it cannot be fetched, so the error says where to download it. Offline or
missing: a :class:`ProductNotFoundError` naming the product, the expected file name, the
folders searched and where the file comes from (URL, login page).
"""

from __future__ import annotations

import os
import tomllib
import urllib.error
from pathlib import Path
from typing import NamedTuple

from nightlight.errors import CatalogError, NightlightError
from nightlight.io.catalog import Product, Request, parse_request
from nightlight.io.download import download

ENV_DATA = "NIGHTLIGHT_DATA"
ENV_CACHE = "NIGHTLIGHT_CACHE"
#: The shared real-data folder, relative to the working directory (the project root).
SHARED_DATA = Path("..") / "shared" / "data"


class ProductNotFoundError(NightlightError, FileNotFoundError):
    """A catalog product's file is neither local nor fetchable."""


class Resolved(NamedTuple):
    """A catalog name resolved to something :func:`nightlight.open_mosaic` opens."""

    path: str
    units: str
    nodata: float | str | None
    product: Product
    key: str
    found: str  # "data folder", "shared data", "cache", "remote (range reads)", "downloaded"


def config_file() -> Path:
    """``$XDG_CONFIG_HOME/nightlight/config.toml`` (default ``~/.config/nightlight/config.toml``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nightlight" / "config.toml"


def data_dirs() -> list[Path]:
    """The local data folders searched, in order (``NIGHTLIGHT_DATA``, then the config file's ``data_dir``)."""
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_DATA, "").split(os.pathsep) if p]
    cfg = config_file()
    if cfg.is_file():
        try:
            data_dir = tomllib.loads(cfg.read_text(encoding="utf-8")).get("data_dir")
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{cfg}: not valid TOML ({exc}); fix it or remove it.") from exc
        if data_dir:
            dirs.append(Path(str(data_dir)).expanduser())
    return dirs


def cache_dir() -> Path:
    """The download cache (``NIGHTLIGHT_CACHE``, default ``~/.cache/nightlight``)."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "nightlight").expanduser()


def _match(candidate: Path) -> Path | None:
    if "*" not in str(candidate):
        return candidate if candidate.is_file() else None
    hits = sorted(p for p in candidate.parent.glob(candidate.name) if p.is_file()) if candidate.parent.is_dir() else []
    return hits[-1] if hits else None  # the newest processing stamp sorts last


def _local_candidates(req: Request) -> list[tuple[Path, str]]:
    name, rel = req.file_name(), req.local()
    out = []
    for d in data_dirs():
        out += [(d / name, "data folder"), (d / req.product.name / name, "data folder")]
        if rel:
            out.append((d / rel, "data folder"))
    if rel:
        out.append((SHARED_DATA / rel, "shared data"))
    out.append((cache_dir() / req.product.name / name, "cache"))
    return out


def _gdal_file(path: Path, product: Product) -> str:
    return f"/vsigzip/{path}" if product.compression == "gzip" else str(path)


def resolve(text: str, *, fetch: bool = True) -> Resolved:
    """Resolve ``NAME:KEY[:BAND][:TILE]`` to a local path, cached download or remote URL.

    Parameters
    ----------
    text : str
        A catalog source name (``nightlight catalog list`` shows the names and keys).
    fetch : bool
        Download (or read remotely) when no local copy exists; ``False`` only looks locally.

    Raises
    ------
    CatalogError
        Unknown product, key, band or tile (the message lists the valid ones).
    ProductNotFoundError
        No local copy and it cannot be fetched (offline, a login page, a stamped name).
    """
    req = parse_request(text)
    product = req.product
    if product.kind == "synthetic":
        raise CatalogError(
            f"{req.label}: the synthetic world is generated, not a file: use nightlight.synthetic.make_world(...) "
            "or `nightlight demo`."
        )

    def done(path: str, found: str) -> Resolved:
        return Resolved(path, product.units, product.open_nodata, product, req.key, found)

    searched = _local_candidates(req)
    for candidate, found in searched:
        if hit := _match(candidate):
            return done(_gdal_file(hit, product), found)
    url = req.url()
    why = None
    if not fetch:
        why = "fetching is off"
    elif url is None:
        why = "the entry has no download URL"
    elif "*" in url or "*" in req.file_name():
        why = "the provider's file name holds a '*' (a processing stamp or version), so it cannot be fetched by name"
    elif product.access.get("mode") == "login":
        why = "the provider needs a login in a browser"
    if why is None and url is not None:
        anonymous = product.access.get("mode") == "anonymous"
        if anonymous and product.compression == "none" and product.file_format in ("GeoTIFF", "COG"):
            return done(url, "remote (range reads)")
        token = None
        if product.access.get("mode") == "token":
            token = os.environ.get(product.access["token_env"])
            if not token:
                why = (
                    f"it needs a token in ${product.access['token_env']} (get one at {product.access.get('login_url')})"
                )
        if why is None:
            dest = cache_dir() / product.name / req.file_name()
            try:
                download(url, dest, sha256=product.checksums.get(req.key), token=token)
            except (urllib.error.URLError, OSError) as exc:
                why = f"the download failed ({exc})"
            else:
                return done(_gdal_file(dest, product), "downloaded")
    raise _not_found(req, url, why or "", [c for c, _ in searched])


def _not_found(req: Request, url: str | None, why: str, searched: list[Path]) -> ProductNotFoundError:
    access = req.product.access
    where = "; ".join(
        f"{k}: {v}"
        for k, v in (("URL", url), ("login", access.get("login_url")), ("about", access.get("landing_page")))
        if v
    )
    folders = ", ".join(sorted({str(p.parent) for p in searched}))
    return ProductNotFoundError(
        f"{req.label}: no local file {req.file_name()!r} (searched {folders}) and {why}. "
        f"Get it from {where or 'the provider'} and put it in ${ENV_DATA} (or data_dir in {config_file()})."
    )
