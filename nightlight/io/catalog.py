"""The product catalog: name a night-light product, get its grid, units, nodata, files and licence.

Every product is one TOML file in ``catalog/products/`` (installed as
``nightlight.catalog/products``), validated here when it is loaded. Extra catalog
folders (e.g. a project's own products, or a test server) come from the environment
variable ``NIGHTLIGHT_CATALOG`` (folders separated by ``os.pathsep``); an entry there
replaces a built-in entry of the same name.

A source name is ``NAME:KEY[:BAND][:TILE]``: ``viirs-vnl-v2.1:2016``,
``viirs-monthly-vcmcfg:2014-01:75N060E``, ``dmsp-ols-v4:F182013``,
``china-viirslike-8bit:2016``. The key is a year, a month (``YYYY-MM``) or a
satellite-year (``F182013``; a bare year when one satellite covers it), after the
product's ``period``. Where the file is found is :mod:`nightlight.io.resolve`.

Schema (``*`` required; see any file in ``catalog/products/`` for an example):

====================  =============================================================
``name``\\*           the product's name (lower case, ``[a-z0-9.-]``), = the file stem
``title``\\*          one line
``kind``\\*           ``remote`` (a provider's files), ``local`` (files in ../shared/data), ``synthetic``
``units``\\*          ``nW/cm2/sr`` or ``DN`` (:mod:`nightlight.units`)
``dtype``\\*          stored dtype (``uint8``, ``int8``, ``uint16``, ``float32``…)
``scale_factor``      physical = stored × scale_factor (CF convention); default 1
``nodata``            the stored nodata value, or ``"file"`` (each file declares its own)
``nodata_means``\\*   ``missing`` (→ NaN), ``dark`` (declared nodata is really 0 light: read as data), ``none``
``period``\\*         ``year``, ``month`` or ``satellite-year``
``years``\\*          ``[first, last]`` inclusive
``bands`` / ``default_band``, ``tiles``, ``satellites`` (``{F10 = [1992, 1994]}``)
``[grid]``\\*         ``crs``, ``resolution`` ``[x, y]`` (CRS units), ``extent`` ``[w, s, e, n]``
                      (in ``extent_crs``, default the grid's CRS), optional ``shape`` ``[rows, cols]``
``[files]``\\*        ``format``, ``compression`` (``none``/``gzip``), ``name`` (template:
                      ``{year} {month} {doy} {band} {tile} {satellite} {key}``; ``*`` = any
                      characters: a stamp, found in the folder's ``listing``, ``html`` or
                      ``laads-json``), ``url`` (template; ending in ``/``: a folder the name is
                      appended to), ``url_verified`` (false until a file was fetched with it),
                      ``local`` (path under ../shared/data), ``[files.names]`` per-key names
``[access]``\\*       ``mode`` = ``anonymous`` | ``token`` | ``login``; ``token_env`` (the
                      environment variable holding the token), ``login_url``, ``landing_page``
``[license]``\\*      ``id``, ``url``, ``citation``, optional ``doi``
``[checksums]``       per key, ``"sha256:<hex>"`` (remote entries leave it empty: never invented)
``[declared_nodata]`` per key, the nodata a local file declares when ``nodata = "file"``
====================  =============================================================
"""

from __future__ import annotations

import calendar
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nightlight._resources import catalog_path
from nightlight.errors import CatalogError
from nightlight.io.listing import LISTINGS
from nightlight.units import DN, RADIANCE

#: Extra catalog folders (``os.pathsep``-separated), searched after the built-in one.
ENV_CATALOG = "NIGHTLIGHT_CATALOG"

KINDS = ("remote", "local", "synthetic")
NODATA_MEANS = ("missing", "dark", "none")
PERIODS = ("year", "month", "satellite-year")
ACCESS = ("anonymous", "token", "login")
COMPRESSION = ("none", "gzip")
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_SHA = re.compile(r"^sha256:[0-9a-f]{64}$")
_SAT_KEY = re.compile(r"^(F1[0-8])(\d{4})$")
_MONTH_KEY = re.compile(r"^(\d{4})-(\d{2})$")
_REQUIRED = ("name", "title", "kind", "units", "dtype", "nodata_means", "period", "years", "grid", "files", "access")
#: the keys each table must hold (``[files] name`` is the file-name template)
_REQUIRED_IN = {"grid": ("crs", "resolution", "extent"), "files": ("name",), "license": ("id", "citation")}


@dataclass(frozen=True)
class Product:
    """One catalog entry (validated). Field meanings: the module docstring's schema table."""

    name: str
    title: str
    kind: str
    units: str
    dtype: str
    nodata_means: str
    period: str
    years: tuple[int, int]
    crs: str
    resolution: tuple[float, float]
    extent: tuple[float, float, float, float]
    file_name: str
    access: dict[str, str]
    license: dict[str, str]
    source: str
    extent_crs: str | None = None
    shape: tuple[int, int] | None = None
    scale_factor: float = 1.0
    nodata: float | str | None = None
    bands: tuple[str, ...] = ()
    default_band: str | None = None
    tiles: tuple[str, ...] | str = ()
    satellites: dict[str, tuple[int, int]] = field(default_factory=dict)
    file_format: str = "GeoTIFF"
    compression: str = "none"
    url: str | None = None
    listing: str = "html"
    url_verified: bool = False
    local: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    declared_nodata: dict[str, float] = field(default_factory=dict)
    description: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def open_nodata(self) -> float | str | None:
        """The ``nodata=`` for :func:`nightlight.open_mosaic`: NaN-masking only what really is missing."""
        if self.nodata_means == "dark":
            return None  # the declared value is darkness, i.e. data
        if self.nodata is None:
            return None if self.nodata_means == "none" else "file"
        return self.nodata

    def keys(self) -> list[str]:
        """Every key (year, month or satellite-year) the product has."""
        y0, y1 = self.years
        if self.period == "year":
            return [str(y) for y in range(y0, y1 + 1)]
        if self.period == "month":
            return [f"{y}-{m:02d}" for y in range(y0, y1 + 1) for m in range(1, 13)]
        return [f"{s}{y}" for s, (a, b) in self.satellites.items() for y in range(a, b + 1)]


def _fail(source: str, problem: str) -> CatalogError:
    return CatalogError(f"catalog entry {source}: {problem}")


def _pair(value: Any, source: str, what: str, n: int, kind: type = float) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise _fail(source, f"{what}={value!r} must be a list of {n} numbers.")
    try:
        return tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise _fail(source, f"{what}={value!r} must be a list of {n} numbers.") from None


def _choice(raw: dict, key: str, options: tuple[str, ...], source: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if value not in options:
        raise _fail(source, f"{key}={value!r}; use one of {', '.join(options)}.")
    return str(value)


def validate(raw: dict[str, Any], source: str = "<dict>") -> Product:
    """Check one parsed TOML entry against the schema; :class:`CatalogError` naming the field and the fix."""
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _fail(source, f"missing field(s) {', '.join(missing)} (see the schema in nightlight.io.catalog).")
    for table, keys in _REQUIRED_IN.items():
        for key in keys:
            if key not in raw.get(table, {}):
                raise _fail(source, f"[{table}] lacks {key} (see the schema in nightlight.io.catalog).")
    name = str(raw["name"])
    if not _NAME.match(name):
        raise _fail(source, f"name={name!r}: use lower-case letters, digits, '.' and '-'.")
    units = str(raw["units"])
    if units not in (RADIANCE, DN):
        raise _fail(source, f"units={units!r}; use {RADIANCE!r} or {DN!r} (nightlight.units).")
    try:
        dtype = str(np.dtype(raw["dtype"]))
    except TypeError:
        raise _fail(source, f"dtype={raw['dtype']!r} is not a NumPy dtype.") from None
    years = _pair(raw["years"], source, "years", 2, int)
    if years[0] > years[1]:
        raise _fail(source, f"years={list(years)}: first year after last.")
    grid, files, access = raw["grid"], raw["files"], raw["access"]
    res = _pair(grid["resolution"], source, "grid.resolution", 2)
    extent = _pair(grid["extent"], source, "grid.extent", 4)
    if min(res) <= 0 or not (extent[0] < extent[2] and extent[1] < extent[3]):
        raise _fail(source, f"grid: resolution {res} must be > 0, extent {extent} [w, s, e, n] with w < e, s < n.")
    period = _choice(raw, "period", PERIODS, source)
    satellites = {str(k): _pair(v, source, f"satellites.{k}", 2, int) for k, v in raw.get("satellites", {}).items()}
    if period == "satellite-year" and not satellites:
        raise _fail(source, "period='satellite-year' needs a [satellites] table (F10 = [1992, 1994] …).")
    mode = _choice(access, "mode", ACCESS, source)
    if mode == "token" and not access.get("token_env"):
        raise _fail(source, "access.mode='token' needs access.token_env (the environment variable with the token).")
    if mode == "login" and not access.get("login_url"):
        raise _fail(source, "access.mode='login' needs access.login_url.")
    license_ = raw["license"]
    checksums = {str(k): str(v) for k, v in raw.get("checksums", {}).items()}
    for k, v in checksums.items():
        if not _SHA.match(v):
            raise _fail(source, f"checksums.{k}={v!r}: write 'sha256:' and 64 hex digits, or leave it out.")
    kind = _choice(raw, "kind", KINDS, source)
    if kind == "local" and not files.get("local"):
        raise _fail(source, "kind='local' needs files.local (the path under ../shared/data).")
    nodata = raw.get("nodata")
    if nodata is not None and nodata != "file" and not isinstance(nodata, (int, float)):
        raise _fail(source, f"nodata={nodata!r}: a number, 'file' or leave it out.")
    bands = tuple(str(b) for b in raw.get("bands", ()))
    default_band = raw.get("default_band")
    if bands and default_band not in bands:
        raise _fail(source, f"default_band={default_band!r} is not one of bands {list(bands)}.")
    tiles = raw.get("tiles", ())
    if not isinstance(files.get("url_verified", False), bool):
        raise _fail(source, f"files.url_verified={files['url_verified']!r}: write true or false.")
    known = set(Product.__dataclass_fields__) | {"grid", "files", "access", "license", "quantization"}
    return Product(
        name=name,
        title=str(raw["title"]),
        kind=kind,
        units=units,
        dtype=dtype,
        nodata_means=_choice(raw, "nodata_means", NODATA_MEANS, source),
        period=period,
        years=years,
        crs=str(grid["crs"]),
        resolution=res,
        extent=extent,
        extent_crs=grid.get("extent_crs"),
        shape=_pair(grid["shape"], source, "grid.shape", 2, int) if "shape" in grid else None,
        file_name=str(files["name"]),
        access={str(k): str(v) for k, v in access.items()},
        license={str(k): str(v) for k, v in license_.items()},
        source=source,
        scale_factor=float(raw.get("scale_factor", 1.0)),
        nodata=float(nodata) if isinstance(nodata, (int, float)) else nodata,
        bands=bands,
        default_band=default_band,
        tiles=tuple(str(t) for t in tiles) if isinstance(tiles, (list, tuple)) else str(tiles),
        satellites=satellites,
        file_format=str(files.get("format", "GeoTIFF")),
        compression=_choice(files, "compression", COMPRESSION, source, "none"),
        url=files.get("url"),
        listing=_choice(files, "listing", LISTINGS, source, "html"),
        url_verified=files.get("url_verified", False),
        local=files.get("local"),
        names={str(k): str(v) for k, v in files.get("names", {}).items()},
        checksums=checksums,
        declared_nodata={str(k): float(v) for k, v in raw.get("declared_nodata", {}).items()},
        description=str(raw.get("description", "")),
        notes=str(raw.get("notes", "")),
        extra={k: v for k, v in raw.items() if k not in known},
    )


@lru_cache(maxsize=8)
def _load(folders: tuple[Path, ...]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for folder in folders:
        if not folder.is_dir():
            raise CatalogError(f"{ENV_CATALOG}: {folder} is not a folder of product TOML files; fix or unset it.")
        for path in sorted(folder.glob("*.toml")):
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise CatalogError(f"catalog entry {path}: not valid TOML ({exc}).") from exc
            product = validate(raw, str(path))
            if product.name != path.stem:
                raise _fail(str(path), f"name={product.name!r} differs from the file name; rename one of them.")
            products[product.name] = product  # later folders replace built-in entries
    return products


def load_catalog() -> dict[str, Product]:
    """Every product by name: the shipped catalog, then the folders of ``NIGHTLIGHT_CATALOG``."""
    extra = [Path(p) for p in os.environ.get(ENV_CATALOG, "").split(os.pathsep) if p]
    return dict(_load((Path(str(catalog_path("products"))), *extra)))


def get_product(name: str) -> Product:
    """The product called ``name``; :class:`CatalogError` listing the names if there is none."""
    products = load_catalog()
    if name not in products:
        known = ", ".join(sorted(products))
        raise CatalogError(f"no product {name!r} in the catalog; known: {known} (`nightlight catalog list`).")
    return products[name]


@dataclass(frozen=True)
class Request:
    """A parsed ``NAME:KEY[:BAND][:TILE]``: the product, the key and the template fields."""

    product: Product
    key: str
    fields: dict[str, Any]

    @property
    def label(self) -> str:
        extra = [str(self.fields[f]) for f in ("band", "tile") if self.fields.get(f) not in (None, "", "*")]
        return ":".join([self.product.name, self.key, *extra])

    def file_name(self) -> str:
        """The expected file name (may hold ``*`` where the provider's name has a stamp)."""
        template = self.product.names.get(self.key, self.product.file_name)
        return _fill(template, self.fields, self.product)

    @property
    def checksum(self) -> str | None:
        """The entry's ``sha256:<hex>`` of this file (``[checksums]`` key ``KEY``, or ``KEY:TILE`` for a tile)."""
        return self.product.checksums.get(f"{self.key}:{self.fields['tile']}" if self.fields.get("tile") else self.key)

    def url(self) -> str | None:
        """The file's URL (``None`` if the entry has none); may hold ``*``."""
        url = _fill(self.product.url, self.fields, self.product) if self.product.url else None
        return url + self.file_name() if url and url.endswith("/") else url

    def local(self) -> str | None:
        """The path under ../shared/data for a local product."""
        if not self.product.local:
            return None
        return str(Path(_fill(self.product.local, self.fields, self.product)).parent / self.file_name())


def _fill(template: str, fields: dict[str, Any], product: Product) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise _fail(product.source, f"template {template!r} uses a field this key lacks ({exc}).") from None


def split_source(text: str) -> tuple[str, list[str]] | None:
    """``"NAME:KEY:…"`` → (NAME, [KEY, …]) when NAME is a catalog product, else None (a path or URL)."""
    name, sep, rest = text.partition(":")
    if not sep or not rest or "/" in name or "\\" in name or name not in load_catalog():
        return None
    return name, rest.split(":")


def parse_request(text: str) -> Request:
    """Parse ``NAME:KEY[:BAND][:TILE]`` against the catalog (:class:`CatalogError` naming what is wrong)."""
    parts = split_source(text)
    if parts is None:
        name = text.partition(":")[0]
        get_product(name)  # raises with the list of names
        raise CatalogError(f"{text!r}: write NAME:KEY, e.g. '{name}:2016'.")
    name, (key, *rest) = parts
    product = get_product(name)
    fields = _key_fields(product, key, text)
    fields.update(band=product.default_band or "", tile="")
    for part in rest:
        if part in product.bands:
            fields["band"] = part
        elif isinstance(product.tiles, tuple) and part in product.tiles or isinstance(product.tiles, str) and part:
            fields["tile"] = part
        else:
            raise CatalogError(
                f"{text!r}: {part!r} is neither a band ({', '.join(product.bands) or 'none'}) nor a tile "
                f"({', '.join(product.tiles) if isinstance(product.tiles, tuple) else product.tiles or 'none'}) "
                f"of {name}."
            )
    if product.tiles and not fields["tile"]:
        fields["tile"] = "*"
    return Request(product, fields["key"], fields)


def _key_fields(product: Product, key: str, text: str) -> dict[str, Any]:
    y0, y1 = product.years
    example = product.keys()[0] if product.keys() else "2016"
    if product.period == "satellite-year":
        m = _SAT_KEY.match(key)
        if m:
            sat, year = m.group(1), int(m.group(2))
        elif key.isdigit():
            year = int(key)
            sats = [s for s, (a, b) in product.satellites.items() if a <= year <= b]
            if len(sats) != 1:
                options = ", ".join(f"{s}{year}" for s in sats) or "none"
                raise CatalogError(
                    f"{text!r}: {product.name} has {len(sats)} satellites in {year}; pick one: {options}."
                )
            sat = sats[0]
        else:
            raise CatalogError(f"{text!r}: a {product.name} key is a satellite-year like {example!r}.")
        a, b = product.satellites.get(sat, (0, -1))
        if not a <= year <= b:
            raise CatalogError(f"{text!r}: {product.name} has no {sat}{year}; it has {', '.join(product.keys())}.")
        return {"year": year, "satellite": sat, "key": f"{sat}{year}", "month": 1, "doy": 1}
    if product.period == "month":
        m = _MONTH_KEY.match(key)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise CatalogError(f"{text!r}: a {product.name} key is a month like '{y0}-04'.")
        year, month = int(m.group(1)), int(m.group(2))
    else:
        if not key.isdigit():
            raise CatalogError(f"{text!r}: a {product.name} key is a year like {example!r}.")
        year, month = int(key), 1
    if not y0 <= year <= y1:
        raise CatalogError(f"{text!r}: {product.name} covers {y0}–{y1}, not {year}.")
    doy = sum(calendar.monthrange(year, m)[1] for m in range(1, month)) + 1
    return {"year": year, "month": month, "doy": doy, "satellite": "", "key": key}
