"""City polygons from a CSV with a WKT column (read_polygons), checked against shapely and pandas."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from nightlight.errors import InvalidVectorError
from nightlight.io.vector import read_polygons
from tests.helpers.realdata import real_file

SQUARE = "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"
SHIFTED = "POLYGON((2 0, 3 0, 3 2, 2 2, 2 0))"


def _write(path, text: str, *, bom: bool = False) -> str:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return str(path)


@pytest.mark.parametrize("column", ["wkt", "WKT", "geometry", "geom", "coord"])
def test_named_wkt_column_is_found(tmp_path, column):
    csv = _write(tmp_path / "c.csv", f'name,{column}\na,"{SQUARE}"\nb,"{SHIFTED}"\n')
    gdf = read_polygons(csv, crs="EPSG:4326")
    assert list(gdf["name"]) == ["a", "b"]
    assert column not in gdf.columns or column == gdf.geometry.name  # the text column became the geometry
    assert gdf.geometry.dtype == "geometry"
    assert shapely.equals(gdf.geometry.iloc[0], shapely.from_wkt(SQUARE))
    assert shapely.area(gdf.geometry.to_numpy()).tolist() == [1.0, 2.0]
    assert gdf.crs.to_epsg() == 4326


def test_bom_does_not_stick_to_the_first_column(tmp_path):
    csv = _write(tmp_path / "c.csv", f'city_code,wkt\n7,"{SQUARE}"\n8,"{SHIFTED}"\n', bom=True)
    gdf = read_polygons(csv, crs="EPSG:4326", id_column="city_code")
    assert "city_code" in gdf.columns and not any(str(c).startswith("\ufeff") for c in gdf.columns)
    assert gdf["city_id"].tolist() == [7, 8]


def test_unnamed_wkt_column_found_by_parsing(tmp_path):
    csv = _write(tmp_path / "c.csv", f'id,label,shape_text\n1,x,"{SQUARE}"\n2,y,"{SHIFTED}"\n')
    gdf = read_polygons(csv, crs="EPSG:4326")
    assert shapely.area(gdf.geometry.to_numpy()).tolist() == [1.0, 2.0]
    assert list(gdf.columns) == ["id", "label", "geometry", "city_id"]


def test_explicit_wkt_column_wins(tmp_path):
    csv = _write(tmp_path / "c.csv", f'wkt,other\n"{SQUARE}","{SHIFTED}"\n')
    gdf = read_polygons(csv, crs="EPSG:4326", wkt_column="other")
    assert shapely.area(gdf.geometry.to_numpy()).tolist() == [2.0]
    with pytest.raises(InvalidVectorError, match=r"wkt_column='nope' is not a column"):
        read_polygons(csv, crs="EPSG:4326", wkt_column="nope")


def test_crs_assumed_with_warning_and_given_crs_used(tmp_path):
    csv = _write(tmp_path / "c.csv", f'wkt\n"{SQUARE}"\n')
    with pytest.warns(UserWarning, match=r"CSV carries no CRS; EPSG:4326 .* was assumed"):
        gdf = read_polygons(csv)
    assert gdf.crs.to_epsg() == 4326
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gdf = read_polygons(csv, crs="EPSG:3857")
    assert gdf.crs.to_epsg() == 3857
    out = read_polygons(csv, crs="EPSG:4326", target_crs="EPSG:3857")  # reprojection still applies
    assert out.crs.to_epsg() == 3857 and out.geometry.iloc[0].bounds[2] == pytest.approx(111319.49, abs=0.01)


def test_unparsable_wkt_names_file_row_and_value(tmp_path):
    csv = _write(tmp_path / "bad.csv", f'name,wkt\na,"{SQUARE}"\nb,"POLYGON((0 0, 1 0"\nc,"{SHIFTED}"\n')
    with pytest.raises(InvalidVectorError, match=r"bad\.csv: 1 value\(s\) of column 'wkt' are not valid WKT") as e:
        read_polygons(csv, crs="EPSG:4326")
    assert "row 1 (line 3)" in str(e.value) and "POLYGON((0 0, 1 0" in str(e.value)


def test_empty_cell_is_an_empty_geometry_not_an_error(tmp_path):
    csv = _write(tmp_path / "c.csv", f'name,wkt\na,"{SQUARE}"\nb,\n')
    with pytest.warns(UserWarning, match=r"1 empty geometries"):
        gdf = read_polygons(csv, crs="EPSG:4326")
    second = gdf.geometry.iloc[1]
    assert len(gdf) == 2 and (second is None or second.is_empty)
    assert gdf["name"].tolist() == ["a", "b"]


def test_no_wkt_column_is_a_clear_error(tmp_path):
    csv = _write(tmp_path / "c.csv", "a,b\n1,2\n")
    with pytest.raises(InvalidVectorError, match=r"no column holds WKT geometries .* Name it with wkt_column="):
        read_polygons(csv, crs="EPSG:4326")


def test_points_in_csv_are_refused_like_any_vector(tmp_path):
    csv = _write(tmp_path / "c.csv", 'wkt\n"POINT (1 2)"\n')
    with pytest.raises(InvalidVectorError, match="are not polygons"):
        read_polygons(csv, crs="EPSG:4326")


def test_wkt_column_only_for_csv_and_crs_conflict(tmp_path):
    gdf = gpd.GeoDataFrame(geometry=[shapely.from_wkt(SQUARE)], crs="EPSG:4326")
    with pytest.raises(InvalidVectorError, match="applies to CSV files"):
        read_polygons(gdf, wkt_column="wkt")
    with pytest.raises(InvalidVectorError, match="has CRS EPSG:4326 but crs='EPSG:3857'"):
        read_polygons(gdf, crs="EPSG:3857")
    no_crs = gpd.GeoDataFrame(geometry=[shapely.from_wkt(SQUARE)])
    assert read_polygons(no_crs, crs="EPSG:4326").crs.to_epsg() == 4326


@pytest.mark.slow
def test_real_census_csv(shared_data):
    path = real_file(shared_data, "china-census-2010-2020", "census_city_2010-2020_v1.csv")
    gdf = read_polygons(path, crs="EPSG:4326", id_column="city_code")
    # independent reference: pandas + shapely on the same file
    ref = pd.read_csv(path, encoding="utf-8-sig")
    ref_geoms = shapely.from_wkt(ref["coord"].to_numpy())
    assert len(gdf) == 369 == len(ref)
    assert gdf["city_id"].is_unique and gdf["city_id"].tolist() == ref["city_code"].tolist()
    assert gdf["city"].iloc[0] == "北京市" and "coord" not in gdf.columns
    assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"} and gdf.is_valid.all()
    assert np.all(shapely.equals_exact(gdf.geometry.to_numpy(), ref_geoms, tolerance=0))
    xmin, ymin, xmax, ymax = gdf.total_bounds
    assert 73 < xmin and xmax < 136 and 3 < ymin and ymax < 54  # China: 73.5–135.1°E, 3.8–53.6°N
    assert gdf["popu_2020"].sum() == pytest.approx(ref["popu_2020"].sum())
