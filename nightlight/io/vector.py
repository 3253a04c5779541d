"""Read and validate city polygons (any vector format, any CRS).

Policy for bad geometries (decided here once, used by every zonal function):

* no CRS → :class:`MissingCRSError` (we never guess a CRS for polygons);
* no features / every geometry empty → :class:`InvalidVectorError`;
* some empty (or null) geometries → kept as rows (ids preserved), flagged
  ``status="empty_geometry"`` downstream, a warning names their ids;
* invalid geometries (self-intersections, bow-ties) → **repaired** with
  ``shapely.make_valid`` (polygonal part kept), with a warning naming their ids;
  repair never drops a row;
* non-polygonal geometries (points, lines) → :class:`InvalidVectorError`;
* longitude/latitude polygons crossing the antimeridian (an edge from 179.5° to
  −179.5°, which planar geometry reads as a 359°-wide band) → **split** at ±180° into
  a MultiPolygon, with a warning naming their ids.

CSV files with a WKT column (e.g. the census table of Dong, Du & Liu 2022, polygons
in a ``coord`` column) are read too; a CSV carries no CRS, so ``crs=`` names it
(EPSG:4326 is assumed, with a warning, when it is not given).
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

#: File endings read as CSV tables with a WKT column.
CSV_SUFFIXES = (".csv", ".csv.gz")
#: CSV columns taken as WKT when the caller names none (case-insensitive), in this order.
WKT_CANDIDATES = ("wkt", "geometry", "geom", "coord")


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
    wkt_column: str | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Read city polygons, check them, repair what can be repaired, reproject.

    Parameters
    ----------
    source : GeoDataFrame, GeoSeries or path
        GeoPackage, GeoParquet (``.parquet``/``.geoparquet``), Shapefile, GeoJSON,
        anything pyogrio reads, or a CSV (``.csv``, ``.csv.gz``; UTF-8, with or
        without BOM) whose polygons are WKT text in one column.
    target_crs : optional
        CRS of the mosaic grid; polygons are reprojected to it.
    id_column : str, optional
        Column holding the city id. Default: the first of :data:`ID_CANDIDATES`
        present, else the row number (0 … n−1).
    layer : optional
        Layer of a multi-layer file (GeoPackage).
    wkt_column : str, optional
        CSV only: the column holding WKT. Default: the first of
        :data:`WKT_CANDIDATES` present (case-insensitive), else the first column
        whose values parse as WKT.
    crs : optional
        CRS of the coordinates when the source carries none (a CSV never does):
        default for a CSV is EPSG:4326, with a :class:`UserWarning` saying it was
        assumed. A source that has a CRS must agree with it (else
        :class:`InvalidVectorError`).

    Returns
    -------
    geopandas.GeoDataFrame
        Fresh RangeIndex, a ``city_id`` column (unique), the input's other columns,
        geometry in ``target_crs``.
    """
    label = _label(source)
    gdf = _load(source, label, layer=layer, wkt_column=wkt_column, crs=crs)
    _require_crs_and_rows(gdf, label)
    gdf = _assign_ids(gdf.reset_index(drop=True), label, id_column)
    gdf = _check_geometries(gdf, label)
    gdf = _split_antimeridian(gdf, label)
    if target_crs is not None and not gdf.crs.equals(target_crs):
        gdf = gdf.to_crs(target_crs)
    return gdf


# --------------------------------------------------------------------------- phases of read_polygons
def _load(
    source: VectorSource, label: str, *, layer: str | int | None, wkt_column: str | None = None, crs: Any = None
) -> gpd.GeoDataFrame:
    is_csv = isinstance(source, (str, os.PathLike)) and os.fspath(source).lower().endswith(CSV_SUFFIXES)
    if wkt_column is not None and not is_csv:
        raise InvalidVectorError(
            f"{label}: wkt_column={wkt_column!r} applies to CSV files (.csv) only; drop it for this source."
        )
    if is_csv:
        return _read_wkt_csv(os.fspath(source), label, wkt_column=wkt_column, crs=crs)
    gdf = _load_vector(source, label, layer=layer)
    if crs is not None:
        if gdf.crs is None:
            gdf = gdf.set_crs(crs)
        elif not gdf.crs.equals(crs):
            raise InvalidVectorError(
                f"{label}: has CRS {gdf.crs.to_string()} but crs={crs!r} was given. `crs=` only names the CRS of "
                "a source that has none (a CSV): drop it, or reproject the polygons first."
            )
    return gdf


def _load_vector(source: VectorSource, label: str, *, layer: str | int | None) -> gpd.GeoDataFrame:
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


def _read_wkt_csv(path: str, label: str, *, wkt_column: str | None, crs: Any) -> gpd.GeoDataFrame:
    """A CSV with polygons as WKT text in one column → GeoDataFrame (the CRS from ``crs``, else EPSG:4326)."""
    import pandas as pd

    try:
        # utf-8-sig strips the byte-order mark Excel and many exports put first, which
        # would otherwise glue itself to the first column's name
        df = pd.read_csv(path, encoding="utf-8-sig", low_memory=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidVectorError(
            f"{label}: cannot be read as a CSV table ({exc}). Check the path, that the file is UTF-8 and "
            "comma-separated with a header row."
        ) from exc
    col = _wkt_column(df, label, wkt_column)
    text = df[col].to_numpy(dtype=object)
    given = np.array([isinstance(v, str) and v.strip() != "" for v in text])
    geoms = np.full(len(df), None, dtype=object)
    if given.any():
        geoms[given] = shapely.from_wkt(text[given].astype(str), on_invalid="ignore")
    bad = np.flatnonzero(given & shapely.is_missing(geoms))
    if bad.size:
        # CSV line = data row + 2 (1-based, after the header line)
        rows = ", ".join(f"row {i} (line {i + 2}): {str(text[i])[:60]!r}" for i in bad[:5])
        more = f" … (+{bad.size - 5} more)" if bad.size > 5 else ""
        raise InvalidVectorError(
            f"{label}: {bad.size} value(s) of column {col!r} are not valid WKT — {rows}{more}. "
            "Fix or drop those rows, or name the right column with wkt_column=."
        )
    if crs is None:
        warnings.warn(
            f"{label}: a CSV carries no CRS; EPSG:4326 (longitude/latitude) was assumed for column {col!r}. "
            "Pass crs= (e.g. crs='EPSG:4326') to say so and silence this warning.",
            UserWarning,
            stacklevel=4,
        )
        crs = "EPSG:4326"
    return gpd.GeoDataFrame(df.drop(columns=col), geometry=gpd.GeoSeries(geoms, index=df.index), crs=crs)


def _wkt_column(df: Any, label: str, wkt_column: str | None) -> str:
    """The WKT column: the one named, else a conventional name, else the first column that parses as WKT."""
    if wkt_column is not None:
        if wkt_column not in df.columns:
            raise InvalidVectorError(
                f"{label}: wkt_column={wkt_column!r} is not a column; columns are {list(df.columns)}."
            )
        return wkt_column
    lower = {str(c).lower(): c for c in df.columns}
    for name in WKT_CANDIDATES:
        if name.lower() in lower:
            return lower[name.lower()]
    for c in df.columns:
        sample = [v for v in df[c].head(50) if isinstance(v, str) and v.strip()][:10]
        if sample and not shapely.is_missing(shapely.from_wkt(sample, on_invalid="ignore")).any():
            return c
    raise InvalidVectorError(
        f"{label}: no column holds WKT geometries (looked for {', '.join(WKT_CANDIDATES)} and for values "
        f"like 'POLYGON((…))'); columns are {list(df.columns)}. Name it with wkt_column=."
    )


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


def _crosses_antimeridian(geom: shapely.Geometry) -> bool:
    """An edge jumping more than 180° in longitude between points off the ±180° line (a world box is not)."""
    for ring in shapely.get_rings(shapely.get_parts(geom)):
        x = shapely.get_coordinates(ring)[:, 0]
        jump = np.abs(np.diff(x)) > 180
        off_line = (np.abs(x[:-1]) < 180) & (np.abs(x[1:]) < 180)
        if np.any(jump & off_line):
            return True
    return False


def _split_antimeridian(gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Longitude/latitude polygons that cross ±180° split there (east part shifted by 360°, cut, shifted back)."""
    if gdf.crs is None or not gdf.crs.is_geographic:
        return gdf
    geoms = gdf.geometry.array
    # a jump of more than 180° needs a span of more than 180°: the bounds rule out nearly every polygon at once
    wide = np.flatnonzero(np.diff(shapely.bounds(np.asarray(geoms))[:, ::2], axis=1)[:, 0] > 180)
    crossing = np.zeros(len(geoms), bool)
    crossing[wide] = [_crosses_antimeridian(geoms[i]) for i in wide]
    if not crossing.any():
        return gdf
    west, east = shapely.box(-180, -90, 180, 90), shapely.box(180, -90, 540, 90)
    split = []
    for g in geoms[crossing]:
        unwrapped = shapely.transform(g, lambda xy: np.where(xy[:, :1] < 0, xy + [360.0, 0.0], xy))
        back = shapely.transform(unwrapped.intersection(east), lambda xy: xy - [360.0, 0.0])
        split.append(_polygonal_part(shapely.union(unwrapped.intersection(west), back)))
    warnings.warn(
        f"{label}: {int(crossing.sum())} polygon(s) cross the antimeridian (city_id "
        f"{_ids_text(gdf['city_id'][crossing])}); split at ±180° (else read as bands around the world).",
        UserWarning,
        stacklevel=4,
    )
    gdf = gdf.copy()
    gdf.loc[crossing, gdf.geometry.name] = np.array(split + [None], dtype=object)[:-1]
    return gdf


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)
