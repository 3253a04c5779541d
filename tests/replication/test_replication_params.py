"""The replication's fixed parameters are ``catalog/studies/replication.toml``; its file helpers (no real data)."""

from __future__ import annotations

import csv
import dataclasses
import tomllib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from nightlight._resources import catalog_path
from nightlight.errors import ParameterError
from nightlight.replication import FIXED, WINDOWS, NationalParams
from nightlight.replication.params import containing, write_table
from nightlight.replication.robust import ROBUST
from nightlight.replication.sensitivity import DESIGN
from nightlight.replication.studies import load_study


def _toml() -> dict:
    return tomllib.loads(catalog_path("studies", "replication.toml").read_text(encoding="utf-8"))


def test_the_parameters_are_the_configuration_file():
    raw = _toml()  # read here on its own, not through the package
    assert dataclasses.asdict(NationalParams()) == raw["national"]["params"]
    assert DESIGN == raw["sensitivity"] and ROBUST == raw["robust"]
    assert WINDOWS == {k: tuple(v) for k, v in raw["windows"].items()}
    assert FIXED["shanghai"]["params"] == raw["shanghai"]["params"]


def test_the_parameter_file_is_not_a_study():
    with pytest.raises(ParameterError, match=r"replication\.toml: no such study") as err:
        load_study("replication")
    assert "replication" not in str(err.value).split("the catalog has")[1]


def test_write_table_keeps_the_given_columns_in_order(tmp_path):
    frame = pd.DataFrame({"b": [1.23456789, 2.0], "a": ["x", "y"], "c": [True, False]})
    path = tmp_path / "t.csv"
    rows = write_table(frame, path, ["c", "missing", "b"], floats="%.3g")
    with path.open() as fh:
        assert list(csv.reader(fh)) == [["c", "b"], ["True", "1.23"], ["False", "2"]]
    assert rows == [{"c": True, "b": 1.23456789}, {"c": False, "b": 2.0}]  # the records keep full precision


def test_containing_against_shapely_point_in_polygon():
    rng = np.random.default_rng(3)
    # two overlapping squares and one apart; points inside, in the overlap, outside, on no polygon
    polys = gpd.GeoDataFrame(
        {"code": [10, 20, 30]},
        geometry=[shapely.box(0, 0, 4, 4), shapely.box(2, 2, 6, 6), shapely.box(10, 10, 12, 12)],
        crs="EPSG:3857",
    )
    xy = rng.uniform(-1, 13, size=(200, 2))
    points = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:3857", index=np.arange(200) * 7)
    got = containing(points.to_crs("EPSG:4326"), polys, "code")  # another CRS: the polygons follow the points
    assert list(got.index) == list(points.index)
    for pt, code in zip(points, got):
        inside = [c for c, g in zip(polys["code"], polys.geometry) if g.contains(pt)]
        assert (code == inside[0]) if inside else np.isnan(code)  # the first of several
