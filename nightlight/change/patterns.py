"""The six shrinkage patterns of Jiang, Zhai, Meng & Long (2020), from pixel-level change.

Jiang et al. (2020, J. Urban Plann. Dev. 146(4)) sort shrinking natural cities by
*where* their shrinking pixels sit: **complete** (nearly the whole city, ≈ 5 % of
shrinking cities), **central** (the core), **peripheral** (a ring at the edge),
**unilateral** (one side), **local** (one compact part) and **scatter** (dispersed).
The paper describes them in words; the rules and thresholds below are ours.

Pixels
------
A city's *pixels* are those whose centre lies inside its polygon (the city's
geometry). Of them, the *usable* ones are valid (finite) in both years with a
base-year value > ``floor``; a usable pixel *declines* when
``(after − before) / before ≤ −threshold`` (the city-level rule, pixel by pixel).
``s`` = declining share of the usable pixels.

Geometry, all from the city's own pixels (so a city gets the same answer in any
window, at any whole-pixel position, turned by 90° or mirrored); lengths in pixels:

* centre ``c`` = centroid of the city's pixels; ``r_eq = √(pixels / π)``;
* ``d_c`` = distance of a pixel centre to ``c``; ``d_e`` = distance to the city's
  edge (Euclidean distance to the nearest outside pixel centre, minus ½ pixel; the
  window's border counts as outside);
* **normalised radius** ``ρ = d_c / (d_c + d_e)``: 0 at the centre, → 1 at the
  edge; ``r/R`` on a disc, and on any star-shaped city a pixel's share of the way
  out, so about a quarter of the area has ``ρ < ½`` whatever the city's shape;
* ``Δρ`` = mean ρ of the declining minus mean ρ of the other usable pixels
  (< 0: the decline sits nearer the centre than the rest);
* ``δ`` = distance from ``c`` to the centroid of the declining pixels / ``r_eq``;
* **outer zone** = usable pixels with ``ρ ≥ 1/√2`` (about the outer half of the area, so
  it has pixels even in small cities); 8 **sectors** of 45° around ``c`` centred on
  0°, 45° … (their boundaries, at 22.5° + k·45°, have irrational slopes and never
  pass through a pixel centre, and a 90° turn maps sectors onto sectors);
  ``coverage`` = share of the sectors holding outer pixels in which ≥ 20 % of those
  pixels decline;
* ``side`` = chance-corrected purity of a straight cut: take the ``n`` usable pixels
  farthest out along the direction from ``c`` to the centroid of the declining
  pixels (``n`` = number declining; ties at the cut share out evenly); ``P`` = their
  declining share; ``side = (P − s) / (1 − s)``: 1 when the declining pixels are
  exactly the part of the city beyond a line, ≈ 0 for a random set (Cohen's kappa
  of "beyond the line" against "declines");
* ``L`` = largest 8-connected cluster of declining pixels / declining pixels in
  clusters of ≥ 2 (isolated pixels are left out so pixel noise does not split one
  patch into "many"; ``1/n`` when every declining pixel is isolated);
* ``I`` = Moran's I of the 0/1 decline indicator over the usable pixels, binary
  8-neighbour weights: ≈ 0 for dispersed (random) declines at any density, → 1 for
  one solid patch.

Rules, first match wins (so the classes are exclusive)
------------------------------------------------------
The "planted" figures are 1st/99th percentiles over 300 planted cities per class
(discs, ellipses and wobbly blobs of 6–18 px radius, 3 % of the pixels flipped; the
generator is in ``tests/change/test_patterns.py``).

=============  =========================================  ===================================================
class          rule                                       why this threshold
=============  =========================================  ===================================================
``too_small``  no usable pixel                            nothing to classify
``none``       s < 0.05                                   almost no pixel declines: pixel-noise level
                                                          (planted noise alone: s ≈ 0.03)
``complete``   s ≥ 0.80                                   nearly the whole city; a city that declines
                                                          everywhere keeps s ≥ 0.94 under 3 % noise
``too_small``  usable pixels < 9 (:data:`MIN_PIXELS`)     a 3 × 3 block is the least with a centre and a
                                                          ring; below it *where* is undefined (none and
                                                          complete need no geometry, so come first)
``central``    Δρ ≤ −0.20 and δ ≤ 0.25                    a core disc of any radius has Δρ ≤ −⅓ exactly
                                                          (planted ≤ −0.33); planted scatter |Δρ| ≤ 0.09; δ
                                                          keeps an inner but off-centre patch out (planted
                                                          central δ ≤ 0.09)
``peripheral`` Δρ ≥ +0.20 and coverage ≥ 0.75             an edge ring has Δρ ≥ +⅓ (planted ≥ 0.27); it
                                                          must decline in ≥ 6 of 8 directions (≥ 270°):
                                                          a one-sided edge decline covers ≤ 0.62; 20 % per
                                                          sector is well above 3 % noise
``unilateral`` side ≥ 0.60                                the part beyond a line, a half to a third of the
                                                          city: planted ≥ 0.65 (median 0.86); a round
                                                          patch, touching the edge or not, ≤ 0.37; random
                                                          sets ≤ 0.19
``local``      L ≥ 0.60 and I ≥ 0.25                      one solid patch holds most declining pixels:
                                                          planted local L ≥ 0.76, I ≥ 0.28; scatter L ≤
                                                          0.55, I ≤ 0.14 (I stops a dense random set that
                                                          percolates into one cluster)
``scatter``    otherwise                                  dispersed: several patches or isolated pixels
=============  =========================================  ===================================================

Recovery of the planted classes (300 cities each): at 6–18 px radius with 3 % noise
every pattern ≥ 99.7 % (a noise-only city is none 96 %, else scatter); with 6 % noise
local falls to 93 % (→ scatter) and noise alone is scatter, not none; at 3–6 px
radius (28–113 pixels) local patches of 3–10 pixels are found 65 % of the time
(→ scatter), none 81 %, the other patterns ≥ 96.7 %.

``too_small`` and ``none`` are *statuses*, not patterns: :data:`PATTERNS` holds the
six, :data:`STATUSES` the two. The thresholds are module constants; the features are
in :func:`pattern_features`, so each rule can be checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from nightlight._backend import as_dask
from nightlight.grid import PixelWindow, require_same_grid
from nightlight.io.zones import centre_pixels, gather, pixel_windows
from nightlight.kernels import patterns as KP

PATTERNS = ("complete", "central", "peripheral", "unilateral", "local", "scatter")
STATUSES = ("none", "too_small")

MIN_PIXELS = 9
NONE_SHARE = 0.05
COMPLETE_SHARE = 0.80
OUTER_RHO = 1 / np.sqrt(2)
SECTORS = 8
SECTOR_SHARE = 0.20
CENTRAL_SHIFT = 0.20
CENTRAL_OFFSET = 0.25
PERIPHERAL_SHIFT = 0.20
PERIPHERAL_COVERAGE = 0.75
UNILATERAL_SIDE = 0.60
LOCAL_CLUSTER = 0.60
LOCAL_MORAN = 0.25
#: Cities classified together by :func:`shrinkage_patterns`: at most this many pixels in their windows (memory).
BATCH_PIXELS = 1 << 22


@dataclass(frozen=True)
class PatternFeatures:
    """The numbers the rules read (see the module docstring for each)."""

    usable: int
    declining: int
    share: float
    rho_shift: float
    offset: float
    coverage: float
    side: float
    largest_cluster: float
    moran: float


def declining_pixels(
    before: np.ndarray, after: np.ndarray, inside: np.ndarray, *, threshold: float = 0.10, floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Usable and declining pixels of one city window (the module docstring's "Pixels").

    Returns
    -------
    usable, declining : 2-D bool arrays
    """
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    usable = np.asarray(inside, dtype=bool) & np.isfinite(before) & np.isfinite(after) & (before > floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        # the city-level form (classify_decline): an exact −10 % counts
        declining = usable & ((after - before) / before <= -threshold)
    return usable, declining


def pattern_features(declining: np.ndarray, usable: np.ndarray, inside: np.ndarray) -> PatternFeatures:
    """Features of one city: its pixels ``inside``, the ``usable`` ones, the ``declining`` ones.

    All three are 2-D bool arrays of one window (``declining ⊆ usable ⊆ inside``).
    Lengths are in pixels, so a window on any grid works; the window's border counts
    as the city's edge. Computed by the numba kernel :func:`nightlight.kernels.patterns.city_features`.
    """
    inside = np.ascontiguousarray(inside, dtype=bool)
    usable = np.asarray(usable, dtype=bool) & inside
    declining = np.asarray(declining, dtype=bool) & usable
    f = KP.city_features(inside, usable, declining, OUTER_RHO, SECTORS, SECTOR_SHARE)
    return PatternFeatures(int(f[0]), int(f[1]), *(float(v) for v in f[2:]))


def pattern_of(f: PatternFeatures) -> str:
    """The class of one city's features: the rules table of the module docstring, in order."""
    if f.usable == 0:
        return "too_small"
    if f.share < NONE_SHARE:
        return "none"
    if f.share >= COMPLETE_SHARE:
        return "complete"
    if f.usable < MIN_PIXELS:
        return "too_small"
    if f.rho_shift <= -CENTRAL_SHIFT and f.offset <= CENTRAL_OFFSET:
        return "central"
    if f.rho_shift >= PERIPHERAL_SHIFT and f.coverage >= PERIPHERAL_COVERAGE:
        return "peripheral"
    if f.side >= UNILATERAL_SIDE:
        return "unilateral"
    if f.largest_cluster >= LOCAL_CLUSTER and f.moran >= LOCAL_MORAN:
        return "local"
    return "scatter"


def classify_pattern(
    before: np.ndarray, after: np.ndarray, inside: np.ndarray, *, threshold: float = 0.10, floor: float = 0.0
) -> str:
    """Shrinkage pattern of one city from its pixel windows.

    Parameters
    ----------
    before, after : 2-D float arrays
        Base-year and later-year pixel values of a window around the city (mosaic
        units; NaN = no data).
    inside : 2-D bool array
        The city's pixels (inside its polygon).
    threshold : float
        Pixel decline that counts (relative; 0.10 = −10 %), as the city-level test.
    floor : float
        Base-year pixels at or below this (mosaic units) are not usable: no meaningful
        relative change.

    Returns
    -------
    str
        One of :data:`PATTERNS`, or a status of :data:`STATUSES`.
    """
    usable, declining = declining_pixels(before, after, inside, threshold=threshold, floor=floor)
    return pattern_of(pattern_features(declining, usable, inside))


def zone_patterns(
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    before: np.ndarray,
    after: np.ndarray,
    zones: np.ndarray,
    *,
    threshold: float,
    floor: float,
) -> list[str]:
    """:func:`classify_pattern` of each zone in ``zones`` from its pixels.

    ``pixels``: ``(zone, row, col)`` (:func:`~nightlight.io.zones.zone_pixels` of pixel-traced
    zones, :func:`~nightlight.io.zones.centre_pixels` of any others); ``before``/``after``: the
    values at them. The window is the zone's pixel bounding box (the features do not depend on
    the window); a zone without pixels is ``too_small``.
    """
    zone, row, col = pixels
    order = np.argsort(zone, kind="stable")
    starts = np.searchsorted(zone[order], zones, "left")
    stops = np.searchsorted(zone[order], zones, "right")
    out = []
    for lo, hi in zip(starts.tolist(), stops.tolist()):
        own = order[lo:hi]
        r, c = row[own], col[own]
        if len(own):
            r, c = r - r.min(), c - c.min()
        shape = (int(r.max(initial=0)) + 1, int(c.max(initial=0)) + 1)
        flat = r.astype(np.int64) * shape[1] + c
        inside = np.zeros(shape, bool)
        b, a = np.full(shape, np.nan), np.full(shape, np.nan)
        inside.ravel()[flat], b.ravel()[flat], a.ravel()[flat] = True, before[own], after[own]
        out.append(classify_pattern(b, a, inside, threshold=threshold, floor=floor))
    return out


def shrinkage_patterns(
    geoms, before: xr.DataArray, after: xr.DataArray, *, threshold: float = 0.10, floor: float = 0.0
) -> list[str | None]:
    """Shrinkage pattern of each geometry (in the mosaics' CRS); None for empty ones and those off the grid.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        City polygons in the mosaics' CRS, any shape (admin units, user polygons; they may overlap).
    before, after : DataArray
        Base-year and later-year mosaics on one grid.
    threshold, floor : float
        As :func:`classify_pattern`.

    Returns
    -------
    list of str or None
        One of :data:`PATTERNS` or :data:`STATUSES` per geometry, in input order.

    Notes
    -----
    A city's pixels are those whose centre lies inside it (:func:`nightlight.io.zones.centre_pixels`);
    for a batch of cities (:data:`BATCH_PIXELS`) their values are read from both mosaics in one
    pass over the chunks holding them (:func:`nightlight.io.zones.gather`), then classified by
    :func:`zone_patterns`, as the pixels a decline run gathered for pixel-traced zones (natural cities) are.
    """
    grid = require_same_grid(before, after)
    geoms = np.asarray(geoms, dtype=object)
    out: list[str | None] = [None] * len(geoms)
    for batch in _batches(pixel_windows(geoms, grid), band=as_dask(before).chunks[0][0]):
        pixels = centre_pixels(geoms[batch], grid)
        b, a = gather([before, after], *pixels[1:])
        got = zone_patterns(pixels, b, a, np.arange(len(batch)), threshold=threshold, floor=floor)
        for i, label in zip(batch.tolist(), got):
            out[i] = label
    return out


def _batches(windows: dict[int, PixelWindow], *, band: int) -> list[np.ndarray]:
    """The geometries in batches of at most :data:`BATCH_PIXELS` window pixels (one larger alone), chunk row
    by chunk row (``band`` rows) and left to right, so a batch reads few chunks and its neighbour the next ones."""
    batches: list[list[int]] = []
    size = BATCH_PIXELS
    for i in sorted(windows, key=lambda k: (windows[k].row0 // band, windows[k].col0)):
        n = windows[i].shape[0] * windows[i].shape[1]
        if size + n > BATCH_PIXELS:
            batches.append([])
            size = 0
        batches[-1].append(i)
        size += n
    return [np.array(b) for b in batches]
