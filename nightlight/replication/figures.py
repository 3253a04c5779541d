"""The replication's own PNG figures: change histograms of the pairs, Shanghai yearly totals (maps: ``plot_map``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nightlight.outputs.figures import figure


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
