"""The xarray way in: ``da.nightlight.natural_cities()``, ``.detect_shrinking(polygons)``, ``.zonal_stats(…)``.

Registered as the ``nightlight`` accessor of :class:`xarray.DataArray` when this module
is imported — which :func:`nightlight.open_series` and every public function of
``nightlight`` do on first use (``import nightlight.accessor`` registers it by itself).
It is a thin layer: each method calls the public function with the array, so its
parameters, checks and results are those of the function (the model is rioxarray's
``.rio``).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import xarray as xr

from nightlight.change.decline import detect_shrinking
from nightlight.change.stats import zonal_stats
from nightlight.cities.natural import extract_natural_cities
from nightlight.errors import ParameterError


@xr.register_dataarray_accessor("nightlight")
class NightlightAccessor:
    """Night-light stages on a 2-D mosaic or a ``(time, y, x)`` series."""

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da

    def _year(self, time: Any = None) -> xr.DataArray:
        da = self._da
        if da.ndim == 2:
            return da
        if "time" not in da.dims:
            raise ParameterError(f"a {da.ndim}-D array without a 'time' dimension: pass a (y, x) or (time, y, x) one.")
        return da.isel(time=0) if time is None else da.sel(time=time)

    def natural_cities(self, *, time: Any = None, **kwargs: Any) -> gpd.GeoDataFrame:
        """:func:`nightlight.extract_natural_cities` of this mosaic (of year ``time``, default the first)."""
        return extract_natural_cities(self._year(time), **kwargs)

    def detect_shrinking(self, polygons: Any = None, **kwargs: Any) -> gpd.GeoDataFrame:
        """:func:`nightlight.detect_shrinking` over this series (first year → last year, with the trend).

        ``polygons`` default: the natural cities of the first year (``lit_threshold=`` etc.
        go to :meth:`natural_cities` then).
        """
        if self._da.ndim != 3 or "time" not in self._da.dims or self._da.sizes["time"] < 2:
            raise ParameterError("detect_shrinking needs a (time, y, x) series of at least two years.")
        city_keys = ("lit_threshold", "min_area_km2", "connectivity", "mask")
        city_kw = {k: kwargs.pop(k) for k in city_keys if k in kwargs}
        if polygons is None:
            polygons = self.natural_cities(**city_kw)
        return detect_shrinking(polygons, series=self._da, **kwargs)

    def zonal_stats(self, polygons: Any, stats: Any = ("sum", "mean", "count"), **kwargs: Any) -> pd.DataFrame:
        """:func:`nightlight.zonal_stats` of this mosaic or series."""
        return zonal_stats(self._da, polygons, stats, **kwargs)
