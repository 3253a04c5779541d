"""Natural cities seen by region: named places, provinces, the largest agglomerations."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from nightlight.outputs.summary import summarize
from nightlight.replication.params import PLACES_MAX_KM


def locate_places(result: gpd.GeoDataFrame, places: pd.DataFrame, *, max_km: float = PLACES_MAX_KM) -> pd.DataFrame:
    """The natural city containing each place, else the nearest within ``max_km`` (said so in ``match``).

    ``result`` must carry city polygons in a projected CRS in metres.
    """
    tr = Transformer.from_crs("EPSG:4326", result.crs, always_xy=True)
    x, y = tr.transform(places["lon"].to_numpy(), places["lat"].to_numpy())
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=result.crs)
    rows = []
    geoms = result.geometry
    for i, p in enumerate(pts):
        d = geoms.distance(p).to_numpy() / 1000.0
        j = int(np.argmin(d)) if len(d) else -1
        row = {
            "name": places["name"].iloc[i],
            "name_zh": places["name_zh"].iloc[i],
            "lon": places["lon"].iloc[i],
            "lat": places["lat"].iloc[i],
        }
        if j < 0 or d[j] > max_km:
            row.update(match=f"none within {max_km:g} km", distance_km=float(d[j]) if j >= 0 else np.nan)
        else:
            c = result.iloc[j]
            row.update(
                match="inside" if d[j] == 0 else f"nearest ({d[j]:.1f} km)",
                distance_km=float(d[j]),
                city_id=int(c["city_id"]),
                area_km2=float(c["area_km2"]),
                light_before=float(c["light_before"]),
                light_after=float(c["light_after"]),
                change=float(c["change"]),
                status=c["status"],
                shrinking=bool(c["shrinking"]),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def province_table(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame) -> pd.DataFrame:
    """Counts per province (city representative point within the province), via ``outputs.summarize``."""
    table = summarize(result, by=provinces.dissolve(by="NAME", as_index=False), name_column="NAME")
    return table.sort_values("cities", ascending=False)


def largest_cities(result: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` largest natural cities: area, share of all cities' base light, province of their point."""
    top = result.sort_values("area_km2", ascending=False).head(n)
    pts = gpd.GeoDataFrame(geometry=top.geometry.representative_point(), crs=result.crs, index=top.index)
    j = gpd.sjoin(pts, provinces.to_crs(result.crs)[["NAME", "geometry"]], how="left", predicate="within")
    j = j[~j.index.duplicated(keep="first")]
    total = float(result["light_before"].sum())
    return pd.DataFrame(
        {
            "city_id": top["city_id"].to_numpy(),
            "area_km2": top["area_km2"].to_numpy(),
            "share_of_city_light": (top["light_before"] / total).to_numpy(),
            "province_of_point": j["NAME"].reindex(top.index).fillna("(none)").to_numpy(),
            "change": top["change"].to_numpy(),
            "shrinking": top["shrinking"].to_numpy(),
        }
    )
