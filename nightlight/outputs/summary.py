"""Summary tables of a decline run: per-city summary and totals by region or layer."""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.errors import InvalidVectorError

SUMMARY_COLUMNS = ("city_id", "status", "light_before", "light_after", "change", "shrinking")


def summary_table(result: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-city summary (no geometry) that a person can read and find on a map.

    Columns: ``city_id``, the user's own columns (names, ids, codes of input polygons: every
    column nightlight did not write), ``lon``/``lat`` (centroid, WGS 84), status, light,
    change, shrinking, pattern, trend, valid share and area — each as in
    :mod:`nightlight.outputs.glossary`.
    """
    from nightlight.outputs.glossary import user_columns

    own = [c for c in user_columns(result) if result[c].map(_scalar).all()]  # dict columns stay in the tables
    head = [c for c in SUMMARY_COLUMNS[:1] if c in result.columns]
    extra = ("shrink_pattern", "trend_slope", "mk_p", "mk_q", "significant_decline", "significant_decline_fdr")
    rest = [c for c in (*SUMMARY_COLUMNS[1:], *extra, "valid_share", "area_km2") if c in result.columns]
    table = pd.DataFrame(result[head + own])
    lon, lat = centroid_lonlat(result)
    table["lon"], table["lat"] = lon.round(5), lat.round(5)  # 1e-5° ≈ 1 m
    return pd.concat([table, pd.DataFrame(result[rest])], axis=1)


def _scalar(v: object) -> bool:
    return not isinstance(v, (dict, list, tuple))


def centroid_lonlat(result: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS 84) of each city's centroid, NaN for empty geometries.

    Centroids are taken in an equal-area frame (the data's own when projected, else
    EPSG:6933), so a large city's centroid is not pulled towards the pole by degrees.
    """
    geoms = result.geometry
    if geoms.crs is None:
        raise InvalidVectorError("summary: the result has no CRS, so its cities cannot be placed in lon/lat.")
    frame = geoms if geoms.crs.is_projected else geoms.to_crs("EPSG:6933")
    pts = frame.centroid.to_crs("EPSG:4326")
    empty = geoms.is_empty.to_numpy() | geoms.isna().to_numpy()
    lon = np.where(empty, np.nan, pts.x.to_numpy())
    lat = np.where(empty, np.nan, pts.y.to_numpy())
    return lon, lat


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
        from nightlight.io.vector import read_polygons

        if isinstance(by, str) and not os.path.exists(by):
            raise InvalidVectorError(
                f"by={by!r} is neither a column of the result ({list(df.columns)}) nor an existing vector file."
            )
        if name_column is None:
            raise InvalidVectorError(
                "summarize(by=<polygon layer>): pass `name_column=` naming the layer's label column."
            )
        zones = read_polygons(by, target_crs=df.crs)
        if name_column not in zones.columns:
            raise InvalidVectorError(
                f"name_column={name_column!r} is not a column of the `by` layer: {list(zones.columns)}."
            )
        # centroids in an equal-area-ish frame would be nicer; representative_point is always inside the city
        pts = gpd.GeoDataFrame(geometry=df.geometry.representative_point(), crs=df.crs, index=df.index)
        joined = gpd.sjoin(pts, zones[[name_column, zones.geometry.name]], how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        key = joined[name_column].reindex(df.index).fillna("(none)").rename(name_column)
    ok = df["status"] == "ok" if "status" in df else pd.Series(True, index=df.index)
    g = pd.DataFrame(
        {
            "cities": 1,
            "classified": ok.astype(int),
            "shrinking": df["shrinking"].astype(bool).astype(int),
            "light_before": df["light_before"].where(ok, 0.0).fillna(0.0),
            "light_after": df["light_after"].where(ok, 0.0).fillna(0.0),
            "change_ok": df["change"].where(ok),
        }
    ).groupby(key.to_numpy())
    table = g[["cities", "classified", "shrinking", "light_before", "light_after"]].sum()
    table["median_change"] = g["change_ok"].median()
    with np.errstate(invalid="ignore", divide="ignore"):
        table["share_shrinking"] = table["shrinking"] / table["classified"].where(table["classified"] > 0)
        table["change"] = (table["light_after"] - table["light_before"]) / table["light_before"].where(
            table["light_before"] > 0
        )
    table.index.name = key.name
    return table[
        [
            "cities",
            "classified",
            "shrinking",
            "share_shrinking",
            "light_before",
            "light_after",
            "change",
            "median_change",
        ]
    ]
