"""True ground area of pixels, in km², for the grids night-light mosaics come on.

* **Geographic grids** (EPSG:4326, the DMSP 30″ and VIIRS 15″ mosaics): a cell
  between latitudes φ₁, φ₂ spanning Δλ radians has the exact ellipsoidal area
  ``A = a²·Δλ·(q(φ₂) − q(φ₁)) / 2`` with ``q`` the authalic function of the
  ellipsoid (Snyder 1987, *Map Projections — A Working Manual*, eq. 3-12). This is
  the closed form of the WGS84 authalic sphere (``R_q² · Δλ · (sin β₂ − sin β₁)``
  with authalic latitude β), exact for the ellipsoid — chosen over per-pixel
  ``pyproj.Geod`` polygons because it is exact, vectorised, and a pixel's area
  depends on its row only, so one float per row serves a whole block.
  ``pyproj.Geod`` is the independent reference in the tests.
* **Equal-area projections** (Albers, Lambert azimuthal/cylindrical equal-area,
  Mollweide, sinusoidal, Equal Earth …): every pixel has the same area.
* **Other projections** (UTM, Web Mercator …) distort area.

One rule for every function that reports km² (``extract_natural_cities``,
``label_components``, the zonal ``area_km2``/``lit_area_km2`` columns of
``detect_shrinking``), chosen with ``area=``:

``"exact"`` (default)
    geographic → exact ellipsoidal cell area; equal-area → the constant pixel area;
    any other CRS → :class:`~nightlight.errors.UnsupportedCRSError` naming the CRS and the fixes.
``"pyproj"``
    as ``"exact"``, but other CRSs get per-pixel areas: nominal pixel area divided by
    pyproj's areal scale factor at the pixel centre.
``"nominal"``
    as ``"exact"``, but other CRSs get the nominal pixel size (|Δx·Δy|, CRS units → m)
    as the area, with a :class:`NominalAreaWarning` (light sums are unaffected; areas
    are off by the projection's areal distortion, ~0.1 % across a UTM zone, far more for Web Mercator).

:func:`resolve_area` applies the rule once per public call (raise, warn, or pass);
:func:`pixel_areas_km2` then computes areas block by block without warning again.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Literal

import numpy as np
import pyproj

from nightlight.errors import UnsupportedCRSError
from nightlight.grid import Grid

#: ``"auto"`` is the former name of ``"exact"`` (nightlight ≤ 0.2) and still accepted.
AreaMode = Literal["exact", "pyproj", "nominal", "auto"]
AREA_MODES: tuple[AreaMode, ...] = ("exact", "pyproj", "nominal")
#: How pixel area behaves on a CRS (:func:`crs_area_kind`).
AreaKind = Literal["geographic", "equal_area", "other"]


class NominalAreaWarning(UserWarning):
    """Areas on an area-distorting CRS are nominal pixel sizes (``area="nominal"``)."""


_EQUAL_AREA_WORDS = (
    "equal area",
    "equal-area",
    "mollweide",
    "sinusoidal",
    "equal earth",
    "goode",
    "eckert iv",
    "eckert vi",
)


def crs_area_kind(crs) -> AreaKind:
    """Classify a CRS by how pixel area behaves on it."""
    return _crs_facts(_crs_key(crs))[0]


def _crs_key(crs) -> str:
    return crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)


@lru_cache(maxsize=64)
def _crs_facts(key: str) -> tuple[AreaKind, float, float, float]:
    """(area kind, semi-major axis m, eccentricity, linear unit in m) of a CRS.

    Cached: every block of a mosaic asks, and building a pyproj CRS costs ~1 ms.
    """
    pcrs = pyproj.CRS.from_user_input(key)
    ell = pcrs.ellipsoid
    inv_f = ell.inverse_flattening if ell is not None else 0.0
    e = 0.0 if not inv_f else float(np.sqrt((2.0 - 1.0 / inv_f) / inv_f))
    a = ell.semi_major_metre if ell is not None else 6371007.2
    axis = pcrs.axis_info[0] if pcrs.axis_info else None
    unit = float(axis.unit_conversion_factor) if axis is not None and not pcrs.is_geographic else 1.0
    return _area_kind(pcrs), a, e, unit


def _area_kind(pcrs: pyproj.CRS) -> AreaKind:
    if pcrs.is_geographic:
        return "geographic"
    op = pcrs.coordinate_operation
    method = (op.method_name if op is not None else "").lower()
    if any(word in method for word in _EQUAL_AREA_WORDS):
        return "equal_area"
    return "other"


def _authalic_q(phi: np.ndarray, e: float) -> np.ndarray:
    s = np.sin(phi)
    if e == 0.0:
        return 2.0 * s
    es = e * s
    return (1.0 - e * e) * (s / (1.0 - es * es) - np.log((1.0 - es) / (1.0 + es)) / (2.0 * e))


def geographic_row_areas_km2(grid: Grid, row0: int = 0, row1: int | None = None) -> np.ndarray:
    """Exact ellipsoidal area (km²) of one pixel in each row ``row0:row1`` of a lat/lon grid."""
    row1 = grid.shape[0] if row1 is None else row1
    _, a, e, _ = _crs_facts(_crs_key(grid.crs))
    t = grid.transform
    edges = t.f + np.arange(row0, row1 + 1, dtype=np.float64) * t.e
    phi = np.radians(np.clip(edges, -90.0, 90.0))
    q = _authalic_q(phi, e)
    dlon = np.radians(abs(t.a))
    return np.abs(a * a * dlon * (q[1:] - q[:-1]) / 2.0) / 1e6


def resolve_area(grid: Grid, area: str = "exact", *, name: str = "mosaic", stacklevel: int = 3) -> AreaMode:
    """Apply the area rule to a grid once, at the top of a public function.

    Parameters
    ----------
    grid : Grid
        The mosaic's grid.
    area : {"exact", "pyproj", "nominal"}
        See the module docstring (``"auto"`` = ``"exact"``).
    name : str
        How to call the mosaic in messages (file name, argument name).

    Returns
    -------
    AreaMode
        The mode to pass to :func:`pixel_areas_km2` for every block.

    Raises
    ------
    UnsupportedCRSError
        ``area="exact"`` on a CRS that is neither geographic nor equal-area.
    ValueError
        An unknown ``area``.
    """
    mode = _mode(area)
    if crs_area_kind(grid.crs) != "other":
        return mode
    if mode == "exact":
        raise _refusal(grid, name)
    if mode == "nominal":
        warnings.warn(
            f"{name}: CRS '{_crs_name(grid)}' does not preserve area; area='nominal' takes the nominal pixel size "
            f"({_nominal_km2(grid):.6g} km²) as every pixel's area, so km² columns carry the projection's "
            "areal distortion. Reproject to an equal-area CRS or EPSG:4326 (or pass area='pyproj') for true areas.",
            NominalAreaWarning,
            stacklevel=stacklevel,
        )
    return mode


def _mode(area: str) -> AreaMode:
    wanted = "exact" if area == "auto" else area
    for mode in AREA_MODES:  # a loop, not `in`: mypy < 1.11 narrows no str to a Literal with `in`
        if wanted == mode:
            return mode
    raise ValueError(f"area={area!r}: use 'exact' (default), 'pyproj' or 'nominal' (see nightlight.area).")


def _crs_name(grid: Grid) -> str:
    return pyproj.CRS.from_user_input(grid.crs).name


def _refusal(grid: Grid, name: str) -> UnsupportedCRSError:
    return UnsupportedCRSError(
        f"{name}: CRS '{_crs_name(grid)}' is a projection that does not preserve area, so pixel counts are not "
        "ground areas. Fix: pass area='pyproj' (per-pixel areas from pyproj's areal scale factor), "
        f"area='nominal' (take the nominal pixel size, {_nominal_km2(grid):.6g} km², as every pixel's area), "
        "or reproject the mosaic to an equal-area CRS or EPSG:4326."
    )


def _nominal_km2(grid: Grid) -> float:
    unit = _crs_facts(_crs_key(grid.crs))[3]
    return abs(grid.transform.a * grid.transform.e) * unit * unit / 1e6


def pixel_areas_km2(grid: Grid, row0: int, row1: int, col0: int, col1: int, *, area: AreaMode = "exact") -> np.ndarray:
    """Ground area (km²) of the pixels of the window ``[row0:row1, col0:col1]``.

    The block-level half of the area rule (:func:`resolve_area` is the per-call half:
    it warns for ``"nominal"``, this does not).

    Returns
    -------
    ndarray
        ``(h, 1)`` when the area depends on the row only (geographic and equal-area
        grids, ``area="nominal"``), else ``(h, w)`` (``area="pyproj"`` on other projections).

    Raises
    ------
    UnsupportedCRSError
        A CRS that is neither geographic nor equal-area, and ``area="exact"``.
    """
    mode, kind = _mode(area), crs_area_kind(grid.crs)
    h = row1 - row0
    if kind == "geographic":
        return geographic_row_areas_km2(grid, row0, row1)[:, None]
    nominal = _nominal_km2(grid)
    if kind == "equal_area" or mode == "nominal":
        return np.full((h, 1), nominal)
    if mode == "exact":
        raise _refusal(grid, "mosaic")
    t = grid.transform
    cols = np.arange(col0, col1) + 0.5
    rows = np.arange(row0, row1) + 0.5
    xx = t.c + cols[None, :] * t.a + rows[:, None] * t.b
    yy = t.f + cols[None, :] * t.d + rows[:, None] * t.e
    proj = pyproj.Proj(pyproj.CRS.from_user_input(grid.crs))
    lon, lat = proj(xx, yy, inverse=True)  # Proj keeps the CRS's own units
    factors = proj.get_factors(lon, lat)
    return nominal / np.asarray(factors.areal_scale, dtype=np.float64)
