"""Monthly → annual VIIRS composites from monthly radiance and cloud-free counts.

VNL v2 (Elvidge et al. 2021, Remote Sens. 13:922) builds annual composites from the
12 monthly cloud-free averages; the median drops fires and aurora. Here, per pixel and
over the months of a year with at least ``min_count`` cloud-free observations:

- ``mean``: count-weighted mean ``Σ r_m·n_m / Σ n_m`` (the average over all cloud-free
  nights of the year — what an annual composite made from nightly data would give);
- ``median``: median of the kept monthly values (unweighted, as in VNL v2);
- ``nobs``: ``Σ n_m`` over the kept months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from nightlight._backend import as_dask, dispatch
from nightlight.errors import GridMismatchError, InvalidRasterError, UnitsError
from nightlight.kernels import composite as kcomp


def _years(time: xr.DataArray) -> np.ndarray:
    """Calendar year of each time step; numeric times are read with their ``units`` attribute."""
    vals = time.values
    if np.issubdtype(vals.dtype, np.datetime64):
        return pd.DatetimeIndex(vals).year.to_numpy()
    if vals.dtype == object:  # cftime
        return np.array([v.year for v in vals])
    units = time.attrs.get("units", "days since 1900-01-01")
    if not units.startswith("days since"):
        raise UnitsError(
            f"time: units {units!r} are not understood; "
            "decode times first (xr.decode_cf) or use 'days since YYYY-MM-DD'."
        )
    origin = pd.Timestamp(units.split("since", 1)[1].strip())
    return (origin + pd.to_timedelta(vals, unit="D")).year.to_numpy()


def _block(rad: np.ndarray, cnt: np.ndarray, min_count: int) -> np.ndarray:
    rad = np.ascontiguousarray(rad, dtype=np.float64)
    cnt = np.ascontiguousarray(cnt, dtype=np.float64)
    ny, nx = rad.shape[1:]
    mean, med, nobs = (np.empty((ny, nx)) for _ in range(3))
    kcomp.composite(rad, cnt, min_count, mean, med, nobs)
    return np.stack([mean, med, nobs])


def annual_composite(
    radiance: xr.DataArray,
    counts: xr.DataArray,
    year: int,
    *,
    min_count: int = 1,
    time_dim: str = "time",
) -> xr.Dataset:
    """Annual composite of one year from monthly radiance and cloud-free counts.

    Parameters
    ----------
    radiance : DataArray (time, y, x)
        Monthly average radiance, nW/cm²/sr (e.g. EOG VCMCFG/VCMSLCFG).
    counts : DataArray (time, y, x)
        Cloud-free observations behind each monthly value (same time, y, x).
    year : int
    min_count : int
        Months with fewer cloud-free observations are left out (≥ 1).

    Returns
    -------
    xarray.Dataset
        ``mean`` (count-weighted), ``median`` (nW/cm²/sr) and ``nobs`` (cloud-free
        observations used), each (y, x) float; attrs ``year`` and ``months``.
        Lazy for dask input (chunked over y, x; time is gathered per chunk).
    """
    if radiance.dims != counts.dims or radiance.shape != counts.shape:
        raise GridMismatchError(
            f"annual_composite: radiance {dict(radiance.sizes)} and counts {dict(counts.sizes)} differ; "
            "they must be the same months on the same grid."
        )
    if time_dim not in radiance.dims:
        raise InvalidRasterError(
            f"annual_composite: radiance has no {time_dim!r} dimension (dims {radiance.dims}); pass time_dim=."
        )
    for d in radiance.dims:
        if d in radiance.coords and d in counts.coords and not np.array_equal(radiance[d].values, counts[d].values):
            raise GridMismatchError(f"annual_composite: radiance and counts have different {d!r} coordinates.")
    if min_count < 1:
        raise UnitsError(
            f"annual_composite: min_count={min_count} must be ≥ 1 (a month without cloud-free nights has no value)."
        )
    yrs = _years(radiance[time_dim])
    sel = np.flatnonzero(yrs == int(year))
    if sel.size == 0:
        raise InvalidRasterError(
            f"annual_composite: no month of {year} in radiance (years present: {sorted(set(yrs.tolist()))})."
        )
    rad = radiance.isel({time_dim: sel}).transpose(time_dim, ...)
    cnt = counts.isel({time_dim: sel}).transpose(time_dim, ...)
    spatial = [d for d in rad.dims if d != time_dim]

    def run_dask(r, c):
        import dask.array as dsa

        r = r.rechunk({0: -1})  # every month of a pixel in one block
        c = as_dask(c).rechunk(r.chunks)
        return dsa.map_blocks(
            lambda a, b: _block(a, b, min_count), r, c, dtype=np.float64, chunks=((3,),) + r.chunks[1:]
        )

    out = dispatch(rad.data, lambda r, c: _block(r, np.asarray(c), min_count), run_dask, cnt.data)
    coords = {d: rad[d] for d in spatial if d in rad.coords}
    ds = xr.Dataset(
        {v: (spatial, out[i]) for i, v in enumerate(("mean", "median", "nobs"))},
        coords=coords,
        attrs={
            "year": int(year),
            "months": int(sel.size),
            "min_count": int(min_count),
            "method": "count-weighted mean and median of monthly radiance (VNL v2 style)",
        },
    )
    for v in ("mean", "median"):
        ds[v].attrs["units"] = "nW/cm2/sr"
    if radiance.rio.crs is not None:
        ds = ds.rio.write_crs(radiance.rio.crs)
    return ds


def open_monthly(
    radiance_path: str, counts_path: str, *, chunks: dict | None = None
) -> tuple[xr.DataArray, xr.DataArray]:
    """Open a pair of monthly netCDF files (radiance, cloud-free counts), one data variable each.

    Time stays numeric with its ``units`` (``days since 1900-01-01`` in the EOG/NighttimeLights.jl
    files); :func:`annual_composite` reads it.
    """
    out = []
    for p in (radiance_path, counts_path):
        try:
            ds = xr.open_dataset(p, decode_times=False, chunks=chunks)
        except (OSError, ValueError) as exc:
            raise InvalidRasterError(f"{p}: cannot be opened as netCDF ({exc}).") from exc
        names = [v for v in ds.data_vars if ds[v].ndim == 3]
        if len(names) != 1:
            raise InvalidRasterError(
                f"{p}: expected one (time, y, x) variable, found {names}. Select it yourself and pass DataArrays."
            )
        da = ds[names[0]]
        if da.dtype.kind in "iu":
            da = da.astype(np.float32) if p == radiance_path else da
        out.append(da)
    return out[0], out[1]
