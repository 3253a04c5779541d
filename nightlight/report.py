"""Outputs of a decline run: GeoParquet/GeoPackage/CSV tables, a map, a histogram, summaries.

Every file is written to a temporary name in the destination folder and renamed
into place (``os.replace``, atomic on one filesystem), so an interrupted run
leaves either the previous file or the complete new one, never half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.errors import InvalidVectorError

#: Key of the run metadata in the GeoParquet file's key-value metadata.
METADATA_KEY = b"nightlight"

SUMMARY_COLUMNS = ("city_id", "status", "light_before", "light_after", "change", "shrinking")


# --------------------------------------------------------------------------- atomic writing
def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()  # writers (GDAL) refuse to overwrite some formats
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars/arrays and paths (anything else → str)."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path,)):
        return str(o)
    return str(o)


def _plain(result: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Copy with columns every format can store (dicts/lists → JSON text)."""
    out = result.copy()
    for c in out.columns:
        if c == out.geometry.name or out[c].dtype != object:
            continue
        if out[c].map(lambda v: isinstance(v, (dict, list, tuple))).any():
            out[c] = out[c].map(lambda v: json.dumps(v, default=json_default, ensure_ascii=False) if v is not None else None)
    return out


# --------------------------------------------------------------------------- writers
def write_geoparquet(result: gpd.GeoDataFrame, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """GeoParquet with ``metadata`` (default ``result.attrs["nightlight"]``) as JSON under key ``nightlight``."""
    import pyarrow.parquet as pq

    meta = metadata if metadata is not None else result.attrs.get("nightlight", {})
    data = _plain(result)
    data.attrs = {}

    def write(tmp: Path) -> None:
        data.to_parquet(tmp, index=False)
        table = pq.read_table(tmp)
        kv = dict(table.schema.metadata or {})
        kv[METADATA_KEY] = json.dumps(meta, default=json_default, ensure_ascii=False).encode()
        pq.write_table(table.replace_schema_metadata(kv), tmp)

    return _atomic(Path(path), write)


def read_metadata(path: str | os.PathLike) -> dict:
    """The run metadata stored by :func:`write_geoparquet`."""
    import pyarrow.parquet as pq

    kv = pq.read_schema(path).metadata or {}
    return json.loads(kv[METADATA_KEY]) if METADATA_KEY in kv else {}


def write_geopackage(result: gpd.GeoDataFrame, path: str | os.PathLike, *, layer: str = "cities") -> Path:
    """GeoPackage (one layer)."""
    data = _plain(result)
    data.attrs = {}
    return _atomic(Path(path), lambda tmp: data.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio"))


def write_csv(result: gpd.GeoDataFrame | pd.DataFrame, path: str | os.PathLike, *, geometry: bool = False) -> Path:
    """CSV without geometry (or with WKT when ``geometry=True``)."""
    data = pd.DataFrame(_plain(result) if isinstance(result, gpd.GeoDataFrame) else result)
    if isinstance(result, gpd.GeoDataFrame):
        gname = result.geometry.name
        if geometry:
            data[gname] = result.geometry.to_wkt()
        else:
            data = data.drop(columns=gname)
    return _atomic(Path(path), lambda tmp: data.to_csv(tmp, index=False))


def summary_table(result: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-city summary (no geometry): id, name if any, status, light, change, shrinking, shape, trend."""
    cols = [c for c in SUMMARY_COLUMNS if c in result.columns]
    name = next((c for c in ("name", "Name", "NAME", "NAME_2") if c in result.columns), None)
    if name:
        cols.insert(1, name)
    cols += [c for c in ("shrink_shape", "trend_slope", "mk_p", "significant_decline", "area_km2") if c in result.columns]
    return pd.DataFrame(result[cols])


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
        _atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
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
                ax=ax, column="change_pct", cmap="Reds_r", vmin=min(float(pct.min()), -thr * 100 - 1e-9), vmax=-thr * 100,
                edgecolor="black", linewidth=0.4, legend=True,
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


# --------------------------------------------------------------------------- bundle
def write_outputs(result: gpd.GeoDataFrame, out_dir: str | os.PathLike, *, metadata: dict) -> dict[str, Path]:
    """Write ``cities.parquet`` (GeoParquet + metadata), ``summary.csv``, ``map.png``, ``histogram.png``.

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking`.
    out_dir : path
        Created if missing.
    metadata : dict
        Stored as JSON in the GeoParquet key-value metadata under key ``nightlight``
        (merged over ``result.attrs["nightlight"]``).

    Returns
    -------
    dict
        ``{"cities": …, "summary": …, "map": …, "histogram": …}`` paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {**result.attrs.get("nightlight", {}), **(metadata or {})}
    return {
        "cities": write_geoparquet(result, out / "cities.parquet", metadata=meta),
        "summary": write_csv(summary_table(result), out / "summary.csv"),
        "map": plot_map(result, out / "map.png"),
        "histogram": plot_histogram(result, out / "histogram.png"),
    }


# --------------------------------------------------------------------------- summaries
def summarize(
    result: gpd.GeoDataFrame,
    by: str | gpd.GeoDataFrame | os.PathLike | None = None,
    *,
    name_column: str | None = None,
) -> pd.DataFrame:
    """Counts of shrinking cities per group.

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking`.
    by : str, GeoDataFrame or vector path, optional
        A column of ``result``; or a polygon layer (e.g. provinces) joined by city
        centroid (``name_column`` names its label column); None = one overall row.
    name_column : str
        Label column of the ``by`` layer (required when ``by`` is a layer).

    Returns
    -------
    pandas.DataFrame
        Per group: ``cities`` (all rows), ``classified`` (status ok), ``shrinking``,
        ``share_shrinking`` (shrinking / classified), ``light_before``,
        ``light_after`` (totals), ``change`` (relative change of the group's total),
        ``median_change``.
    """
    df = result
    if by is None:
        key = pd.Series("all", index=df.index, name="group")
    elif isinstance(by, str) and by in df.columns:
        key = df[by].rename(by)
    else:
        from nightlight.vector import read_polygons

        if isinstance(by, str) and not os.path.exists(by):
            raise InvalidVectorError(
                f"by={by!r} is neither a column of the result ({list(df.columns)}) nor an existing vector file."
            )
        if name_column is None:
            raise InvalidVectorError("summarize(by=<polygon layer>): pass `name_column=` naming the layer's label column.")
        zones = read_polygons(by, target_crs=df.crs)
        if name_column not in zones.columns:
            raise InvalidVectorError(f"name_column={name_column!r} is not a column of the `by` layer: {list(zones.columns)}.")
        # centroids in an equal-area-ish frame would be nicer; representative_point is always inside the city
        pts = gpd.GeoDataFrame(geometry=df.geometry.representative_point(), crs=df.crs, index=df.index)
        joined = gpd.sjoin(pts, zones[[name_column, zones.geometry.name]], how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        key = joined[name_column].reindex(df.index).fillna("(none)").rename(name_column)
    ok = df["status"] == "ok" if "status" in df else pd.Series(True, index=df.index)
    g = pd.DataFrame({
        "cities": 1,
        "classified": ok.astype(int),
        "shrinking": df["shrinking"].astype(bool).astype(int),
        "light_before": df["light_before"].where(ok, 0.0).fillna(0.0),
        "light_after": df["light_after"].where(ok, 0.0).fillna(0.0),
        "change_ok": df["change"].where(ok),
    }).groupby(key.to_numpy())
    table = g.agg(
        cities=("cities", "sum"), classified=("classified", "sum"), shrinking=("shrinking", "sum"),
        light_before=("light_before", "sum"), light_after=("light_after", "sum"),
        median_change=("change_ok", "median"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        table["share_shrinking"] = table["shrinking"] / table["classified"].where(table["classified"] > 0)
        table["change"] = (table["light_after"] - table["light_before"]) / table["light_before"].where(table["light_before"] > 0)
    table.index.name = key.name
    return table[["cities", "classified", "shrinking", "share_shrinking", "light_before", "light_after", "change", "median_change"]]
