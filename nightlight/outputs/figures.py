"""Figures a person can look at: a map of city change and a histogram (Agg, atomic PNG)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd

from nightlight.outputs.write import write_atomic


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


def plot_map(result: gpd.GeoDataFrame, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """PNG map: all cities in grey, shrinking cities coloured by change (%), colorbar, lon/lat axes."""
    data = result.to_crs("EPSG:4326") if result.crs is not None and not result.crs.is_geographic else result
    meta = result.attrs.get("nightlight", {})
    thr = meta.get("threshold", 0.10)
    with figure(path, figsize=(8, 7), dpi=120) as (fig, ax):
        data.plot(ax=ax, color="#dddddd", edgecolor="#999999", linewidth=0.3)
        shr = data[data["shrinking"].astype(bool)]
        n, m = int(len(shr)), int((data["status"] == "ok").sum()) if "status" in data else len(data)
        if len(shr):
            pct = shr["change"] * 100
            shr.assign(change_pct=pct).plot(
                ax=ax,
                column="change_pct",
                cmap="Reds_r",
                vmin=min(float(pct.min()), -thr * 100 - 1e-9),
                vmax=-thr * 100,
                edgecolor="black",
                linewidth=0.4,
                legend=True,
                legend_kwds={"label": "change of total light (%)", "shrink": 0.7},
            )
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
        ax.set_title(title or f"Shrinking cities: {n} of {m} lost ≥ {thr:.0%} of their night light")
    return Path(path)


def plot_histogram(result: gpd.GeoDataFrame, path: str | os.PathLike, *, bins: int = 40) -> Path:
    """PNG histogram of relative change (%) of classified cities, threshold marked."""
    thr = result.attrs.get("nightlight", {}).get("threshold", 0.10)
    ok = result["change"][result["status"] == "ok"] if "status" in result else result["change"]
    vals = ok.dropna().to_numpy() * 100
    with figure(path, figsize=(7, 4.5), dpi=120) as (fig, ax):
        ax.hist(vals, bins=bins, color="#4477aa", edgecolor="white")
        ax.axvline(-thr * 100, color="#cc3311", linestyle="--", label=f"shrinking: ≤ −{thr:.0%}")
        ax.set_xlabel("change of total light (%)")
        ax.set_ylabel("cities")
        ax.set_title(f"Change of night light, {len(vals)} classified cities")
        ax.legend()
    return Path(path)
