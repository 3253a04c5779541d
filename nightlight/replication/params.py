"""What the replication runs on and with: its fixed parameters, the study's figures, the vector files, CSV tables.

``catalog/studies/replication.toml`` holds every parameter fixed
before any count was looked at, by section (:data:`FIXED`; its comments say why each
value); ``catalog/studies/jiang2020.toml`` the study's and the literature's figures
(:data:`STUDY`), quoted in the report beside this run's and written into ``results.json``
(``study``) so the report reads every number from one place. The vector files are in
the shared data folder (``data_dir``), the places in the catalog.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from nightlight._resources import catalog_path
from nightlight.errors import InvalidVectorError


def _toml(name: str) -> dict[str, Any]:
    return tomllib.loads(catalog_path("studies", f"{name}.toml").read_text(encoding="utf-8"))


#: The study's and follow-ups' published figures, quoted beside ours.
STUDY: dict[str, Any] = _toml("jiang2020")
#: The fixed parameters: ``windows``, ``china``, ``national``, ``shanghai``, ``sensitivity``, ``robust``.
FIXED: dict[str, Any] = _toml("replication")

#: A lon/lat box (west, south, east, north), degrees.
Box = tuple[float, float, float, float]
#: Named lon/lat boxes for cropped runs (tests, quick looks).
WINDOWS: dict[str, Box] = {k: (v[0], v[1], v[2], v[3]) for k, v in FIXED["windows"].items()}
CENSUS_FILE: str = FIXED["national"]["census_file"]
#: Length of one degree of longitude on the WGS84 equator, m (the pixel size of a lon/lat grid quoted in the text).
M_PER_DEG_EQUATOR = 2 * math.pi * 6378137.0 / 360.0

_NAT = FIXED["national"]["params"]


@dataclass(frozen=True)
class NationalParams:
    """What the national section adds to its study configuration (``[national.params]`` of ``replication.toml``).

    The years, the lit rule, the area rule, the decline, the alignment and the trend's α
    are in the study configuration (``catalog/studies/<study>.toml``).
    """

    study: str = _NAT["study"]
    correction_model: str = _NAT["correction_model"]
    correction_buffer_px: int = _NAT["correction_buffer_px"]
    headline: str = _NAT["headline"]
    prefecture_dark_floor: float = _NAT["prefecture_dark_floor"]
    calibrate_area: bool = _NAT["calibrate_area"]


def write_table(frame: pd.DataFrame, path: Path, columns: Sequence[str] = (), *, floats: str | None = None) -> list:
    """``frame`` (only its ``columns``, in that order, if given) as CSV with ``floats`` format; its rows as records."""
    frame = frame[[c for c in columns if c in frame]] if columns else frame
    frame.to_csv(path, index=False, float_format=floats)
    return frame.to_dict(orient="records")


def read_places() -> pd.DataFrame:
    """The Northeast resource cities (``catalog/places/northeast_resource_cities.csv``)."""
    with catalog_path("places", "northeast_resource_cities.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def read_provinces(data_dir: str | Path) -> gpd.GeoDataFrame:
    """China province polygons (``bou2_4p``): no .prj, GBK names; lon/lat is **assumed** and checked.

    Raises :class:`InvalidVectorError` when the polygons do not fall on China's extent
    (then the lon/lat assumption is wrong).
    """
    path = Path(data_dir) / FIXED["china"]["provinces"]
    if not path.exists():
        raise InvalidVectorError(
            f"{path}: missing province shapefile; pass data_dir= pointing at the shared data folder."
        )
    gdf = gpd.read_file(path, encoding="gbk")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")  # the file has no .prj; its coordinates are degrees (checked below)
    w, s, e, n = gdf.to_crs("EPSG:4326").total_bounds
    W, S, E, N = FIXED["china"]["lonlat"]
    if not (w >= W and s >= S and e <= E and n <= N):
        raise InvalidVectorError(
            f"{path}: bounds ({w:.2f}, {s:.2f}, {e:.2f}, {n:.2f}) are not inside China's lon/lat extent "
            f"{tuple(FIXED['china']['lonlat'])}; the EPSG:4326 assumption for this .prj-less file is wrong. "
            "Give it the right CRS with set_crs()."
        )
    gdf["NAME"] = gdf["NAME"].fillna("(unnamed island polygons)")
    return gdf[["NAME", "ADCODE99", "geometry"]]


def containing(points: gpd.GeoSeries, polygons: gpd.GeoDataFrame, column: str) -> pd.Series:
    """``column`` of the polygon containing each point (the first of several; NaN: none), indexed as ``points``."""
    shapes = polygons[[column, "geometry"]].to_crs(points.crs)
    j = gpd.sjoin(gpd.GeoDataFrame(geometry=points), shapes, how="left", predicate="within")
    return j.loc[~j.index.duplicated(keep="first"), column].reindex(points.index)
