"""Code paths rewritten while making mypy pass (issue 9, item 10): a real bug and the guards of the rest."""

from __future__ import annotations

import dataclasses

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import shapely
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

import nightlight.preprocess as C
from nightlight.change.zonal import STAT_COLUMNS, zonal_stats, zonal_stats_many
from nightlight.cities.label import Components, label_components
from nightlight.cities.threshold import resolve_threshold
from nightlight.errors import ParameterError

RES = 100.0
CRS_M = CRS.from_epsg(6933)  # equal-area: a 100 m pixel is exactly 0.01 km²
T = Affine(RES, 0, 500_000.0, 0, -RES, 5_000_000.0)


def _mosaic(h: int = 40, w: int = 50, chunks: tuple[int, int] | None = None) -> xr.DataArray:
    v = np.random.default_rng(1).lognormal(1.0, 1.0, (h, w)).astype(np.float32)
    x = T.c + (np.arange(w) + 0.5) * T.a
    y = T.f + (np.arange(h) + 0.5) * T.e
    da = xr.DataArray(v, dims=("y", "x"), coords={"y": y, "x": x}, name="m")
    da = da.rio.write_crs(CRS_M).rio.write_transform(T)
    return da.chunk({"y": chunks[0], "x": chunks[1]}) if chunks else da


# --- the bug: intercalibrate of a mapping that mixes DataArrays and plain arrays ---------------------------------


@pytest.mark.parametrize("first_is_dataarray", [True, False])
def test_intercalibrate_mixed_mapping_is_the_nan_mean_whatever_the_order(first_is_dataarray):
    # Before the fix, a DataArray first and an ndarray after it raised AttributeError
    # ('numpy.ndarray' object has no attribute 'variable'); the other order worked.
    rng = np.random.default_rng(7)
    a, b = (rng.integers(0, 64, (6, 8)).astype(np.float32) for _ in range(2))
    a[0, 0] = np.nan
    da = xr.DataArray(a, dims=("y", "x"))
    mapping = {"F15": da, "F16": b} if first_is_dataarray else {"F16": b, "F15": da}
    out = C.intercalibrate(mapping, year=2005, model="elvidge2014")
    # reference: each satellite calibrated alone, then the NaN-aware mean in plain NumPy
    ea, eb = C.intercalibrate(a, "F15", 2005), C.intercalibrate(b, "F16", 2005)
    ref = np.where(np.isnan(ea), eb, (ea + eb) / 2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32  # a mix keeps no grid: the array path
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_intercalibrate_all_dataarrays_still_gives_a_dataarray_with_provenance():
    da = xr.DataArray(np.full((3, 4), 20.0, np.float32), dims=("y", "x"))
    out = C.intercalibrate({"F15": da, "F16": da.copy()}, year=2005)
    assert isinstance(out, xr.DataArray)
    assert out.attrs["calibration"] == "elvidge2014 F15+F16 2005" and out.attrs["units"] == "DN"


# --- guards of paths rewritten for the type checker (behaviour unchanged) ------------------------------------------


def test_zonal_dask_mosaic_with_no_polygon_in_any_block_matches_numpy():
    # the early return for "no block meets a polygon" (dask only), rewritten in zonal_stats_many
    far = [shapely.box(0, 0, 1000, 1000), shapely.box(10, 10, 20, 20)]
    polys = gpd.GeoDataFrame(geometry=far, crs=CRS_M)
    lazy = zonal_stats_many(polys, [_mosaic(chunks=(16, 16)), _mosaic(chunks=(16, 16))])
    eager = zonal_stats(polys, _mosaic())
    assert len(lazy) == 2
    for st in lazy:
        assert list(st.columns) == list(STAT_COLUMNS)
        assert (st["pixels"] == 0).all() and (st["area_km2"] == 0).all() and st["sum"].isna().all()
        np.testing.assert_array_equal(st.to_numpy(), eager.to_numpy())


@pytest.mark.parametrize("method", ["exact", "centre"])
def test_zonal_exact_coverage_polygons_are_counted_in_the_blocks_they_meet(method):
    # _block_stats: exact-coverage polygons (all with "exact", the small ones with "centre") that meet some
    # blocks and not others; the reference is the pixel-area sum of a polygon aligned on pixel edges.
    x0, y0 = T * (3, 5)
    x1, y1 = T * (30, 25)  # 27 × 20 pixels, across several 16-pixel blocks
    small = shapely.box(*(T * (40, 33)), *(T * (42, 31)))  # 2 × 2 pixels, one block
    polys = gpd.GeoDataFrame(geometry=[shapely.box(x0, y1, x1, y0), small], crs=CRS_M)
    m = _mosaic()
    v = m.values
    for mos in (m, _mosaic(chunks=(16, 16))):
        st = zonal_stats(polys, mos, method=method)
        assert st["sum"][0] == pytest.approx(float(v[5:25, 3:30].sum()), rel=1e-5)
        assert st["sum"][1] == pytest.approx(float(v[31:33, 40:42].sum()), rel=1e-5)
        assert st["area_km2"][0] == pytest.approx(27 * 20 * 0.01, rel=1e-9)


def test_threshold_none_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"threshold=None: use a number"):
        resolve_threshold(_mosaic(), None, 1)


def test_components_always_carry_their_block_state():
    # the private fields are now required (keyword-only), not None-defaulted
    comps = label_components(_mosaic(chunks=(16, 16)), threshold=3.0)
    assert comps._blocks is not None and comps._label_component is not None and comps._src is not None
    required = {f.name for f in dataclasses.fields(Components) if f.default is dataclasses.MISSING}
    assert {"_blocks", "_label_component", "_src"} <= required
    with pytest.raises(TypeError):
        Components(grid=comps.grid, table=comps.table, connectivity=8)


def test_fit_pools_a_sequence_and_takes_one_array_of_any_kind():
    rng = np.random.default_rng(3)
    x = rng.uniform(1, 50, (30, 40))
    y = 2.0 + 0.5 * x
    one = C.fit(x, y, model="linear", sample=None)
    lazy = C.fit(dsa.from_array(x, chunks=(16, 16)), dsa.from_array(y, chunks=(16, 16)), model="linear", sample=None)
    pooled = C.fit((x[:15], x[15:]), [y[:15], y[15:]], model="linear", sample=None)
    for cal in (one, lazy, pooled):
        np.testing.assert_allclose(cal.params, (2.0, 0.5), rtol=1e-9)
        assert cal.n_train + cal.n_test == x.size


def test_gaussian_blur_on_dask_smaller_than_its_halo_equals_numpy():
    """Found by the property tests: map_overlap refused an array smaller than the blur depth."""
    import dask.array as dsa
    import numpy as np

    from nightlight.preprocess.harmonize import gaussian_blur

    x = np.random.default_rng(1).random((3, 5)).astype(np.float32) * 10
    np.testing.assert_allclose(
        np.asarray(gaussian_blur(dsa.from_array(x, chunks=2)).compute()), gaussian_blur(x), rtol=1e-6
    )


def test_zonal_stats_on_an_invalid_polygon_is_a_clear_error():
    """Found by the property tests: a bow-tie reached GEOS and failed with a bare GEOSException."""
    import geopandas as gpd
    import numpy as np
    import pytest
    import shapely

    from nightlight.change.zonal import zonal_stats
    from nightlight.errors import InvalidVectorError
    from nightlight.testing import georeferenced

    da = georeferenced(np.ones((10, 10)), res=0.1, origin=(0.0, 1.0))
    bowtie = shapely.Polygon([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)])
    with pytest.raises(InvalidVectorError, match=r"invalid polygon\(s\) \(rows \[0\].*read_polygons"):
        zonal_stats(gpd.GeoDataFrame(geometry=[bowtie], crs="EPSG:4326"), da)


def test_zonal_validity_check_leaves_the_process_warning_filters_alone(monkeypatch):
    """``shapely.is_valid`` silences every warning of the process while it runs (``catch_warnings``): when the
    check ran on a thread beside the driver, a batch lost some of its CheckpointWarnings under load."""
    import warnings

    import numpy as np
    import pytest
    import shapely

    from nightlight.change import zonal
    from nightlight.errors import InvalidVectorError

    swaps = []

    class Counted(warnings.catch_warnings):
        def __enter__(self):
            swaps.append(self)
            return super().__enter__()

    ok = shapely.buffer(shapely.points(np.random.default_rng(0).random((200, 2))), 0.01)
    bowtie = shapely.Polygon([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)])
    monkeypatch.setattr(warnings, "catch_warnings", Counted)
    zonal._require_valid(np.append(ok, [None, shapely.Polygon()]))
    with pytest.raises(InvalidVectorError, match=r"1 invalid polygon\(s\) \(rows \[200\]"):
        zonal._require_valid(np.append(ok, bowtie))
    monkeypatch.undo()
    assert not swaps, "the validity check swapped the process-wide warning filters"
