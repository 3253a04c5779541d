"""Text views of the product catalog for ``nightlight catalog list`` and ``show``."""

from __future__ import annotations

from nightlight.io.catalog import Product

LIST_COLUMNS = ("name", "kind", "units", "keys", "access", "title")


def list_rows(products: dict[str, Product]) -> list[tuple[str, ...]]:
    """One row per product (sorted by name) for :data:`LIST_COLUMNS`."""
    rows: list[tuple[str, ...]] = []
    for p in sorted(products.values(), key=lambda p: p.name):
        keys = p.keys()
        span = f"{keys[0]} … {keys[-1]}" if len(keys) > 1 else (keys[0] if keys else "")
        rows.append((p.name, p.kind, p.units, span, p.access.get("mode", ""), p.title))
    return rows


def describe(product: Product) -> dict[str, str]:
    """Label → text of every field worth showing (empty ones included; callers skip them)."""
    return {
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
