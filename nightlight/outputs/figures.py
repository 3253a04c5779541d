"""Figures a person can look at: a map of city change, histograms, yearly totals (Agg, atomic PNG)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.checkpoint import write_atomic
from nightlight.outputs.summary import centroid_lonlat


# --------------------------------------------------------------------------- figures
@contextmanager
def figure(path: str | os.PathLike, *, figsize: tuple[float, float], dpi: int = 120) -> Iterator[tuple[Any, Any]]:
    """``with figure(path, figsize=…) as (fig, ax):`` draw; on success the PNG is laid out and
    written atomically (never half a file), and the figure is always closed. Agg
    backend: files only, no display needed."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    try:
        yield fig, ax
        fig.tight_layout()
        write_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


#: Classes of the change scale (percent): one colour a class on a diverging scale, red = decline.
CHANGE_EDGES_PCT = (-50, -40, -30, -20, -10, 0, 10, 20, 30, 40, 50)
#: Fill of cities that were not classified (status other than ok).
NOT_CLASSIFIED = "#b0b0b0"
#: A run with more cities than this is drawn as proportional symbols, fewer as polygons.
POLYGON_LIMIT = 300


def change_scale() -> tuple[Any, Any]:
    """The change colour scale shared by ``map.png`` and ``map.html``: (colormap, norm) over percent.

    Classes of 10 points from −50 % to +50 % and one open class beyond each end, on the
    colour-blind-safe diverging RdBu (red: decline, blue: growth, white around 0)."""
    import matplotlib as mpl
    from matplotlib.colors import BoundaryNorm

    cmap = mpl.colormaps["RdBu"]
    return cmap, BoundaryNorm(CHANGE_EDGES_PCT, cmap.N, extend="both")


def change_colours(change: Any) -> list[str]:
    """Hex colour of each relative change (0.25 = +25 %); NaN → the not-classified grey."""
    from matplotlib.colors import to_hex

    cmap, norm = change_scale()
    pct = np.asarray(change, dtype=float) * 100
    rgba = cmap(norm(np.nan_to_num(pct)))
    return [NOT_CLASSIFIED if np.isnan(v) else to_hex(c) for v, c in zip(pct, rgba)]


def classified(data: gpd.GeoDataFrame) -> tuple[Any, Any]:
    """(classified, shrinking) boolean arrays of a result: only ``status == "ok"`` cities are classified."""
    ok = (data["status"] == "ok").to_numpy() if "status" in data else np.ones(len(data), bool)
    return ok, data["shrinking"].fillna(False).astype(bool).to_numpy() & ok


def decline_threshold(result: gpd.GeoDataFrame) -> float:
    """The run's decline threshold from its metadata (``min_decline``; default 0.10)."""
    return float(result.attrs.get("nightlight", {}).get("min_decline", 0.10))


def read_outlines(outlines: Any) -> gpd.GeoDataFrame | None:
    """Region outlines (a GeoDataFrame or any vector file) in lon/lat, or None."""
    if outlines is None:
        return None
    from nightlight.io.vector import read_polygons

    return read_polygons(outlines, target_crs="EPSG:4326")


def plot_map(
    result: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    outlines: Any = None,
) -> Path:
    """PNG map of every city coloured by its change of light, shrinking ones outlined.

    Runs of up to :data:`POLYGON_LIMIT` cities are drawn as their polygons; larger runs as
    circles at the cities' centroids whose area is proportional to the city's (a national
    run's 2,000 patches of a few km² would be invisible specks). Classes of
    :func:`change_scale` with a horizontal colour bar; cities that were not classified
    (``status`` other than ok) in grey.

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking` (any CRS; drawn in lon/lat).
    path : path
        The PNG, written atomically.
    title : str, optional
        Default: how many of the classified cities shrank.
    outlines : GeoDataFrame or vector file, optional
        Country or region polygons drawn as grey outlines under the cities.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.lines import Line2D

    data = result.to_crs("EPSG:4326") if result.crs is not None and not result.crs.is_geographic else result
    thr = decline_threshold(result)
    ok, shrinking = classified(data)
    colours = np.array(change_colours(data["change"].where(ok)), dtype=object)
    cmap, norm = change_scale()
    regions = read_outlines(outlines)
    with figure(path, figsize=(9, 8), dpi=120) as (fig, ax):
        if regions is not None:
            regions.boundary.plot(ax=ax, color="#777777", linewidth=0.5, zorder=1)
        handles = [
            Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=1.2, ms=9, label=f"shrinking ≥ {thr:.0%}"),
            Line2D([], [], marker="o", ls="", mfc=NOT_CLASSIFIED, mec="none", ms=9, label="not classified"),
        ]
        if len(data) <= POLYGON_LIMIT:
            data.plot(ax=ax, color=list(colours), edgecolor="#555555", linewidth=0.2, zorder=2)
            if shrinking.any():
                data[shrinking].boundary.plot(ax=ax, color="black", linewidth=1.2, zorder=3)
            handles[0] = Line2D([], [], color="black", lw=1.2, label=f"shrinking ≥ {thr:.0%} (outlined)")
        else:
            handles += _symbols(ax, data, colours, shrinking)
        w, s, e, n = data.total_bounds
        pad = 0.04 * max(e - w, n - s, 1e-6)
        ax.set_xlim(w - pad, e + pad)
        ax.set_ylim(s - pad, n + pad)
        ax.set_aspect(1 / max(np.cos(np.radians((s + n) / 2)), 0.1))  # lon/lat at true shape mid-map
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
        ax.legend(handles=handles, loc="lower left", fontsize=9, framealpha=0.9)
        bar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=cmap),
            ax=ax,
            orientation="horizontal",
            extend="both",
            ticks=CHANGE_EDGES_PCT,
            fraction=0.045,
            pad=0.08,
            aspect=40,
        )
        bar.set_label("change of total light in the city's base-year extent (%)", fontsize=10)
        bar.ax.axvline(-thr * 100, color="black", lw=2)
        n_shr, n_ok = int(shrinking.sum()), int(ok.sum())
        rest = len(data) - n_ok
        ax.set_title(
            title
            or f"{n_shr} of {n_ok} classified cities lost ≥ {thr:.0%} of their night light"
            + (f" ({rest} not classified)" if rest else ""),
            fontsize=11,
        )
    return Path(path)


def _symbols(ax: Any, data: gpd.GeoDataFrame, colours: Any, shrinking: Any) -> list:
    """Circles of area ∝ city area at each city's centroid; the size legend's handles."""
    from matplotlib.lines import Line2D

    lon, lat = centroid_lonlat(data)
    area = data["area_km2"].to_numpy(float) if "area_km2" in data else np.ones(len(data))
    ref = max(float(np.nanquantile(area, 0.99)), 1e-9)
    scale = 250.0 / ref  # points² per km²: the 99th-percentile city is a 250 pt² disc
    size = np.clip(np.nan_to_num(area) * scale, 14, 900)  # ≥ 14 pt²: a fill still shows inside the outline
    order = np.argsort(-size)  # large discs first, small ones stay visible on top
    ax.scatter(
        lon[order],
        lat[order],
        s=size[order],
        c=list(colours[order]),
        edgecolors=np.where(shrinking[order], "black", "#666666"),
        linewidths=np.where(shrinking[order], 0.7, 0.2),
        zorder=3,
    )
    return [
        Line2D(
            [], [], marker="o", ls="", mfc="white", mec="#666666", ms=np.sqrt(max(km2 * scale, 4)), label=f"{km2:g} km²"
        )
        for km2 in _nice_sizes(ref)
    ]


def _nice_sizes(ref: float) -> list[float]:
    """Three round areas (powers of ten) around ``ref`` km² for the size legend."""
    import math

    top = 10.0 ** round(math.log10(ref)) if ref >= 1 else 1.0
    return [v for v in (top / 100, top / 10, top) if v >= 1] or [1.0]


def plot_histogram(result: gpd.GeoDataFrame, path: str | os.PathLike, *, bins: int = 40) -> Path:
    """PNG histogram of relative change (%) of classified cities, threshold marked."""
    thr = decline_threshold(result)
    vals = result["change"][classified(result)[0]].dropna().to_numpy() * 100
    with figure(path, figsize=(7, 4.5), dpi=120) as (fig, ax):
        ax.hist(vals, bins=bins, color="#4477aa", edgecolor="white")
        ax.axvline(-thr * 100, color="#cc3311", linestyle="--", label=f"shrinking: ≤ −{thr:.0%}")
        ax.set_xlabel("change of total light (%)")
        ax.set_ylabel("cities")
        ax.set_title(f"Change of night light, {len(vals)} classified cities")
        ax.legend()
    return Path(path)


def plot_change_hist(results: dict[str, pd.DataFrame], path: Path, *, decline: float) -> Path:
    """Histograms of per-city change (%) for several runs (label → result), the decline threshold marked."""
    with figure(path, figsize=(6.5, 3.8), dpi=90) as (_, ax):
        bins = np.linspace(-100, 150, 51)
        for (label, r), color in zip(results.items(), ("#4477aa", "#ee7733", "#228833", "#aa3377")):
            ch = r.loc[r["status"] == "ok", "change"].dropna().to_numpy() * 100
            clipped = np.clip(ch, -100, 150)
            ax.hist(clipped, bins=bins, histtype="step", color=color, linewidth=1.2, label=f"{label} (n={ch.size})")
        ax.axvline(-decline * 100, color="#cc3311", linestyle="--", linewidth=1, label=f"−{decline:.0%}")
        ax.set_xlabel("change of total light in the base-year extent (%, clipped to [−100, 150])")
        ax.set_ylabel("natural cities")
        ax.legend(fontsize=8)
    return Path(path)


def plot_shanghai_series(sh: dict, path: Path) -> Path:
    """Total light per year of the replication's Shanghai box: whole box, natural cities (light), MGUP cities.

    ``sh``: ``series_total`` (year → total), ``light``/``mgup`` (per-city ``light_<year>``
    columns), ``base`` and ``target`` (marked), as ``nightlight.replication.shanghai`` returns it.
    """
    with figure(path, figsize=(6.5, 3.6), dpi=90) as (_, ax):
        years = sorted(sh["series_total"])
        ax.plot(years, [sh["series_total"][y] / 1e3 for y in years], "k-o", ms=3, label="whole box")
        for key, color in (("light", "#4477aa"), ("mgup", "#ee7733")):
            r = sh[key]
            label = f"natural cities ({'lit' if key == 'light' else 'MGUP'}, {sh['base']} extent)"
            ax.plot(years, [r[f"light_{y}"].sum() / 1e3 for y in years], "-o", ms=3, color=color, label=label)
        for y in (sh["base"], sh["target"]):
            ax.axvline(y, color="#999999", linestyle=":", linewidth=1)
        ax.set_xticks(years[::2])
        ax.set_xlabel("year")
        ax.set_ylabel("total light (10³ nW/cm²/sr × pixels)")
        ax.set_title("Shanghai VIIRS-like (Chen et al. 2021), yearly totals", fontsize=10)
        ax.legend(fontsize=8)
    return Path(path)
