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

Every file found or downloaded is checked against the entry before it is used
(:func:`check_file`): GDAL opens it (a provider's HTML login page saved as ``x.tif`` is
refused, and deleted from the cache), its size in pixels, resolution and extent are the
entry's grid, and its SHA-256 is the entry's checksum where it has one. A local file that
fails is an error naming it and what differs; a cached one is deleted and fetched again.

A file name with ``*`` (a provider's processing stamp) is matched by glob in the local
folders, and on the provider's side in the folder's listing (:mod:`nightlight.io.listing`:
the HTML index page, or LAADS DAAC's ``.json``; several matches → the newest stamp, with a
warning), then fetched as above under its real name. Black Marble (HDF5 tiles,
``tiles`` in the entry) resolves every tile a ``region`` needs (or the one tile named,
``blackmarble-vnp46a4:2016:h30v05``) this way and returns a VRT mosaic of them
(:mod:`nightlight.io.blackmarble`). Offline or missing: a :class:`ProductNotFoundError`
naming the product, the expected file name, the folders searched and where the file comes
from (URL, login page), and whether the catalog's URL was ever checked (``url_verified``).
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
import urllib.error
import urllib.parse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import rasterio
import rasterio.errors

from nightlight.errors import CatalogError, InvalidRasterError, NightlightError
from nightlight.hashing import sha256
from nightlight.io import blackmarble
from nightlight.io.catalog import Product, Request, parse_request
from nightlight.io.download import download
from nightlight.io.listing import ListingError, list_folder, listing_url, pick
from nightlight.io.remote import cache_dir

ENV_DATA = "NIGHTLIGHT_DATA"
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
    found: str  # "data folder", "shared data", "cache", "remote (range reads)", "downloaded", "mosaic of …"


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


def _match(candidate: Path) -> Path | None:
    if "*" not in str(candidate):
        return candidate if candidate.is_file() else None
    hits = sorted(p for p in candidate.parent.glob(candidate.name) if p.is_file()) if candidate.parent.is_dir() else []
    return hits[-1] if hits else None  # the newest processing stamp sorts last


def catalog_name_of(path: str | os.PathLike) -> str | None:
    """The catalog name ``NAME:KEY`` whose local file ``path`` is (the same file on disk), else None.

    A product's local file opened by its path is then read as its catalog name reads it
    (units, what its nodata value means), so both names give the same numbers.
    """
    path = Path(path)
    if not path.is_file():
        return None
    from nightlight.io.catalog import load_catalog

    for product in load_catalog().values():
        if product.kind != "local" or not product.local:
            continue
        for key in product.keys():
            req = parse_request(f"{product.name}:{key}")
            if req.file_name() != path.name:
                continue
            for candidate, _ in _local_candidates(req):
                if candidate.is_file() and os.path.samefile(candidate, path):
                    return req.label
    return None


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


def resolve(text: str, *, fetch: bool = True, region: Sequence[float] | None = None) -> Resolved:
    """Resolve ``NAME:KEY[:BAND][:TILE]`` to a local path, cached download, remote URL or tile mosaic.

    Parameters
    ----------
    text : str
        A catalog source name (``nightlight catalog list`` shows the names and keys).
    fetch : bool
        Download (or read remotely) when no local copy exists; ``False`` only looks locally.
    region : (west, south, east, north), optional
        Degrees; for a tiled product (Black Marble) the tiles to mosaic. Other products
        ignore it (:func:`nightlight.open_mosaic` cuts the region).

    Raises
    ------
    CatalogError
        Unknown product, key, band or tile (the message lists the valid ones); a tiled
        product without a tile or a region.
    ProductNotFoundError
        No local copy and it cannot be fetched (offline, a login page, no token, a
        listing without a matching file).
    """
    req = parse_request(text)
    product = req.product
    if product.kind == "synthetic":
        raise CatalogError(
            f"{req.label}: the synthetic world is generated, not a file: use nightlight.synthetic.make_world(...) "
            "or `nightlight demo`."
        )
    if product.file_format == "HDF5" and product.tiles:
        return _resolve_tiles(req, fetch=fetch, region=region)
    path, found = _locate(req, fetch=fetch, listings={})
    return Resolved(path, product.units, product.open_nodata, product, req.key, found)


def _locate(req: Request, *, fetch: bool, listings: dict[str, list[str]]) -> tuple[str, str]:
    """(GDAL path or URL, how it was found) of one file; :class:`ProductNotFoundError` if nowhere."""
    product = req.product
    searched = _local_candidates(req)
    for candidate, found in searched:
        if hit := _match(candidate):
            if problem := check_file(hit, req):
                if found != "cache":
                    raise InvalidRasterError(
                        f"{hit}: found for {req.label} but {problem}: not the file the catalog entry describes. "
                        f"Replace it with the right file ({req.product.access.get('landing_page') or req.url()}) "
                        "or move it away."
                    )
                warnings.warn(f"{hit}: cached for {req.label} but {problem}; deleted, fetched again.", stacklevel=3)
                hit.unlink()
                continue
            return _gdal_file(hit, product), found
    url = req.url()
    mode = product.access.get("mode")
    token = os.environ.get(product.access["token_env"]) if mode == "token" else None
    why = None
    if not fetch:
        why = "fetching is off"
    elif url is None:
        why = "the entry has no download URL"
    elif req.fields.get("tile") == "*":  # else the listing's "newest stamp" would be some other tile
        tiles = product.tiles if isinstance(product.tiles, str) else ", ".join(product.tiles)
        why = f"the product comes in tiles ({tiles}): name one, e.g. {product.name}:{req.key}:TILE"
    elif "*" in url.rpartition("/")[0]:
        why = "the URL's folder holds a '*' (nightlight reads one folder's listing, not a tree of folders)"
    elif "*" in req.file_name() and not fnmatch.fnmatchcase(_url_name(url), req.file_name()):
        why = f"the provider ships it inside {_url_name(url)!r} (an archive): unpack that by hand"
    elif mode == "login":
        why = "the provider needs a login in a browser"
    elif mode == "token" and not token:
        why = f"it needs a token in ${product.access['token_env']} (get one at {product.access.get('login_url')})"
    if why is None and url is not None:
        configured = url  # the token's own scheme, host and port: never sent elsewhere
        try:
            if "*" in url:
                url = _from_listing(url, product, token, configured, listings)
            if mode == "anonymous" and product.compression == "none" and product.file_format in ("GeoTIFF", "COG"):
                return url, "remote (range reads)"
            name = req.file_name()
            dest = cache_dir() / product.name / (_url_name(url) if "*" in name else name)
            download(
                url,
                dest,
                sha256=req.checksum,
                token=token,
                token_origin=configured,
                check=lambda part: check_file(part, req, checksum=False),
            )
        except ListingError as exc:
            why = f"the provider's listing does not give the file: {exc}"
        except (urllib.error.URLError, OSError) as exc:
            why = f"the download failed ({exc})"
        else:
            return _gdal_file(dest, product), "downloaded"
    raise _not_found(req, url, why or "", [c for c, _ in searched])


#: How far a file's grid may differ from the entry's: resolution (relative), extent (in pixels).
RES_TOLERANCE, EXTENT_TOLERANCE_PX = 1e-6, 1.0  # entries give nominal extents (VNL: ±180° for 86401 px)


def check_file(path: Path, req: Request, *, checksum: bool = True) -> str | None:
    """What is wrong with ``path`` as the file of ``req`` (None: nothing), against its catalog entry.

    The SHA-256 where the entry has one (``checksum``); for GeoTIFF/COG products that GDAL
    opens it (an HTML page is named as such), and its shape, resolution and extent (when
    the extent is in the grid's CRS) are the entry's.
    """
    product = req.product
    with path.open("rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")) or b"<html" in head:
        return "it is an HTML page, not a raster (a login or error page saved under the file's name)"
    want = req.checksum
    if checksum and want:
        got = sha256(path)
        if got != want.removeprefix("sha256:").lower():
            return f"its SHA-256 {got[:12]}… is not the entry's {want.removeprefix('sha256:')[:12]}…"
    if product.file_format not in ("GeoTIFF", "COG"):
        return None
    try:
        with rasterio.open(_gdal_file(path, product)) as src:
            shape, transform = (src.height, src.width), src.transform
    except rasterio.errors.RasterioError as exc:
        return f"GDAL cannot open it as a raster ({exc})"
    if product.shape and tuple(product.shape) != shape:
        return f"it is {shape[0]} x {shape[1]} pixels, the entry says {product.shape[0]} x {product.shape[1]}"
    res = (abs(transform.a), abs(transform.e))
    if any(abs(r - e) > RES_TOLERANCE * e for r, e in zip(res, product.resolution)):
        return (
            f"its pixels are {res[0]:.10g} x {res[1]:.10g}, the entry says {product.resolution[0]:.10g} x "
            f"{product.resolution[1]:.10g}"
        )
    if product.extent_crs in (None, product.crs):
        w, n = transform.c, transform.f
        extent = (w, n - shape[0] * res[1], w + shape[1] * res[0], n)
        tol = (EXTENT_TOLERANCE_PX * res[0], EXTENT_TOLERANCE_PX * res[1])
        if any(abs(a - b) > tol[i % 2] for i, (a, b) in enumerate(zip(extent, product.extent))):
            shown = ", ".join(f"{v:.6g}" for v in extent)
            return f"it covers [{shown}], the entry's grid extent is {list(product.extent)}"
    return None


def _url_name(url: str) -> str:
    return urllib.parse.unquote(url.rpartition("/")[2])


def _from_listing(url: str, product: Product, token: str | None, origin: str, listings: dict) -> str:
    """The real URL of a stamped ``url`` (``*`` in its last part), from its folder's listing (read once per call)."""
    folder, _, pattern = url.rpartition("/")
    folder += "/"
    if folder not in listings:
        listings[folder] = list_folder(folder, listing=product.listing, token=token, token_origin=origin)
    return folder + urllib.parse.quote(pick(listings[folder], pattern, listing_url(folder, product.listing)))


def _resolve_tiles(req: Request, *, fetch: bool, region: Sequence[float] | None) -> Resolved:
    """Every tile of a tiled product the region (or the named tile) needs, as one VRT mosaic."""
    product, tile = req.product, req.fields.get("tile")
    if tile and tile != "*":
        tiles = [blackmarble.tile_id(*blackmarble.parse_tile(tile))]
    elif region is not None:
        tiles = blackmarble.tiles_for_region(region)
    else:
        raise CatalogError(
            f"{req.label}: {product.name} comes in 10° tiles: name one ({product.name}:{req.key}:h30v05) or pass "
            "region=(west, south, east, north) to open_mosaic to mosaic the tiles it needs."
        )
    listings: dict[str, list[str]] = {}
    located = [
        _locate(Request(product, req.key, {**req.fields, "tile": t}), fetch=fetch, listings=listings) for t in tiles
    ]
    vrt = blackmarble.mosaic_vrt(
        [path for path, _ in located],
        band=req.fields.get("band") or blackmarble.DEFAULT_BAND,
        region=region,
        scale_factor=product.scale_factor,
        fill_value=product.nodata if isinstance(product.nodata, float) else None,
        folder=cache_dir() / product.name / "mosaics",
        file_name=Request(product, req.key, {**req.fields, "tile": "{tile}"}).file_name(),
    )
    found = f"mosaic of {len(located)} tile(s), {', '.join(sorted({f for _, f in located}))}"
    return Resolved(str(vrt), product.units, "file", product, req.key, found)


def _not_found(req: Request, url: str | None, why: str, searched: list[Path]) -> ProductNotFoundError:
    access = req.product.access
    where = "; ".join(
        f"{k}: {v}"
        for k, v in (("URL", url), ("login", access.get("login_url")), ("about", access.get("landing_page")))
        if v
    )
    folders = ", ".join(sorted({str(p.parent) for p in searched}))
    unchecked = (
        " (the catalog's URL was never checked against the provider, url_verified = false: if it is wrong, the "
        "landing page has the right one)"
        if url and not req.product.url_verified
        else ""
    )
    return ProductNotFoundError(
        f"{req.label}: no local file {req.file_name()!r} (searched {folders}) and {why}. "
        f"Get it from {where or 'the provider'}{unchecked} and put it in ${ENV_DATA} (or data_dir in {config_file()})."
    )
