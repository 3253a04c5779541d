"""``nightlight catalog list | show | stac``: the products nightlight knows by name."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from nightlight.cli.group import FOLDER, as_cli_errors, main


# --------------------------------------------------------------------------- catalog: name a product, get the data
@main.group()
def catalog() -> None:
    """The night-light products nightlight knows by name (NAME:KEY in detect and open_mosaic)."""


@catalog.command("list")
def catalog_list() -> None:
    """One line per product: name, kind, units, years, access."""
    from rich.table import Table

    from nightlight.io.catalog import load_catalog

    with as_cli_errors():
        products = load_catalog()
    table = Table(title=f"{len(products)} products (use NAME:KEY, e.g. viirs-vnl-v2.1:2016)")
    for col in ("name", "kind", "units", "keys", "access", "title"):
        table.add_column(col, overflow="fold")
    for p in sorted(products.values(), key=lambda p: p.name):
        keys = p.keys()
        span = f"{keys[0]} … {keys[-1]}" if len(keys) > 1 else (keys[0] if keys else "")
        table.add_row(p.name, p.kind, p.units, span, p.access.get("mode", ""), p.title)
    Console(highlight=False, width=max(Console().width, 160)).print(table)


@catalog.command("show")
@click.argument("name")
def catalog_show(name: str) -> None:
    """Everything the catalog says about NAME (or NAME:KEY: also where its file is)."""
    from nightlight.errors import CatalogError
    from nightlight.io.catalog import get_product, parse_request
    from nightlight.io.resolve import ProductNotFoundError, resolve

    with as_cli_errors():
        product = get_product(name.partition(":")[0])
        req = parse_request(name) if ":" in name else None
    out = Console(highlight=False)
    out.print(f"[bold]{product.name}[/bold] — {product.title}")
    rows = {  # label → text of every field worth showing; empty ones are skipped
        "kind": product.kind,
        "units": product.units,
        "dtype": product.dtype,
        "scale factor": f"{product.scale_factor:g} (physical = stored × scale factor)",
        "nodata": f"{product.nodata!r}, means {product.nodata_means} → open_mosaic(nodata={product.open_nodata!r})",
        "period / years": f"{product.period}, {product.years[0]}–{product.years[1]}",
        "bands": ", ".join(product.bands) + (f" (default {product.default_band})" if product.default_band else ""),
        "grid": f"{product.crs}, resolution {product.resolution}, extent {product.extent}"
        + (f" ({product.extent_crs})" if product.extent_crs else "")
        + (f", {product.shape[0]} × {product.shape[1]} px" if product.shape else ""),
        "file name": product.file_name,
        "url": (
            f"{product.url} ({'checked' if product.url_verified else 'never checked against the provider'}"
            + (f"; stamped names found in its {product.listing} listing" if "*" in product.file_name else "")
            + ")"
            if product.url
            else ""
        ),
        "local": product.local or "",
        "access": ", ".join(f"{k}={v}" for k, v in product.access.items()),
        "license": f"{product.license['id']} {product.license.get('url', '')}",
        "citation": product.license["citation"],
        "description": product.description,
        "notes": product.notes,
    }
    for key, value in rows.items():
        if value:
            out.print(f"  {key:15s} {value}")
    if req is not None:
        try:
            found = resolve(name, fetch=False)
            out.print(f"  {'file':15s} {found.path} ({found.found})")
        except ProductNotFoundError as exc:
            out.print(f"  {'file':15s} not local: {exc}")
        except CatalogError as exc:  # a tiled product named without a tile: no one file to show
            out.print(f"  {'file':15s} {exc}")


@catalog.command("stac")
@click.argument("out_dir", type=FOLDER)
def catalog_stac(out_dir: Path) -> None:
    """Write the product catalog as a STAC catalog (one collection per product) into OUT_DIR."""
    from nightlight.io.stac import write_stac

    with as_cli_errors():
        path = write_stac(out_dir)
    click.echo(f"wrote {path}")
