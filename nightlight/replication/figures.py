"""The replication's small PNG figures: China map, change histograms, Shanghai yearly totals."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.outputs.figures import figure

#: Natural cities larger than this (km²) are drawn with their extent on the China map.
LARGE_KM2 = 5000


def plot_china_map(
    result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame, path: Path, *, title: str, decline: float = 0.10
) -> Path:
    """Natural cities as dots (size ∝ area) over province outlines; shrinking ones in red. Small PNG.

    Cities over :data:`LARGE_KM2` are drawn as their extent too (DMSP blooming megapatches).
    """
    crs = result.crs
    prov = provinces.to_crs(crs)
    pts = result.copy()
    pts["geometry"] = gpd.points_from_xy(result["centroid_x"], result["centroid_y"])
    pts = gpd.GeoDataFrame(pts, geometry="geometry", crs=crs)
    with figure(path, figsize=(7, 5.6), dpi=90) as (_, ax):
        prov.boundary.plot(ax=ax, color="#999999", linewidth=0.3)
        large = result[result["area_km2"] > LARGE_KM2]
        if len(large):  # blooming megapatches: show their extent, not just a dot
            large.plot(ax=ax, color="#bbccee", edgecolor="none", alpha=0.6)
        s = np.clip(pts["area_km2"].to_numpy() / 20.0, 0.8, 30)
        shr = pts["shrinking"].to_numpy(bool)
        for m, color, alpha, label in (
            (~shr, "#4477aa", 0.6, "not shrinking"),
            (shr, "#cc3311", 0.8, f"shrinking ≥ {100 * decline:g} %"),
        ):
            x, y = pts.geometry.x[m], pts.geometry.y[m]
            ax.scatter(x, y, s=s[m], c=color, alpha=alpha, linewidths=0, label=f"{label} ({int(m.sum())})")
        ax.set_xlim(pts.total_bounds[0] - 2e5, pts.total_bounds[2] + 2e5)
        ax.set_ylim(pts.total_bounds[1] - 2e5, pts.total_bounds[3] + 2e5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower left", fontsize=8, markerscale=3)
    return Path(path)


def plot_change_hist(results: dict[str, pd.DataFrame], path: Path, *, decline: float) -> Path:
    """Histograms of per-city change (%) for several pairs, the decline threshold marked."""
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
    """Total light per year 2000–2020: whole box, natural cities (light), MGUP cities."""
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
