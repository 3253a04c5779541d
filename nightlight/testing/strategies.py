"""Hypothesis strategies: chunkings, lit masks, small mosaics, polygons on a grid.

Hypothesis is imported when a strategy is built, not when this module is imported
(it is a test dependency, not a runtime one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely
import shapely.affinity
import xarray as xr

from nightlight.grid import Grid


def _hypothesis() -> tuple[Any, Any]:
    try:
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp
    except ImportError as err:  # a test extra, not a runtime dependency
        raise ImportError(
            "nightlight.testing strategies need hypothesis, which is a test dependency: "
            "pip install 'nightlight[test]' (or pip install hypothesis)."
        ) from err
    return st, hnp


def chunkings(shape: Sequence[int], *, max_blocks: int = 12, irregular: bool = False) -> Any:
    """Strategy: chunks for an array of ``shape`` that need not divide it.

    Parameters
    ----------
    shape : sequence of int
        The array's shape (every side ≥ 1).
    max_blocks : int
        At most this many blocks along each dimension (keeps an example fast; down to
        1-pixel blocks on sides ≤ ``max_blocks``).
    irregular : bool
        Also draw uneven block sizes along a dimension (``((3, 5, 2), ...)``, as after
        slicing a chunked array), not just one edge with a shorter last block.

    Returns
    -------
    hypothesis strategy of tuple
        One entry per dimension: an int edge, or (``irregular``) a tuple of block sizes.
    """
    st, _ = _hypothesis()
    if any(int(n) < 1 for n in shape):
        raise ValueError(f"chunkings: shape={tuple(shape)} has an empty side; every side must be ≥ 1.")

    def one(n: int) -> Any:
        even = st.integers(min_value=-(-n // max_blocks), max_value=n)
        if not irregular or n == 1:
            return even
        cuts = st.lists(st.integers(1, n - 1), unique=True, max_size=min(max_blocks, n) - 1).map(sorted)
        uneven = cuts.map(lambda c: tuple(int(b - a) for a, b in zip([0, *c], [*c, n])))
        return st.one_of(even, uneven)

    return st.tuples(*(one(int(n)) for n in shape))


def _shapes(min_side: int, max_side: int) -> Any:
    st, _ = _hypothesis()
    side = st.integers(min_value=min_side, max_value=max_side)
    return st.tuples(side, side)


def masks(max_side: int = 40) -> Any:
    """Strategy: boolean 2-D arrays with sides in ``[1, max_side]`` (lit-pixel masks)."""
    st, hnp = _hypothesis()
    return _shapes(1, max_side).flatmap(lambda s: hnp.arrays(np.bool_, s, elements=st.booleans()))


def mosaics(
    max_side: int = 24,
    *,
    min_side: int = 1,
    shape: tuple[int, int] | None = None,
    dtype: Any = np.float32,
    min_value: float = -5.0,
    max_value: float = 500.0,
    nan: bool = True,
) -> Any:
    """Strategy: small float 2-D rasters as plain arrays, with NaN and negative values.

    Values lie in ``[min_value, max_value]`` (radiance-like: negative VIIRS noise up to
    bright cores, nW/cm²/sr) plus NaN (nodata) when ``nan``. Wrap a drawn array with
    :func:`georeferenced` to get a mosaic: ``mosaics().map(georeferenced)``.
    """
    st, hnp = _hypothesis()
    width = 32 if np.dtype(dtype) == np.float32 else 64
    elements = st.floats(min_value, max_value, width=width, allow_nan=False, allow_infinity=False)
    if nan:
        elements = st.one_of(elements, st.just(float("nan")))
    shapes = st.just(tuple(shape)) if shape is not None else _shapes(min_side, max_side)
    return shapes.flatmap(lambda s: hnp.arrays(dtype, s, elements=elements))


def polygons_in(grid: Grid | xr.DataArray, *, outside: float = 0.0, max_radius: float | None = None) -> Any:
    """Strategy: valid, non-empty polygons or multipolygons on a grid, in its CRS.

    Each of 1–3 parts is a star-shaped polygon with 4–12 vertices at arbitrary (non
    pixel-aligned) positions, or a box whose edges lie on whole or half pixels; a part
    may have a hole; parts are unioned (touching or overlapping parts merge, others make
    a MultiPolygon).

    Vertices are snapped to multiples of 2⁻¹⁰ pixels (``shapely.set_precision``, which
    keeps the result valid). Without it, unions of floating-point shapes leave slivers
    and spikes ~1e-16 px wide (vertices like ``1.2e-16`` next to ``0``), on which GEOS
    ``clip_by_rect`` raises and exactextract 0.3 crashes. 2⁻¹⁰ is exact in binary, so
    pixel sizes such as 1000, 500 or 250 m keep the snapped vertices exact in the CRS.

    Parameters
    ----------
    grid : Grid or georeferenced DataArray
    outside : float
        How far a part's centre may lie beyond the grid, as a share of its width and
        height; 0 keeps centres inside (parts near the edge still cross it).
    max_radius : float, optional
        Largest part radius in pixels (default half the grid's larger side; the smallest is 0.1 px).
    """
    st, _ = _hypothesis()
    g = grid if isinstance(grid, Grid) else Grid.of(grid)
    h, w = g.shape
    t = g.transform
    r_max = max(h, w) / 2 if max_radius is None else max_radius

    @st.composite
    def star(draw: Callable) -> shapely.Geometry:
        cx = draw(st.floats(-outside * w, w * (1 + outside)))
        cy = draw(st.floats(-outside * h, h * (1 + outside)))
        n = draw(st.integers(4, 12))
        size = draw(st.floats(0.1, max(0.1, r_max)))  # radius in pixels
        # angle gaps < π keep the centre inside, so the ring is simple (star-shaped)
        jitter = draw(st.lists(st.floats(0.0, 0.49), min_size=n, max_size=n))
        radii = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
        ang = 2 * np.pi * (np.arange(n) + np.array(jitter)) / n
        r = size * np.array(radii)
        outer = np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]
        ring = [outer]
        if draw(st.booleans()):
            f = draw(st.floats(0.2, 0.8))  # the part scaled about its centre lies strictly inside it
            ring.append(np.c_[cx + f * r * np.cos(ang), cy + f * r * np.sin(ang)][::-1])
        return shapely.Polygon(ring[0], ring[1:])

    @st.composite
    def box(draw: Callable) -> shapely.Geometry:
        half = st.integers(int(-2 * outside * w), int(2 * w * (1 + outside)))
        x0, x1 = sorted(draw(st.lists(half, min_size=2, max_size=2, unique=True)))
        half = st.integers(int(-2 * outside * h), int(2 * h * (1 + outside)))
        y0, y1 = sorted(draw(st.lists(half, min_size=2, max_size=2, unique=True)))
        return shapely.box(x0 / 2, y0 / 2, x1 / 2, y1 / 2)

    def to_crs(geom: shapely.Geometry) -> shapely.Geometry:  # pixel (col, row) → CRS: the grid's transform
        return shapely.affinity.affine_transform(geom, t.to_shapely())

    def merge(parts: list[shapely.Geometry]) -> shapely.Geometry:
        geom = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        geom = shapely.set_precision(geom, 2**-10)  # the vertex grid of the docstring
        if not geom.is_valid:  # unions of valid parts are valid; this is a guard
            geom = shapely.make_valid(geom)
        polys = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and p.area > 0]
        if not polys:
            return shapely.Polygon()
        return to_crs(polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys))

    part = st.one_of(star(), box())
    # a part smaller than the vertex grid vanishes when snapped: draw again (rare)
    return st.lists(part, min_size=1, max_size=3).map(merge).filter(lambda g: not g.is_empty)
