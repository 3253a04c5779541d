"""DMSP-OLS inter-calibration per satellite-year from published coefficient tables.

Tables in ``catalog/calibration/`` (Elvidge 2009/2014, Liu 2012, Wu 2013, Li & Zhou
2017); results are clipped to [0, 63] DN and averaged after calibration when two
satellites cover a year.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import xarray as xr

from nightlight._backend import ArrayLike, as2d, map_pixels
from nightlight._resources import catalog_path
from nightlight.errors import CatalogError, GridMismatchError
from nightlight.kernels import pixel as kc
from nightlight.units import check_dn


@lru_cache(maxsize=1)
def coefficients() -> list[dict]:
    """All rows of ``catalog/calibration/dmsp_intercalibration.csv`` (see its README for sources)."""
    rows = []
    with catalog_path("calibration", "dmsp_intercalibration.csv").open("r", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            r["year"], r["step"] = int(r["year"]), int(r["step"])
            for k in ("c0", "c1", "c2"):
                r[k] = float(r[k]) if r[k] != "" else 0.0
            rows.append(r)
    return rows


def _available(model: str | None = None) -> str:
    rows = coefficients()
    if model is None:
        return ", ".join(sorted({r["model"] for r in rows}))
    by_sat: dict[str, list[int]] = {}
    for r in rows:
        if r["model"] == model and r["step"] == 1:
            by_sat.setdefault(r["satellite"], []).append(r["year"])
    return "; ".join(
        f"{s} {min(y)}–{max(y)}" + ("" if len(y) == max(y) - min(y) + 1 else f" ({sorted(y)})")
        for s, y in sorted(by_sat.items())
    )


def calibration_steps(
    satellite: str, year: int, model: str = "elvidge2014", *, allow_suspect: bool = False
) -> list[dict]:
    """Catalog rows (ordered steps) calibrating ``satellite``/``year`` with ``model``.

    Raises
    ------
    CatalogError
        Unknown model or satellite-year (the message lists what exists), or a row
        marked suspect while ``allow_suspect`` is False.
    """
    model = model.lower()
    rows = coefficients()
    if model not in {r["model"] for r in rows}:
        raise CatalogError(f"model={model!r} is not in the calibration catalog. Available models: {_available()}.")
    sat = satellite.upper()
    hit = sorted(
        (r for r in rows if r["model"] == model and r["satellite"] == sat and r["year"] == int(year)),
        key=lambda r: r["step"],
    )
    if not hit:
        raise CatalogError(
            f"model={model!r} has no coefficients for satellite={satellite!r}, year={year}. "
            f"Available for {model}: {_available(model)}."
        )
    bad = [r for r in hit if r["status"] != "ok"]
    if bad and not allow_suspect:
        raise CatalogError(
            f"{model} {sat} {year}: this row is marked suspect in catalog/calibration ({bad[0]['note']}). "
            "Pick another model or satellite for this year, or pass allow_suspect=True to use it anyway."
        )
    return hit


# ---------------------------------------------------------------------------
# DMSP inter-calibration
# ---------------------------------------------------------------------------


def _intercalibrate_one(dn: ArrayLike, steps: list[dict], keep_zero: bool, name: str) -> ArrayLike:
    coefs = np.array([[r["c0"], r["c1"], r["c2"]] for r in steps], dtype=np.float64)
    forms = np.array([kc.FORM_IDS[r["form"]] for r in steps], dtype=np.int64)

    def block(b: np.ndarray) -> np.ndarray:
        check_dn(b, name)
        return as2d(lambda x, out: kc.dmsp_chain(x, coefs, forms, keep_zero, out))(b)

    return map_pixels(dn, block)


def intercalibrate(
    dmsp: ArrayLike | Mapping[str, ArrayLike],
    satellite: str | None = None,
    year: int | None = None,
    model: str = "elvidge2014",
    *,
    allow_suspect: bool = False,
    keep_zero: bool = False,
) -> ArrayLike:
    """Inter-calibrate DMSP-OLS stable-lights DN to the model's reference satellite-year.

    ``DN' = c0 + c1·DN + c2·DN²`` (Elvidge et al. 2009, 2014; Liu et al. 2012; Li & Zhou
    2017 stepwise, two steps for F16) or ``DN' + 1 = a·(DN + 1)^b`` (Wu et al. 2013),
    clipped to [0, 63] DN. Per-pixel work runs in a numba kernel, lazily per chunk.

    Parameters
    ----------
    dmsp : DataArray, ndarray, or mapping satellite → mosaic
        DN 0–63 (NaN = nodata). A mapping such as ``{"F15": a, "F16": b}`` calibrates
        each satellite of ``year`` and returns their mean (NaN-aware) — the usual
        practice when two satellites cover a year. Mosaics must share one grid.
    satellite : str
        ``"F10"`` … ``"F18"``; omitted when ``dmsp`` is a mapping.
    year : int
    model : str
        ``"elvidge2009"``, ``"elvidge2014"`` (default), ``"liu2012"``, ``"wu2013"``, ``"lizhou2017"``.
    allow_suspect : bool
        Use rows the catalog marks suspect (e.g. Elvidge 2014 F18 2004–2012).
    keep_zero : bool
        Keep DN 0 at 0 (otherwise the intercept lifts dark background, as in the papers).

    Returns
    -------
    Same kind as the input, float32, calibrated DN in [0, 63].

    Raises
    ------
    CatalogError
        Unknown model / satellite-year, or a suspect row without ``allow_suspect``.
    UnitsError
        Values outside 0–63 (raised when the chunk is computed for dask input).
    """
    if year is None:
        raise CatalogError("intercalibrate: year= is required (the coefficients are per satellite-year).")
    if isinstance(dmsp, Mapping):
        if not dmsp:
            raise CatalogError("intercalibrate: the mapping of satellite → mosaic is empty.")
        outs = []
        names = list(dmsp)
        for sat, mosaic in dmsp.items():
            steps = calibration_steps(sat, year, model, allow_suspect=allow_suspect)
            outs.append(_intercalibrate_one(mosaic, steps, keep_zero, f"dmsp[{sat!r}]"))
        # the result is a DataArray only when every satellite's mosaic is one: a mix of kinds
        # takes the array path whatever the mapping's order (it has no grid to check or keep)
        das = [o for o in outs if isinstance(o, xr.DataArray)]
        all_da = len(das) == len(outs)
        if all_da and das[0].rio.crs is not None:
            from nightlight.grid import require_same_grid

            for n, o in zip(names[1:], das[1:]):
                require_same_grid(das[0], o, names=(f"dmsp[{names[0]!r}]", f"dmsp[{n!r}]"))
        elif len({np.shape(o) for o in outs}) > 1:
            raise GridMismatchError(
                f"intercalibrate: the satellites' arrays differ in shape: {[np.shape(o) for o in outs]}."
            )
        if all_da:
            stacked = xr.Variable.concat([o.variable for o in das], dim="satellite")
            mean = stacked.mean("satellite", skipna=True)
            res_da = das[0].copy(data=mean.data)
            res_da.attrs.update({"calibration": f"{model} {'+'.join(names)} {year}", "units": "DN"})
            return res_da
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.stack(outs), axis=0).astype(np.float32)
    if satellite is None:
        raise CatalogError(
            f"intercalibrate: satellite= is required. Available for {model}: {_available(model.lower())}."
        )
    steps = calibration_steps(satellite, year, model, allow_suspect=allow_suspect)
    res = _intercalibrate_one(dmsp, steps, keep_zero, "dmsp")
    if isinstance(res, xr.DataArray):
        res.attrs.update({"calibration": f"{model} {satellite} {year}", "units": "DN"})
    return res
