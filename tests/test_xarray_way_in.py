"""The xarray way in: open_series, the .nightlight accessor, the public zonal_stats (issue 20, item 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import nightlight
from nightlight.errors import ParameterError
from nightlight.synthetic import make_world
from tests.helpers.four_cities import scene
from tests.helpers.zonal_scene import CRS_M, T, big_polys, mosaic

REPO = Path(__file__).resolve().parents[1]


def _exactextract(da: xr.DataArray, polys, ops: list[str]):
    exactextract = pytest.importorskip("exactextract")
    from rasterio.io import MemoryFile

    v = np.asarray(da.values, dtype=np.float32)
    profile = {"driver": "GTiff", "height": v.shape[0], "width": v.shape[1], "count": 1, "dtype": "float32"}
    with MemoryFile() as mem:
        with mem.open(**profile, crs=CRS_M, transform=T, nodata=np.nan) as dst:
            dst.write(v, 1)
        with mem.open() as src:
            return exactextract.exact_extract(src, polys, ops, output="pandas")


def test_public_zonal_stats_equals_exactextract():
    da = mosaic(nan_share=0.05, chunks=(64, 70))
    polys = big_polys()
    ours = nightlight.zonal_stats(da, polys, ["sum", "mean", "count", "max"])
    ref = _exactextract(da, polys, ["sum", "mean", "count", "max"])
    assert list(ours["city_id"]) == list("abcmxr")
    for stat in ("sum", "mean", "count", "max"):
        np.testing.assert_allclose(ours[stat], ref[stat].to_numpy(dtype=float), rtol=1e-6, err_msg=stat)
    with pytest.raises(ParameterError, match="choose from"):
        nightlight.zonal_stats(da, polys, ["median"])


@pytest.fixture(scope="module")
def world_series(tmp_path_factory):
    world = make_world(seed=4, bounds=(12.0, 45.0, 13.0, 46.0), years=(2013, 2014, 2015, 2016))
    files = world.write_geotiffs(tmp_path_factory.mktemp("series"))
    return world, files


def test_open_series_stacks_the_years_lazily_on_one_grid(world_series):
    world, files = world_series
    series = nightlight.open_series(
        str(Path(files[2013]).parent / Path(files[2013]).name.replace("2013", "{year}")), years=[2013, 2014, 2015, 2016]
    )
    assert series.dims == ("time", "y", "x") and list(series["time"].values) == [2013, 2014, 2015, 2016]
    assert series.chunks is not None  # lazy
    np.testing.assert_array_equal(series.sel(time=2014).values, nightlight.open_mosaic(str(files[2014])).values)
    assert series.attrs["inputs"]["sources"]["2013"] == str(files[2013])


@pytest.mark.slow
def test_series_detect_shrinking_equals_the_dict_form_and_the_accessor(world_series):
    world, files = world_series
    series = nightlight.open_series({y: str(p) for y, p in files.items()})
    cities = series.nightlight.natural_cities(lit_threshold=world.lit_threshold)
    assert len(cities) == len(nightlight.extract_natural_cities(str(files[2013]), lit_threshold=world.lit_threshold))
    by_stack = nightlight.detect_shrinking(cities, series=series)
    by_dict = nightlight.detect_shrinking(cities, series={y: str(p) for y, p in files.items()})
    by_accessor = series.nightlight.detect_shrinking(cities)
    for col in ("light_before", "light_after", "change", "trend_slope", "mk_p"):
        np.testing.assert_array_equal(by_stack[col], by_dict[col], err_msg=col)
        np.testing.assert_array_equal(by_stack[col], by_accessor[col], err_msg=col)
    assert by_stack["shrinking"].tolist() == by_dict["shrinking"].tolist()
    stats = series.nightlight.zonal_stats(cities, ["sum"])
    np.testing.assert_allclose(stats["sum_2013"], by_stack["light_before"], rtol=1e-9)


def test_the_accessor_refuses_a_single_year_for_a_decline():
    polys, b, _ = scene()
    with pytest.raises(ParameterError, match="two years"):
        b.nightlight.detect_shrinking(polys)
