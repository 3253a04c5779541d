"""``map.html``: an interactive map of a run that opens from disk without internet.

Built with folium (Leaflet): every city coloured by its change of light on the classes of
:func:`nightlight.outputs.figures.change_scale` (the same as ``map.png``), shrinking ones
outlined in red, a legend, a tooltip on hover and a popup on click (id, the user's
name/id columns, area, change, status, pattern, trend p/q), one layer each for shrinking,
not shrinking and not classified cities, the extent of the mosaics, and optional region
outlines.

**Offline.** folium links Leaflet, jQuery and Bootstrap from CDNs. The map uses only
Leaflet (vector layers and circles; no icon markers, no Bootstrap widgets): the other links
are dropped, and Leaflet's script and stylesheet are written into the page from the ``xstatic-leaflet`` package
(PyPI; its icons as ``data:`` URIs), the version folium was written for. A page that
still names an external script or stylesheet is an error (a folium upgrade that adds one
fails here, not in a user's browser). The basemap (OpenStreetMap tiles) is the only
thing fetched, when online; without it the cities draw on Leaflet's grey.

**Large runs.** Over :data:`~nightlight.outputs.figures.POLYGON_LIMIT` cities, a layer of
circles at the centroids (area ∝ the city's, as in ``map.png``) is added, with the same
colours and popups: at national zoom a city of a few km² is a speck nobody can click.

**Size.** Polygons are simplified for display (never the tables) until the page holds at
most :data:`VERTEX_BUDGET` vertices, and coordinates are rounded to 1e-5° (~1 m); Leaflet
draws on a canvas (``prefer_canvas``), so 20,000 cities stay responsive.
"""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from nightlight.checkpoint import write_atomic
from nightlight.outputs.figures import (
    CHANGE_EDGES_PCT,
    NOT_CLASSIFIED,
    POLYGON_LIMIT,
    change_colours,
    classified,
    decline_threshold,
    read_outlines,
)
from nightlight.outputs.glossary import user_columns
from nightlight.outputs.summary import centroid_lonlat

#: Most vertices the page holds; beyond, polygons are simplified with a growing tolerance.
VERTEX_BUDGET = 400_000
#: Outline of shrinking cities: a saturated red, so a small shrinking city reads red at national zoom.
SHRINKING_OUTLINE = "#d6001c"
#: Decimal places of the coordinates in the page (1e-5° ≈ 1 m).
DECIMALS = 5
#: The Leaflet version folium's templates are written for (and xstatic-leaflet ships).
LEAFLET_VERSION = "1.9.3"
_EXTERNAL = re.compile(r"<(?:script[^>]*\ssrc|link[^>]*\shref)=\"(?:https?:)?//[^\"]*\"", re.IGNORECASE)


def write_webmap(
    result: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    outlines: Any = None,
    basemap: bool = True,
) -> Path:
    """Write ``map.html`` of a decline run (see the module docstring).

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking`, with its ``attrs["nightlight"]``
        metadata (the decline threshold and the mosaics' grid, drawn as their extent).
    path : path
        The HTML file, written atomically.
    title : str, optional
        Shown at the top of the map; default: how many classified cities shrank.
    outlines : GeoDataFrame or vector file, optional
        Country or region polygons drawn as grey outlines.
    basemap : bool
        Add the OpenStreetMap basemap (loads only when online).

    Returns
    -------
    Path
    """
    import folium

    meta = result.attrs.get("nightlight", {})
    thr = decline_threshold(result)
    data = _display_frame(result, thr)
    m = folium.Map(tiles=None, prefer_canvas=True, control_scale=True)
    # Only Leaflet: the page uses no markers or Bootstrap widgets (their CDN links are dropped).
    m.default_js = [("leaflet", "nightlight-inline:leaflet.js")]
    m.default_css = [("leaflet_css", "nightlight-inline:leaflet.css")]
    if basemap:
        folium.TileLayer("OpenStreetMap", name="basemap (online only)").add_to(m)

    def outlines_layer(shapes: Any, name: str, style: dict) -> None:
        if shapes is not None:
            geo = shapes.__geo_interface__
            folium.GeoJson(geo, name=name, style_function=lambda f: style, interactive=False).add_to(m)

    fields, aliases = _popup_fields(data)

    def cities_layer(features: dict, name: str, **kw: Any) -> None:
        """Cities with a popup of every field and a tooltip of the first three."""
        popup = folium.GeoJsonPopup(fields=fields, aliases=aliases, class_name="nl-popup")
        tooltip = folium.GeoJsonTooltip(fields=fields[:3], aliases=aliases[:3])
        folium.GeoJson(features, name=name, popup=popup, tooltip=tooltip, **kw).add_to(m)

    extent = _mosaic_extent(meta.get("grid"))
    outlines_layer(
        extent, "extent of the mosaics", {"color": "#444444", "weight": 1.5, "dashArray": "6 4", "fill": False}
    )
    regions = read_outlines(outlines)
    regions = None if regions is None else _simplified(regions[[regions.geometry.name]])
    outlines_layer(regions, "region outlines", {"color": "#666666", "weight": 1, "fill": False})
    layers = (
        ("shrinking", f"shrinking (≥ {thr:.0%} decline, outlined)"),
        ("other", "not shrinking"),
        ("not_classified", "not classified (status ≠ ok)"),
    )
    for key, label in layers:
        part = data[data["_layer"] == key]
        if len(part):
            cities_layer(_features(part, fields), f"{label}: {len(part)}")
    if len(data) > POLYGON_LIMIT:  # a national run: cities of a few km² are specks and hard to click
        cities_layer(_symbols(data, fields), f"circles, area ∝ city's: {len(data)}", marker=folium.CircleMarker())
    folium.LayerControl(collapsed=False).add_to(m)
    w, s, e, n = data.total_bounds if len(data) else (-180.0, -60.0, 180.0, 75.0)
    m.fit_bounds([[s, w], [n, e]])
    n_shr, n_ok = int((data["_layer"] == "shrinking").sum()), int((data["_layer"] != "not_classified").sum())
    heading = title or f"{n_shr} of {n_ok} classified cities lost ≥ {thr:.0%} of their night light"
    root: Any = m.get_root()
    root.html.add_child(folium.Element(_legend_html(heading, thr)))
    page = _inline_leaflet(root.render())
    return write_atomic(Path(path), lambda tmp: tmp.write_text(page, encoding="utf-8"))


# --------------------------------------------------------------------------- data
def _display_frame(result: gpd.GeoDataFrame, thr: float) -> gpd.GeoDataFrame:
    """Cities in lon/lat, simplified for display, with their layer, colour and popup texts."""
    data = result if result.crs is None or result.crs.to_epsg() == 4326 else result.to_crs("EPSG:4326")
    ok, shrinking = classified(data)
    change = data["change"].where(ok).to_numpy(float)
    fill = change_colours(change)
    out = gpd.GeoDataFrame(
        {"_layer": np.where(shrinking, "shrinking", np.where(ok, "other", "not_classified"))},
        geometry=_simplified(data).geometry.to_numpy(),
        crs="EPSG:4326",
        index=data.index,
    )
    # Outlines are drawn in screen pixels, so a city of a few km² stays a visible dot at national
    # zoom: in a darker shade of its own colour, shrinking ones in saturated red and thicker
    # (black would make every small shrinking city a black dot, the old map.png's fault).
    out["_style"] = [
        {"fillColor": f, "fillOpacity": 0.85, "color": SHRINKING_OUTLINE if s else _darker(f), "weight": 2 if s else 1}
        for f, s in zip(fill, shrinking)
    ]
    out["id"] = data["city_id"].astype(str).map(html.escape) if "city_id" in data else data.index.astype(str)
    for col in user_columns(data)[:4]:  # the user's name/id columns (a few: the popup stays readable)
        out[col] = data[col].map(lambda v: "" if _missing(v) else html.escape(str(v)))
    raw_change = data["change"].to_numpy(float)
    out["change"] = [("" if np.isnan(v) else f"{100 * v:+.1f} %".replace("-", "−")) for v in raw_change]
    out["_area"] = data["area_km2"].to_numpy(float) if "area_km2" in data else 1.0
    if "area_km2" in data:
        out["area"] = [("" if np.isnan(v) else f"{v:,.1f} km²") for v in data["area_km2"].to_numpy(float)]
    out["status"] = data["status"].astype(str) if "status" in data else "ok"
    if "shrink_pattern" in data:
        out["pattern"] = data["shrink_pattern"].map(lambda v: "" if _missing(v) else str(v))
    for col in ("mk_p", "mk_q"):
        if col in data:
            out[col] = [("" if np.isnan(v) else f"{v:.3g}") for v in data[col].to_numpy(float)]
    return out


def _darker(hex_colour: str, by: float = 0.35) -> str:
    rgb = [int(hex_colour[i : i + 2], 16) * (1 - by) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(v):02x}" for v in rgb)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _popup_fields(data: gpd.GeoDataFrame) -> tuple[list[str], list[str]]:
    """Popup rows: id, the user's columns, change, area, status, pattern, trend p/q."""
    names = {"id": "city", "change": "change of light", "area": "area", "status": "status"}
    names |= {"pattern": "shrink pattern", "mk_p": "trend p (Mann–Kendall)", "mk_q": "trend q (FDR)"}
    own = [c for c in data.columns if c not in names and not c.startswith("_") and c != data.geometry.name]
    fields = ["id", *own, *(c for c in ("change", "area", "status", "pattern", "mk_p", "mk_q") if c in data)]
    return fields, [names.get(f, f) for f in fields]


def _features(part: gpd.GeoDataFrame, fields: list[str]) -> dict:
    """A GeoJSON FeatureCollection whose features carry their popup fields and their own style."""
    features = []
    for geom, style, *values in zip(part.geometry, part["_style"], *(part[f] for f in fields)):
        props = dict(zip(fields, values))
        props["style"] = style  # folium applies feature.properties.style when no style_function is given
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _symbols(data: gpd.GeoDataFrame, fields: list[str]) -> dict:
    """Each city as a circle at its centroid, area ∝ the city's (as in map.png), its colours and popup.

    Leaflet's circle markers take their radius (screen pixels) from the feature's style.
    """
    lon, lat = centroid_lonlat(data)
    points = gpd.points_from_xy(lon, lat, crs="EPSG:4326")
    area = data["_area"].to_numpy(float)
    ref = max(float(np.nanquantile(area, 0.99)), 1e-9) if np.isfinite(area).any() else 1.0
    radius = np.clip(np.sqrt(np.nan_to_num(area) / ref) * 12, 3, 20)  # the 99th-percentile city: 12 px
    order = np.argsort(-radius)  # large circles first: small ones stay clickable on top
    part = gpd.GeoDataFrame(data.drop(columns=data.geometry.name), geometry=points, crs=data.crs).iloc[order]
    part["_style"] = [{**style, "radius": float(r), "fill": True, "weight": 1.5 if style["weight"] > 1 else 0.5}
                      for style, r in zip(part["_style"], radius[order])]  # fmt: skip
    return _features(part, fields)


def _simplified(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` in lon/lat with at most :data:`VERTEX_BUDGET` vertices, coordinates rounded."""
    frame = frame if frame.crs is None or frame.crs.to_epsg() == 4326 else frame.to_crs("EPSG:4326")
    geoms = frame.geometry.to_numpy()
    n = int(shapely.get_num_coordinates(geoms).sum())
    if n > VERTEX_BUDGET:
        w, s, e, nn = frame.total_bounds
        tol = max(e - w, nn - s, 1e-6) * 1e-4  # a ten-thousandth of the extent, doubled until it fits
        for _ in range(16):
            simple = shapely.simplify(geoms, tol, preserve_topology=True)
            if int(shapely.get_num_coordinates(simple).sum()) <= VERTEX_BUDGET:
                break
            tol *= 2
        geoms = simple
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
    return gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=geoms, crs="EPSG:4326")


def _mosaic_extent(grid: dict | None) -> gpd.GeoSeries | None:
    """The mosaics' footprint (from the run metadata's grid) in lon/lat, or None if not recorded."""
    if not grid or not all(k in grid for k in ("crs", "transform", "shape")):
        return None
    a, b, c, d, e, f = grid["transform"][:6]
    rows, cols = grid["shape"][-2:]
    corners = [(c + a * x + b * y, f + d * x + e * y) for x, y in ((0, 0), (cols, 0), (cols, rows), (0, rows))]
    box = shapely.segmentize(shapely.Polygon(corners), max(abs(a) * cols, abs(e) * rows) / 64)  # curved when projected
    return gpd.GeoSeries([box], crs=grid["crs"]).to_crs("EPSG:4326")


# --------------------------------------------------------------------------- page
def _legend_html(heading: str, thr: float) -> str:
    """Title and colour legend (plain HTML and CSS: no script)."""
    edges = CHANGE_EDGES_PCT
    classes: list[tuple[str, float]] = [(f"≥ {edges[-1]:+g} %", edges[-1] + 5.0)]
    classes += [
        (f"{lo:+g} … {hi:+g} %".replace("+0 ", "0 "), (lo + hi) / 2)
        for lo, hi in reversed(list(zip(edges[:-1], edges[1:])))
    ]
    classes.append((f"< {edges[0]:+g} %", edges[0] - 5.0))
    rows = [
        f'<div><i style="background:{change_colours([mid / 100])[0]}"></i>{text.replace("-", "−")}</div>'
        for text, mid in classes
    ]
    rows.append(f'<div><i style="background:{NOT_CLASSIFIED}"></i>not classified</div>')
    swatch = f"background:#fff;border:2px solid {SHRINKING_OUTLINE}"
    rows.append(f'<div><i style="{swatch}"></i>shrinking (≥ {thr:.0%} decline)</div>')
    style = (
        "<style>"
        ".nl-box{position:absolute;z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;"
        "font:12px/1.35 sans-serif;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)}"
        ".nl-legend{bottom:24px;right:10px}.nl-legend i{display:inline-block;width:14px;height:12px;"
        "margin-right:6px;vertical-align:middle;box-sizing:border-box}"
        ".nl-title{top:10px;left:54px;font-size:14px;font-weight:bold}"
        ".nl-popup th{text-align:left;padding-right:8px}"
        "</style>"
    )
    legend = '<div class="nl-box nl-legend"><b>change of total light</b>' + "".join(rows) + "</div>"
    return style + f'<div class="nl-box nl-title">{html.escape(heading)}</div>' + legend


def _leaflet_files() -> tuple[str, str]:
    """Leaflet's script and stylesheet from the xstatic-leaflet package (icons inlined as data: URIs)."""
    import xstatic.pkg.leaflet as xleaflet

    if xleaflet.VERSION != LEAFLET_VERSION:  # folium's templates call this version's API
        raise RuntimeError(
            f"xstatic-leaflet ships Leaflet {xleaflet.VERSION}, map.html needs {LEAFLET_VERSION}: "
            f"pip install 'xstatic-leaflet=={LEAFLET_VERSION}.*'."
        )
    base = Path(xleaflet.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        png = (base / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode()})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)
    return (base / "leaflet.js").read_text(encoding="utf-8"), css


def _inline_leaflet(page: str) -> str:
    """The page with Leaflet written in and no external script or stylesheet left (else an error)."""
    js, css = _leaflet_files()
    js_tag = '<script src="nightlight-inline:leaflet.js"></script>'
    css_tag = '<link rel="stylesheet" href="nightlight-inline:leaflet.css"/>'
    if js_tag not in page or css_tag not in page:
        raise RuntimeError("map.html: folium no longer writes Leaflet's links as expected; update _inline_leaflet.")
    # str.replace, not re.sub: the script's own backslashes must stay as they are.
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)  # a debugger would fetch it: nothing external
    page = page.replace(js_tag, "<script>" + js.replace("</script", "<\\/script") + "</script>", 1)
    page = page.replace(css_tag, "<style>" + css + "</style>", 1)
    if found := _EXTERNAL.search(page):
        raise RuntimeError(f"map.html would load {found.group(0)!r} from the internet; it must open offline.")
    return page


def page_is_offline(page: str) -> bool:
    """True when ``page`` names no external script or stylesheet (tile URLs in scripts are fine)."""
    return _EXTERNAL.search(page) is None


__all__ = ["VERTEX_BUDGET", "page_is_offline", "write_webmap"]
