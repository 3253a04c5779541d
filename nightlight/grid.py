"""A pixel grid as an object (CRS + affine transform + shape), and alignment checks.

All pixel ↔ CRS arithmetic of the package lives here (the odc-geo ``GeoBox``
practice): pixel-centre coordinates (:meth:`Grid.coords`), bounding box → pixel window
(:meth:`Grid.window`), sub-grids (:meth:`Grid.slice`), dask chunk edges
(:meth:`Grid.chunk_edges`, :meth:`Grid.blocks`), georeferenced DataArrays
(:meth:`Grid.wrap`) and origin offsets (:meth:`Grid.offset_to`).

Two mosaics are compared pixel by pixel only after :func:`require_same_grid` has
checked that they share CRS, transform and shape — never by shape alone. The China
DMSP-like 2019 and 2020 files are the real case this guards: same shape, same CRS,
origins ~144 m / ~334 m apart.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pyproj
import rasterio.crs
import rasterio.windows
import xarray as xr
from affine import Affine

from nightlight.errors import GridMismatchError, InvalidRasterError, MissingCRSError, ParameterError

#: Transforms closer than this fraction of a pixel count as equal (float noise in
#: GeoTIFF headers written by different tools); also the slack of :meth:`Grid.window`'s rounding.
PIXEL_TOLERANCE = 1e-6

#: Two grids whose origins differ by at most this fraction of a pixel (same CRS, shape
#: and pixel size) count as the same grid for a comparison: the later mosaic is
#: *snapped* onto the base grid (:func:`snap_to_grid`) and the offset recorded in the
#: run's metadata. 0.05 px is ~23 m at 15″ — header rounding between production
#: batches (the China VIIRS-like 2013 grid sits 0.017 px east of 2014–2021), far below
#: the geolocation accuracy of the sensors (VIIRS DNB ~ 0.4 px, DMSP ~ 1–3 km). Larger
#: offsets (the 0.22 px of 2012/2022 in the same series, ~100 m) move the footprint of
#: a city's edge pixels and need an explicit ``align_to`` (odc-geo's approximate
#: GeoBox equality is the model).
GRID_TOLERANCE_PX = 0.05


class PixelWindow(NamedTuple):
    """Rows ``row0:row1`` and columns ``col0:col1`` of a grid (half-open, in pixels)."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.row1 - self.row0, self.col1 - self.col0

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices: ``array[win.slices]`` reads the window."""
        return slice(self.row0, self.row1), slice(self.col0, self.col1)

    def to_rasterio(self) -> rasterio.windows.Window:
        """The same window as a ``rasterio.windows.Window`` (col_off, row_off, width, height)."""
        return rasterio.windows.Window(self.col0, self.row0, self.col1 - self.col0, self.row1 - self.row0)


class GridOffset(NamedTuple):
    """Where another grid's origin lies relative to this one's (``other − self``)."""

    dx: float  #: CRS units (metres on a projected grid, degrees on a geographic one)
    dy: float
    dx_px: float  #: ``dx`` / pixel width: the same offset in this grid's pixels
    dy_px: float  #: ``dy`` / pixel height (positive = towards larger CRS y)


@lru_cache(maxsize=32)
def _transformer(src_wkt: str, dst_wkt: str) -> pyproj.Transformer:
    # Cached: building a transformer costs ~ms and align_to asks once per block.
    # pyproj ≥ 3.1 transformers are thread-safe.
    return pyproj.Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)


def chunk_edges(chunks: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column edges of a 2-D dask chunking: ``rows[i]:rows[i+1]`` is block row ``i``."""
    rows, cols = (np.concatenate([[0], np.cumsum(c)]).astype(np.int64) for c in chunks[-2:])
    return rows, cols


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
        return cls(crs=crs, transform=da.rio.transform(recalc=True), shape=(int(da.shape[-2]), int(da.shape[-1])))

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        return self.window_bounds((0, self.shape[0], 0, self.shape[1]))

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

    def _north_up(self, what: str) -> Affine:
        t = self.transform
        if t.b or t.d:
            raise InvalidRasterError(
                f"{self.describe()}: {what} needs a grid without rotation or shear (transform b = d = 0). "
                "Fix: warp the mosaic to a north-up grid first (e.g. `gdalwarp` or `rio.reproject`)."
            )
        return t

    # ------------------------------------------------------------------ pixels → CRS
    def coords(self) -> dict[str, np.ndarray]:
        """Pixel-centre coordinates ``{"y": (h,), "x": (w,)}`` in CRS units.

        Computed as rioxarray computes them when it opens a GeoTIFF (the transform
        shifted by half a pixel, then ``index · a + c``), to the last bit: an array
        wrapped on a grid and a file of that grid opened by :func:`nightlight.open_mosaic`
        have identical indexes, so xarray arithmetic aligns them instead of dropping
        pixels whose coordinates differ by 1 ulp.
        """
        self._north_up("coords()")
        centre = self.transform @ Affine.translation(0.5, 0.5)
        h, w = self.shape
        return {"y": np.arange(h) * centre.e + centre.f, "x": np.arange(w) * centre.a + centre.c}

    def georeference(self, da: xr.DataArray) -> xr.DataArray:
        """Write this grid's CRS and transform onto ``da``, whose y/x coordinates already are this grid's."""
        if tuple(da.shape[-2:]) != tuple(self.shape):
            raise GridMismatchError(f"georeference: array shape {da.shape[-2:]} is not the grid's {self.shape}.")
        return da.rio.write_crs(self.crs).rio.write_transform(self.transform)

    def wrap(self, array: Any, *, name: Hashable | None = None, attrs: dict | None = None) -> xr.DataArray:
        """A NumPy or dask ``(h, w)`` array as a georeferenced ``(y, x)`` DataArray on this grid.

        Coordinates are the pixel centres (:meth:`coords`); CRS and transform are
        written with rioxarray. The array is not copied or computed.
        """
        if tuple(np.shape(array)) != tuple(self.shape):
            raise GridMismatchError(f"wrap: array shape {np.shape(array)} is not the grid's {self.shape}.")
        da = xr.DataArray(array, dims=("y", "x"), coords=self.coords(), name=name, attrs=dict(attrs or {}))
        return self.georeference(da)

    # ------------------------------------------------------------------ CRS → pixels
    def lonlat_bounds(self, *, densify_pts: int = 21) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the grid in degrees (EPSG:4326); projected edges densified."""
        left, bottom, right, top = self.bounds
        if self.crs.to_epsg() == 4326:
            return left, bottom, right, top
        tr = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        w, s, e, n = tr.transform_bounds(left, bottom, right, top, densify_pts=densify_pts)
        return w, s, e, n

    def window(self, bounds: Sequence[float], crs: Any = None, *, densify_pts: int = 48) -> PixelWindow:
        """The pixel window covering a bounding box, clipped to the grid.

        Parameters
        ----------
        bounds : (left, bottom, right, top)
            In this grid's CRS, or in ``crs`` (e.g. ``"EPSG:4326"``: lon/lat degrees).
        crs : optional
            CRS of ``bounds``. The box's edges are densified with ``densify_pts``
            points between corners and transformed with pyproj's ``transform_bounds``
            (so curved edges and the poles are handled); the window covers the
            transformed points' bounding box.
        densify_pts : int
            Points added along each edge (48: 50 points an edge, corners included).

        Returns
        -------
        PixelWindow
            Rounding rule: every pixel the box overlaps by more than
            :data:`PIXEL_TOLERANCE` of a pixel is in — ``row0 = floor(top_row + tol)``,
            ``row1 = ceil(bottom_row − tol)`` (columns alike), so edges on pixel
            edges take no extra pixel despite float noise. Then clipped to the grid;
            a box outside the grid gives an empty window (``row0 == row1`` or ``col0 == col1``).
        """
        left, bottom, right, top = (float(v) for v in bounds)
        if not (left <= right and bottom <= top):
            raise ValueError(f"window: bounds={tuple(bounds)} must be (left, bottom, right, top) with left ≤ right.")
        if crs is not None and rasterio.crs.CRS.from_user_input(crs) != self.crs:
            src = rasterio.crs.CRS.from_user_input(crs)
            tr = _transformer(src.to_wkt(), self.crs.to_wkt())
            left, bottom, right, top = tr.transform_bounds(left, bottom, right, top, densify_pts=densify_pts)
            if left > right:
                raise ValueError(
                    f"window: bounds={tuple(bounds)} in {src.to_string()} cross the antimeridian of the grid's CRS; "
                    "split the box in two at ±180°."
                )
        t = self._north_up("window()")
        cols = sorted(((left - t.c) / t.a, (right - t.c) / t.a))
        rows = sorted(((top - t.f) / t.e, (bottom - t.f) / t.e))
        h, w = self.shape
        r0 = min(max(0, math.floor(rows[0] + PIXEL_TOLERANCE)), h)
        c0 = min(max(0, math.floor(cols[0] + PIXEL_TOLERANCE)), w)
        r1 = max(min(h, math.ceil(rows[1] - PIXEL_TOLERANCE)), r0)
        c1 = max(min(w, math.ceil(cols[1] - PIXEL_TOLERANCE)), c0)
        return PixelWindow(int(r0), int(r1), int(c0), int(c1))

    def region_window(self, region: Any, *, label: str) -> PixelWindow:
        """:meth:`window` of a lon/lat box ``(west, south, east, north)`` (degrees, EPSG:4326), checked:
        :class:`ParameterError` naming ``label`` when the box is malformed or holds no pixel of the grid."""
        try:
            window = self.window(tuple(float(v) for v in region), crs="EPSG:4326")
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"{label}: region={region!r}: pass (west, south, east, north) in degrees ({exc})."
            ) from exc
        if window.shape[0] == 0 or window.shape[1] == 0:
            raise ParameterError(
                f"{label}: region={tuple(region)} does not overlap the mosaic ({self.describe()}); "
                "check the order (west, south, east, north)."
            )
        return window

    def window_bounds(self, window: PixelWindow | Sequence[int]) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units of a pixel window ``(row0, row1, col0, col1)``.

        The inverse of :meth:`window`: ``grid.window(grid.window_bounds(w)) == w``.
        """
        r0, r1, c0, c1 = window
        x0, y0 = self.transform @ (c0, r0)
        x1, y1 = self.transform @ (c1, r1)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def slice(self, window: PixelWindow | rasterio.windows.Window | Sequence[int]) -> Grid:
        """The sub-grid of ``window`` (a :class:`PixelWindow`, ``(row0, row1, col0, col1)`` or rasterio Window)."""
        if isinstance(window, rasterio.windows.Window):
            r0, c0 = int(window.row_off), int(window.col_off)
            r1, c1 = r0 + int(window.height), c0 + int(window.width)
        else:
            r0, r1, c0, c1 = (int(v) for v in window)
        if not (0 <= r0 <= r1 <= self.shape[0] and 0 <= c0 <= c1 <= self.shape[1]):
            raise ValueError(f"slice: window rows {r0}:{r1}, cols {c0}:{c1} is not inside the grid {self.shape}.")
        return Grid(self.crs, self.transform @ Affine.translation(c0, r0), (r1 - r0, c1 - c0))

    # ------------------------------------------------------------------ chunks
    def chunk_edges(self, chunks: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Row and column edges (int64, ``len = nblocks + 1``) of a dask chunking of this grid."""
        rows, cols = chunk_edges(chunks)
        if (int(rows[-1]), int(cols[-1])) != tuple(self.shape):
            raise GridMismatchError(
                f"chunk_edges: chunks add up to {int(rows[-1])} x {int(cols[-1])} px, the grid is {self.shape}."
            )
        return rows, cols

    def blocks(self, chunks: Sequence[Sequence[int]]) -> Iterator[tuple[int, int, PixelWindow]]:
        """``(i, j, window)`` of every block of a dask chunking, row-major."""
        rows, cols = self.chunk_edges(chunks)
        for i in range(len(rows) - 1):
            for j in range(len(cols) - 1):
                yield i, j, PixelWindow(int(rows[i]), int(rows[i + 1]), int(cols[j]), int(cols[j + 1]))

    # ------------------------------------------------------------------ comparisons
    def offset_to(self, other: Grid) -> GridOffset:
        """Origin of ``other`` minus origin of this grid, in CRS units and in this grid's pixels.

        Both grids must share a CRS (an offset between CRSs has no single unit).
        """
        if other.crs != self.crs:
            raise GridMismatchError(
                f"offset_to: the grids are in different CRSs ({self.crs.to_string()} vs {other.crs.to_string()}); "
                "reproject one onto the other first (nightlight.align_to)."
            )
        dx = float(other.transform.c - self.transform.c)
        dy = float(other.transform.f - self.transform.f)
        return GridOffset(dx, dy, dx / self.res[0], dy / self.res[1])

    def same_as(self, other: Grid) -> bool:
        """True when CRS, shape and transform agree to :data:`PIXEL_TOLERANCE`."""
        if self.shape != other.shape or self.crs != other.crs:
            return False
        a, b = np.array(self.transform)[:6], np.array(other.transform)[:6]
        px = max(self.res)
        return bool(np.all(np.abs(a - b) <= PIXEL_TOLERANCE * px))


def _offset_within(ga: Grid, gb: Grid, tolerance_px: float) -> GridOffset | None:
    """The origin offset when the grids differ only by it, and by at most ``tolerance_px``; else None."""
    if ga.crs != gb.crs or ga.shape != gb.shape:
        return None
    ta, tb = ga.transform, gb.transform
    if not np.allclose((ta.a, ta.b, ta.d, ta.e), (tb.a, tb.b, tb.d, tb.e), rtol=1e-9, atol=0.0):
        return None
    off = ga.offset_to(gb)
    return off if max(abs(off.dx_px), abs(off.dy_px)) <= tolerance_px else None


def snap_to_grid(
    da: xr.DataArray,
    grid: Grid | xr.DataArray,
    *,
    names: tuple[str, str] = ("base", "mosaic"),
    tolerance_px: float = GRID_TOLERANCE_PX,
) -> tuple[xr.DataArray, GridOffset | None]:
    """``da`` on ``grid``: unchanged when the grids are equal, snapped when they differ by ≤ ``tolerance_px``.

    Snapping re-labels the pixels (same values, the base grid's coordinates and
    transform) — no resampling. Given the base *array*, its own ``x``/``y`` coordinate
    arrays are assigned, so the two are equal to the last bit and xarray arithmetic
    aligns them (coordinates recomputed from a transform can differ by an ulp from a
    cropped file's, and xarray's inner join would drop those rows and columns).
    Returns the array and the offset that was snapped away (None when there was none);
    beyond the tolerance :class:`GridMismatchError` asks for an explicit
    :func:`nightlight.align_to` (see :data:`GRID_TOLERANCE_PX`).
    """
    base = grid if isinstance(grid, Grid) else Grid.of(grid, name=names[0])
    coords = base.coords() if isinstance(grid, Grid) else {"y": grid["y"].values, "x": grid["x"].values}
    gd = Grid.of(da, name=names[1])
    same = gd.same_as(base)
    off = None if same else _offset_within(base, gd, tolerance_px)
    if not same and off is None:
        require_same_grid(base, gd, names=names, tolerance_px=tolerance_px)  # raises with the full diagnosis
    if same and all(np.array_equal(da[d].values, coords[d]) for d in ("y", "x")):
        return da, None
    return base.georeference(da.assign_coords(coords)), off


def require_same_grid(
    a: Any, b: Any, *, names: tuple[str, str] = ("before", "after"), tolerance_px: float = PIXEL_TOLERANCE
) -> Grid:
    """Raise :class:`GridMismatchError` unless ``a`` and ``b`` share one pixel grid.

    Parameters
    ----------
    a, b : xarray.DataArray or Grid
        The rasters (or their grids) to compare.
    names : tuple of str
        How to call them in the message (file names, argument names).
    tolerance_px : float
        Origin offsets up to this fraction of a pixel count as the same grid
        (default: float noise only; comparisons use :func:`snap_to_grid` with
        :data:`GRID_TOLERANCE_PX`).

    Returns
    -------
    Grid
        The common grid.
    """
    ga = a if isinstance(a, Grid) else Grid.of(a, name=names[0])
    gb = b if isinstance(b, Grid) else Grid.of(b, name=names[1])
    if ga.same_as(gb) or (tolerance_px > PIXEL_TOLERANCE and _offset_within(ga, gb, tolerance_px) is not None):
        return ga
    problems = []
    if ga.crs != gb.crs:
        problems.append("their CRSs differ")
    if ga.shape != gb.shape:
        problems.append(f"their shapes differ ({ga.shape} vs {gb.shape})")
    ta, tb = ga.transform, gb.transform
    if (ta.a, ta.e) != (tb.a, tb.e) and not np.allclose((ta.a, ta.e), (tb.a, tb.e)):
        problems.append(f"their pixel sizes differ ({ta.a:.9g} vs {tb.a:.9g})")
    off = ga.offset_to(gb) if ga.crs == gb.crs else None
    if off is not None and (abs(off.dx_px) > PIXEL_TOLERANCE or abs(off.dy_px) > PIXEL_TOLERANCE):
        problems.append(
            f"their origins are offset by ({off.dx:.6g}, {off.dy:.6g}) CRS units "
            f"= ({off.dx_px:.3f}, {off.dy_px:.3f}) pixels"
            + (
                f" (up to {tolerance_px:g} px is accepted as the same grid and snapped; this is more)"
                if tolerance_px >= GRID_TOLERANCE_PX
                else " (this step needs identical grids: snap offsets up to "
                f"{GRID_TOLERANCE_PX:g} px with nightlight.grid.snap_to_grid, or resample)"
            )
        )
    raise GridMismatchError(
        f"{names[0]} and {names[1]} are not on the same pixel grid: {'; '.join(problems)}.\n"
        f"  {names[0]}: {ga.describe()}\n  {names[1]}: {gb.describe()}\n"
        f"Fix: resample {names[1]} onto the grid of {names[0]} explicitly — in Python "
        f"`nightlight.align_to(<{names[1]}>, <{names[0]}>, resampling='average')` "
        "('nearest' keeps DN integers; 'average' keeps totals), on the command line `--align average`."
    )
