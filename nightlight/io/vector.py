"""Read and validate city polygons (any vector format, any CRS).

Policy for bad geometries (decided here once, used by every zonal function):

* no CRS → :class:`MissingCRSError` (we never guess a CRS for polygons);
* no features / every geometry empty → :class:`InvalidVectorError`;
* some empty (or null) geometries → kept as rows (ids preserved), flagged
  ``status="empty_geometry"`` downstream, a warning names their ids;
* invalid geometries (self-intersections, bow-ties) → **repaired** with
  ``shapely.make_valid`` (polygonal part kept), with a warning naming their ids;
  repair never drops a row;
* non-polygonal geometries (points, lines) → :class:`InvalidVectorError`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import shapely

from nightlight.errors import InvalidVectorError, MissingCRSError

VectorSource: TypeAlias = gpd.GeoDataFrame | gpd.GeoSeries | str | os.PathLike

#: Input columns used as the city id when the caller names none, in this order.
ID_CANDIDATES = ("city_id", "id", "ID", "fid", "AdCode", "adcode", "GID_2", "GID_1", "GID_0", "code")


def _label(source: Any) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"city_polygons ({type(source).__name__})"


def _ids_text(ids: Any, limit: int = 10) -> str:
    ids = list(ids)
    more = f" … (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(map(str, ids[:limit])) + more


def read_polygons(
    source: VectorSource,
    *,
    target_crs: Any = None,
    id_column: str | None = None,
    layer: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read city polygons, check them, repair what can be repaired, reproject.

    Parameters
    ----------
    source : GeoDataFrame, GeoSeries or path
        GeoPackage, GeoParquet (``.parquet``/``.geoparquet``), Shapefile, GeoJSON or
        anything pyogrio reads.
    target_crs : optional
        CRS of the mosaic grid; polygons are reprojected to it.
    id_column : str, optional
        Column holding the city id. Default: the first of :data:`ID_CANDIDATES`
        present, else the row number (0 … n−1).
    layer : optional
        Layer of a multi-layer file (GeoPackage).

    Returns
    -------
    geopandas.GeoDataFrame
        Fresh RangeIndex, a ``city_id`` column (unique), the input's other columns,
        geometry in ``target_crs``.
    """
    label = _label(source)
    gdf = _load(source, label, layer=layer)
    _require_crs_and_rows(gdf, label)
    gdf = _assign_ids(gdf.reset_index(drop=True), label, id_column)
    gdf = _check_geometries(gdf, label)
    if target_crs is not None and not gdf.crs.equals(target_crs):
        gdf = gdf.to_crs(target_crs)
    return gdf


# --------------------------------------------------------------------------- phases of read_polygons
def _load(source: VectorSource, label: str, *, layer: str | int | None) -> gpd.GeoDataFrame:
    if isinstance(source, gpd.GeoSeries):
        return gpd.GeoDataFrame(geometry=source)
    if isinstance(source, gpd.GeoDataFrame):
        return source.copy()
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidVectorError(
            f"city_polygons: expected a GeoDataFrame or a vector file path, got {type(source).__name__}. "
            "Pass e.g. `geopandas.read_file(...)` or the file's path."
        )
    path = os.fspath(source)
    try:
        if path.lower().endswith((".parquet", ".geoparquet")):
            return gpd.read_parquet(path)
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio/pyarrow raise many types for unreadable files
        raise InvalidVectorError(
            f"{label}: cannot be read as a vector layer ({exc}). Check the path and that the file is a "
            "GeoPackage, GeoParquet, Shapefile (with .shx/.dbf/.prj beside it) or GeoJSON."
        ) from exc


def _require_crs_and_rows(gdf: gpd.GeoDataFrame, label: str) -> None:
    if gdf.crs is None:
        raise MissingCRSError(
            f"{label}: the polygons have no CRS. Set it with `gdf = gdf.set_crs('EPSG:4326')` (or their real CRS), "
            "or add a .prj file beside the shapefile."
        )
    if len(gdf) == 0:
        raise InvalidVectorError(f"{label}: contains no polygons. Pass a layer with at least one city polygon.")


def _assign_ids(gdf: gpd.GeoDataFrame, label: str, id_column: str | None) -> gpd.GeoDataFrame:
    """A unique ``city_id`` column: from ``id_column``, else an id-like column, else the row number."""
    if id_column is None:
        id_column = next((c for c in ID_CANDIDATES if c in gdf.columns), None)
    if id_column is None:
        gdf["city_id"] = np.arange(len(gdf))
        return gdf
    if id_column not in gdf.columns:
        raise InvalidVectorError(f"{label}: id_column={id_column!r} is not a column; columns are {list(gdf.columns)}.")
    if gdf[id_column].duplicated().any():
        dup = gdf.loc[gdf[id_column].duplicated(), id_column].unique()
        raise InvalidVectorError(
            f"{label}: ids in column {id_column!r} are not unique (e.g. {_ids_text(dup)}). "
            "Pass a unique `id_column=` or drop the duplicates."
        )
    if id_column != "city_id":
        if "city_id" in gdf.columns:
            gdf = gdf.drop(columns="city_id")
        gdf["city_id"] = gdf[id_column].to_numpy()
    return gdf


def _check_geometries(gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Empty geometries kept (warned), non-polygons refused, invalid ones repaired (warned)."""
    geoms = gdf.geometry.array
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    if empty.all():
        raise InvalidVectorError(f"{label}: every geometry is empty. Pass non-empty city polygons.")
    if empty.any():
        warnings.warn(
            f"{label}: {int(empty.sum())} empty geometries (city_id {_ids_text(gdf['city_id'][empty])}); "
            "they are kept with status='empty_geometry' and NaN statistics.",
            UserWarning,
            stacklevel=4,
        )
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6)) | empty  # Polygon, MultiPolygon
    if not polygonal.all():
        bad = gdf["city_id"][~polygonal]
        raise InvalidVectorError(
            f"{label}: geometries of city_id {_ids_text(bad)} are not polygons "
            f"({sorted(set(gdf.geometry[~polygonal].geom_type))}). Zonal sums need (Multi)Polygons: "
            "buffer points/lines or drop them."
        )
    invalid = ~shapely.is_valid(geoms) & ~empty
    if invalid.any():
        warnings.warn(
            f"{label}: {int(invalid.sum())} invalid geometries (e.g. self-intersections) repaired with "
            f"shapely.make_valid: city_id {_ids_text(gdf['city_id'][invalid])}.",
            UserWarning,
            stacklevel=4,
        )
        fixed = shapely.make_valid(geoms[invalid])
        # make_valid may return a GeometryCollection with stray lines: keep the areal part
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        gdf.loc[invalid, gdf.geometry.name] = fixed
    return gdf


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)
