"""A pixel grid as an object (CRS + affine transform + shape), and alignment checks.

Two mosaics are compared pixel by pixel only after :func:`require_same_grid` has
checked that they share CRS, transform and shape — never by shape alone (the
odc-geo ``GeoBox`` practice). The China DMSP-like 2019 and 2020 files are the
real case this guards: same shape, same CRS, origins ~144 m / ~334 m apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio.crs
import xarray as xr
from affine import Affine

from nightlight.errors import GridMismatchError, MissingCRSError

#: Transforms closer than this fraction of a pixel count as equal (float noise in
#: GeoTIFF headers written by different tools).
PIXEL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Grid:
    """The pixel grid of a 2-D raster.

    Attributes
    ----------
    crs : rasterio.crs.CRS
        Coordinate reference system of the pixel corners.
    transform : affine.Affine
        Maps (col, row) of a pixel's upper-left corner to CRS coordinates.
    shape : tuple[int, int]
        (height, width) in pixels.
    """

    crs: rasterio.crs.CRS
    transform: Affine
    shape: tuple[int, int]

    @classmethod
    def of(cls, da: xr.DataArray, *, name: str = "raster") -> Grid:
        """Read the grid of a 2-D DataArray carrying rioxarray georeferencing."""
        crs = da.rio.crs
        if crs is None:
            raise MissingCRSError(
                f"{name}: CRS not found. Set it with `da.rio.write_crs('EPSG:4326')` "
                "(or the mosaic's real CRS) before passing it to nightlight."
            )
        # recalc=True: derive the transform from the coordinates, not a GeoTransform
        # cached on spatial_ref, which can describe a parent array after slicing
        # (rioxarray 0.19 already prefers the coordinates; older releases did not).
        return cls(crs=crs, transform=da.rio.transform(recalc=True), shape=tuple(da.shape[-2:]))

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        h, w = self.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (w, h)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    def describe(self) -> str:
        """One line for error messages: CRS, origin, pixel size, shape."""
        crs = self.crs.to_string() if self.crs.to_epsg() else (self.crs.to_dict().get("proj") or "custom CRS")
        t = self.transform
        return (
            f"{crs}, origin ({t.c:.6f}, {t.f:.6f}), pixel {t.a:.9g} x {t.e:.9g}, {self.shape[0]} x {self.shape[1]} px"
        )

    def row_centers_y(self, row0: int = 0, row1: int | None = None) -> np.ndarray:
        """CRS y coordinate of pixel centers for rows ``row0:row1``."""
        row1 = self.shape[0] if row1 is None else row1
        rows = np.arange(row0, row1, dtype=np.float64) + 0.5
        return self.transform.f + rows * self.transform.e

    def same_as(self, other: Grid) -> bool:
        """True when CRS, shape and transform agree to :data:`PIXEL_TOLERANCE`."""
        if self.shape != other.shape or self.crs != other.crs:
            return False
        a, b = np.array(self.transform)[:6], np.array(other.transform)[:6]
        px = max(self.res)
        return bool(np.all(np.abs(a - b) <= PIXEL_TOLERANCE * px))


def require_same_grid(a: Any, b: Any, *, names: tuple[str, str] = ("before", "after")) -> Grid:
    """Raise :class:`GridMismatchError` unless ``a`` and ``b`` share one pixel grid.

    Parameters
    ----------
    a, b : xarray.DataArray or Grid
        The rasters (or their grids) to compare.
    names : tuple of str
        How to call them in the message (file names, argument names).

    Returns
    -------
    Grid
        The common grid.
    """
    ga = a if isinstance(a, Grid) else Grid.of(a, name=names[0])
    gb = b if isinstance(b, Grid) else Grid.of(b, name=names[1])
    if ga.same_as(gb):
        return ga
    problems = []
    if ga.crs != gb.crs:
        problems.append("their CRSs differ")
    if ga.shape != gb.shape:
        problems.append(f"their shapes differ ({ga.shape} vs {gb.shape})")
    ta, tb = ga.transform, gb.transform
    if (ta.a, ta.e) != (tb.a, tb.e) and not np.allclose((ta.a, ta.e), (tb.a, tb.e)):
        problems.append(f"their pixel sizes differ ({ta.a:.9g} vs {tb.a:.9g})")
    dx, dy = tb.c - ta.c, tb.f - ta.f
    if abs(dx) > PIXEL_TOLERANCE * ga.res[0] or abs(dy) > PIXEL_TOLERANCE * ga.res[1]:
        problems.append(
            f"their origins are offset by ({dx:.6g}, {dy:.6g}) CRS units "
            f"= ({dx / ga.res[0]:.3f}, {dy / ga.res[1]:.3f}) pixels"
        )
    raise GridMismatchError(
        f"{names[0]} and {names[1]} are not on the same pixel grid: {'; '.join(problems)}.\n"
        f"  {names[0]}: {ga.describe()}\n  {names[1]}: {gb.describe()}\n"
        f"Fix: resample {names[1]} onto the grid of {names[0]} explicitly — in Python "
        f"`nightlight.align_to(<{names[1]}>, <{names[0]}>, resampling='average')` "
        "('nearest' keeps DN integers; 'average' keeps totals), on the command line `--align average`."
    )
