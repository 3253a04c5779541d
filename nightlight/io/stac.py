"""The product catalog as a STAC catalog (one Collection per product), written with pystac.

``nightlight catalog stac OUT_DIR`` → ``OUT_DIR/catalog.json`` and
``OUT_DIR/<product>/collection.json``. Each collection carries the lon/lat bounding box
and the years, the licence, the provider's pages as links, and nightlight's fields as
``nightlight:*`` summaries (units, nodata, dtype, scale factor, period, file name
template, access); the citation and DOI use the ``sci`` extension's field names.

Every key whose file is on this machine (:func:`nightlight.io.resolve.resolve` without
fetching) is also an **Item** with one ``data`` asset (the file's absolute path) and the
``proj`` and ``raster`` fields a STAC loader needs (EPSG code, shape, transform; nodata as
the catalog means it, so a declared 0 that means *dark* is no nodata), so
``odc.stac.load`` or ``stackstac.stack`` read the same pixels :func:`nightlight.open_mosaic`
reads (the scale factor is left to the reader: ``nightlight:scale_factor``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyproj

from nightlight.errors import NightlightError
from nightlight.grid import Grid
from nightlight.io.catalog import Product, load_catalog

STAC_SCI = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
STAC_PROJ = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
STAC_RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
#: STAC wants an SPDX id, "other" or "proprietary".
_NOT_SPDX = {"public-domain", "other-open"}


def _bbox(p: Product) -> list[float]:
    w, s, e, n = p.extent
    crs = p.extent_crs or p.crs
    if pyproj.CRS.from_user_input(crs).to_epsg() == 4326:
        return [w, s, e, n]
    t = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return list(t.transform_bounds(w, s, e, n, densify_pts=21))


def product_collection(p: Product):
    """A ``pystac.Collection`` describing one catalog product."""
    import pystac

    extent = pystac.Extent(pystac.SpatialExtent([_bbox(p)]), pystac.TemporalExtent([list(year_span(*p.years))]))
    summaries = {
        "nightlight:units": [p.units],
        "nightlight:dtype": [p.dtype],
        "nightlight:scale_factor": [p.scale_factor],
        "nightlight:nodata": [p.nodata],
        "nightlight:nodata_means": [p.nodata_means],
        "nightlight:period": [p.period],
        "nightlight:kind": [p.kind],
        "nightlight:access": [p.access.get("mode")],
        "nightlight:file_name": [p.file_name],
        "proj:code": [p.crs if p.crs.upper().startswith("EPSG:") else None],
        "gsd_crs_units": [list(p.resolution)],
    }
    if p.bands:
        summaries["nightlight:bands"] = list(p.bands)
    col = pystac.Collection(
        id=p.name,
        title=p.title,
        description=" ".join(x for x in (p.description, p.notes) if x) or p.title,
        extent=extent,
        license="other" if p.license["id"] in _NOT_SPDX else p.license["id"],
        summaries=pystac.Summaries(summaries),
        extra_fields={
            "sci:citation": p.license["citation"],
            **({"sci:doi": p.license["doi"]} if "doi" in p.license else {}),
        },
        stac_extensions=[STAC_SCI],
    )
    if p.license.get("url"):
        col.add_link(pystac.Link("license", p.license["url"], title=p.license["id"]))
    for key, rel in (("landing_page", "about"), ("login_url", "via")):
        if p.access.get(key):
            col.add_link(pystac.Link(rel, p.access[key]))
    if p.url:
        col.add_link(pystac.Link("via", p.url.split("{")[0], title="provider's files"))
    return col


def year_span(first: int, last: int) -> tuple[dt.datetime, dt.datetime]:
    """1 January of ``first`` to 31 December of ``last`` (23:59:59 UTC): a STAC time range."""
    return dt.datetime(int(first), 1, 1, tzinfo=dt.UTC), dt.datetime(int(last), 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def box_geometry(w: float, s: float, e: float, n: float) -> dict:
    """The GeoJSON polygon of a lon/lat box (STAC ``geometry``)."""
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _key_period(product: Product, key: str) -> tuple[dt.datetime, dt.datetime]:
    year = int(key[-4:]) if product.period == "satellite-year" else int(key[:4])
    if product.period == "month":
        month = int(key[5:7])
        end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC) - dt.timedelta(seconds=1)
        return dt.datetime(year, month, 1, tzinfo=dt.UTC), end
    return year_span(year, year)


def product_items(p: Product) -> list:
    """A ``pystac.Item`` per key of ``p`` whose file is on this machine (none for remote-only products)."""
    import pystac
    import rasterio

    from nightlight.io.resolve import ProductNotFoundError, resolve

    if p.tiles or p.kind == "synthetic":
        return []
    items = []
    for key in p.keys():
        try:
            found = resolve(f"{p.name}:{key}", fetch=False)
        except (ProductNotFoundError, NightlightError):
            continue
        path = Path(found.path).resolve()
        with rasterio.open(path) as src:
            epsg, shape, transform = src.crs.to_epsg(), [src.height, src.width], list(src.transform)[:6]
            dtype, declared = src.dtypes[0], src.nodata
            bounds = Grid(src.crs, src.transform, (src.height, src.width)).lonlat_bounds()
        nodata = None if found.nodata is None else (declared if found.nodata == "file" else found.nodata)
        w, s_, e, n = bounds
        start, end = _key_period(p, key)
        item = pystac.Item(
            id=f"{p.name}-{key}",
            geometry=box_geometry(w, s_, e, n),
            bbox=[w, s_, e, n],
            datetime=None,
            start_datetime=start,
            end_datetime=end,
            properties={
                "proj:epsg": epsg,
                "proj:shape": shape,
                "proj:transform": transform,
                "nightlight:name": f"{p.name}:{key}",
                "nightlight:units": p.units,
                "nightlight:scale_factor": p.scale_factor,
            },
            stac_extensions=[STAC_PROJ, STAC_RASTER],
        )
        band = {"data_type": dtype, "unit": p.units, **({"nodata": nodata} if nodata is not None else {})}
        item.add_asset(
            "data",
            pystac.Asset(
                href=str(path),
                media_type=pystac.MediaType.GEOTIFF,
                roles=["data"],
                extra_fields={"raster:bands": [band]},
            ),
        )
        items.append(item)
    return items


def write_stac(out_dir: str | Path) -> Path:
    """Write the whole product catalog as a self-contained STAC catalog; the path of ``catalog.json``."""
    import pystac

    out = Path(out_dir)
    cat = pystac.Catalog(id="nightlight-products", description="Night-light products nightlight knows by name.")
    for product in load_catalog().values():
        collection = product_collection(product)
        collection.add_items(product_items(product))
        cat.add_child(collection)
    cat.normalize_hrefs(str(out))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out / "catalog.json"
