"""The six shrinkage patterns on planted cities (rules in nightlight.change.patterns' docstring).

Cities are discs, ellipses and wobbly blobs of 6–18 px radius; the decline is planted
from the test's own polar geometry (not the module's), then 3 % of the city's pixels
flip. The features are checked against brute-force twins (cdist distances, a dense
weight matrix for Moran's I, a breadth-first flood fill for the clusters).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import scipy.ndimage as ndi
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from nightlight.change import patterns as P
from nightlight.change.patterns import (
    PATTERNS,
    STATUSES,
    PatternFeatures,
    classify_pattern,
    declining_pixels,
    pattern_features,
    pattern_of,
    shrinkage_patterns,
)
from nightlight.errors import GridMismatchError
from nightlight.testing import georeferenced

NOISE = 0.03


# --------------------------------------------------------------------------- planted world
def city(r, *, wobble=0.0, aspect=1.0, phase=0.0, pad=3):
    """A star-shaped city: radius R(θ) = r · ellipse(aspect, phase) · (1 + wobble · sin 3θ)."""
    n = int(np.ceil(2 * r * max(aspect, 1.0) * (1 + wobble))) + 2 * pad + 1
    c = (n - 1) / 2 + 0.31  # off the pixel lattice: no symmetry ties in the plant itself
    yy, xx = np.mgrid[0:n, 0:n]
    dy, dx = yy - c, xx - c
    th = np.arctan2(dy, dx)
    a, b = r * np.sqrt(aspect), r / np.sqrt(aspect)
    ell = a * b / np.hypot(b * np.cos(th - phase), a * np.sin(th - phase))
    big_r = ell * (1 + wobble * np.sin(3 * th + phase))
    return {"inside": np.hypot(dy, dx) <= big_r, "q": np.hypot(dy, dx) / big_r, "dy": dy, "dx": dx, "R": big_r}


def plant(kind, g, rng, alpha):
    """Decline mask of ``kind`` on city ``g`` (before noise); ``alpha`` = its direction."""
    q, inside = g["q"], g["inside"]
    ux, uy = np.cos(alpha), np.sin(alpha)
    proj = (g["dx"] * ux + g["dy"] * uy) / g["R"]
    if kind == "none":
        m = np.zeros_like(inside)
    elif kind == "complete":
        m = inside.copy()
    elif kind == "central":
        m = q <= rng.uniform(0.4, 0.7)
    elif kind == "peripheral":
        m = q >= rng.uniform(0.7, 0.85)
    elif kind == "unilateral":
        m = proj >= rng.uniform(-0.1, 0.35)  # from a half to a third of the city
    elif kind == "local":
        rad, d = rng.uniform(0.25, 0.35), rng.uniform(0.45, 0.6)
        m = np.hypot(g["dx"] / g["R"] - d * ux, g["dy"] / g["R"] - d * uy) <= rad
    elif kind == "scatter":
        m = np.zeros_like(inside)
        idx = np.flatnonzero(inside)
        m.ravel()[rng.choice(idx, size=int(rng.uniform(0.08, 0.15) * idx.size), replace=False)] = True
        m |= np.roll(m, 1, axis=1) & (rng.random(m.shape) < 0.5)  # some seeds grow into dominoes
    else:
        raise ValueError(kind)
    return m & inside


def windows(inside, decline, rng, noise=NOISE):
    """Base/after pixel values: a declining pixel loses half its light, the others move within ±5 %."""
    flip = inside & (rng.random(inside.shape) < noise)
    decline = (decline ^ flip) & inside
    before = np.where(inside, rng.uniform(20, 60, inside.shape), 0.0)
    after = np.where(decline, 0.5 * before, before * rng.uniform(0.95, 1.05, inside.shape))
    return before, after


def planted_case(kind, seed, *, noise=NOISE, r_range=(6, 18)):
    rng = np.random.default_rng(seed)
    g = city(
        rng.uniform(*r_range),
        wobble=rng.uniform(0, 0.2),
        aspect=rng.uniform(1, 1.5),
        phase=rng.uniform(0, 2 * np.pi),
    )
    before, after = windows(g["inside"], plant(kind, g, rng, rng.uniform(0, 2 * np.pi)), rng, noise)
    return before, after, g["inside"]


KINDS = ("none", *PATTERNS)


# --------------------------------------------------------------------------- recovery
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(10))
def test_planted_patterns_are_recovered_through_noise(kind, seed):
    before, after, inside = planted_case(kind, 1000 * KINDS.index(kind) + seed)
    assert classify_pattern(before, after, inside) == kind


@pytest.mark.parametrize("kind", PATTERNS)
def test_small_cities_without_noise(kind):
    """r = 5–6 px (≈ 80–115 pixels, an 80–115 km² DMSP city): the geometry still tells.

    A random plant in so few pixels can come out as another class (a scatter that
    clumps into one patch), so the test asks for 19 of 20 (200 seeds: local 93.5 %,
    scatter 99.5 %, the rest 100 %).
    """
    got = [classify_pattern(*planted_case(kind, 77 + seed, noise=0.0, r_range=(5, 6))) for seed in range(20)]
    assert got.count(kind) >= 19, got


def test_every_class_is_reachable():
    seen = {classify_pattern(*planted_case(k, 1000 * KINDS.index(k))) for k in KINDS}
    tiny = np.zeros((5, 5), bool)
    tiny[1:3, 1:4] = True  # 6 pixels, half declining: a partial decline too small to place
    b = np.where(tiny, 50.0, 0.0)
    a = b.copy()
    a[1, 1:4] = 20.0
    seen.add(classify_pattern(b, a, tiny))
    assert seen == set(PATTERNS) | set(STATUSES)


# --------------------------------------------------------------------------- the pixels
def test_declining_pixels_rule_floor_and_nodata():
    before = np.array([[50.0, 50.0, 50.0, 0.0, 50.0, 50.0]])
    after = np.array([[45.0, 45.5, 10.0, 0.0, np.nan, 60.0]])
    inside = np.ones_like(before, bool)
    usable, declining = declining_pixels(before, after, inside, threshold=0.10, floor=0.0)
    # exactly −10 % counts (the city-level rule); base at the floor and NaN are not usable
    assert usable.tolist() == [[True, True, True, False, False, True]]
    assert declining.tolist() == [[True, False, True, False, False, False]]
    usable, _ = declining_pixels(before, after, inside, threshold=0.10, floor=50.0)
    assert not usable.any()


def test_statuses_none_too_small_and_tiny_complete():
    g = city(10)
    inside = g["inside"]
    b = np.where(inside, 50.0, 0.0)
    assert classify_pattern(b, b, inside) == "none"
    assert classify_pattern(b, np.where(inside, 0.0, b), inside) == "complete"
    assert classify_pattern(np.zeros_like(b), np.zeros_like(b), inside) == "too_small"  # all at the floor
    tiny = np.zeros((4, 4), bool)
    tiny[1:3, 1:4] = True
    t = np.where(tiny, 50.0, 0.0)
    # 6 pixels: none and complete need no geometry; a partial decline cannot be placed
    assert classify_pattern(t, t, tiny) == "none"
    assert classify_pattern(t, 0.5 * t, tiny) == "complete"
    half = t.copy()
    half[1, 1:4] = 10.0
    assert classify_pattern(t, half, tiny) == "too_small"


# --------------------------------------------------------------------------- features vs brute force
def _twin_features(declining, usable, inside):
    """The module docstring's definitions, written out the slow, obvious way."""
    pts = np.argwhere(inside).astype(float)
    c = pts.mean(axis=0)
    padded = np.pad(inside, 1)
    outside = np.argwhere(~padded).astype(float) - 1
    use = np.argwhere(usable).astype(float)
    dec = declining[usable]
    d_e = cdist(use, outside).min(axis=1) - 0.5
    d_c = np.hypot(*(use - c).T)
    rho = d_c / (d_c + d_e)
    s = dec.mean()
    rho_shift = rho[dec].mean() - rho[~dec].mean()
    off = (use[dec] - c).mean(axis=0)
    offset = np.hypot(*off) / np.sqrt(len(pts) / np.pi)
    deg = np.degrees(np.arctan2(use[:, 0] - c[0], use[:, 1] - c[1])) % 360
    sector = (((deg + 22.5) % 360) // 45).astype(int)
    outer = rho >= 1 / np.sqrt(2)
    covered = [dec[outer & (sector == k)].mean() >= 0.2 for k in range(8) if (outer & (sector == k)).any()]
    # side: the n pixels farthest along the offset direction (the plants have no ties)
    t = (use - c) @ (off / np.hypot(*off))
    n = int(dec.sum())
    top = np.argsort(-t)[:n]
    side = (dec[top].mean() - s) / (1 - s)
    # Moran's I with a dense 8-neighbour weight matrix
    w = (cdist(use, use, "chebyshev") == 1).astype(float)
    z = dec - s
    moran = len(use) / w.sum() * (z @ w @ z) / (z @ z)
    # clusters by breadth-first flood fill
    todo = {tuple(p) for p in np.argwhere(declining)}
    sizes = []
    while todo:
        queue, size = deque([todo.pop()]), 0
        while queue:
            y, x = queue.popleft()
            size += 1
            for nb in ((y + a, x + b) for a in (-1, 0, 1) for b in (-1, 0, 1)):
                if nb in todo:
                    todo.remove(nb)
                    queue.append(nb)
        sizes.append(size)
    return dict(
        share=s,
        rho_shift=rho_shift,
        offset=offset,
        coverage=float(np.mean(covered)),
        side=side,
        largest_cluster=max(sizes) / sum(z for z in sizes if z > 1) if max(sizes) > 1 else 1 / n,
        moran=moran,
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", PATTERNS[1:])
def test_features_match_brute_force_twin(kind, seed):
    before, after, inside = planted_case(kind, 5 + 10 * KINDS.index(kind) + seed, r_range=(6, 9))
    usable, declining = declining_pixels(before, after, inside)
    usable[inside & (np.arange(inside.size).reshape(inside.shape) % 17 == 0)] = False  # some unusable pixels
    declining &= usable
    got = pattern_features(declining, usable, inside)
    want = _twin_features(declining, usable, inside)
    for name, value in want.items():
        assert getattr(got, name) == pytest.approx(value, abs=1e-9), name


def test_side_shares_ties_at_the_cut_evenly():
    """A 10 × 10 square; the cut runs along whole columns, so the top-n set ends inside a tie group."""
    inside = np.ones((10, 10), bool)
    dec = np.zeros_like(inside)
    dec[:, 7:] = True
    dec[[0, 3, 6, 9], 6] = True  # symmetric about the centre row: the direction stays exactly +x
    f = pattern_features(dec, inside, inside)
    n, s = 34, 0.34
    purity = (30 + 4 * 4 / 10) / n  # columns 7–9, then 4 of column 6's 10 tied pixels, 4 of which decline
    assert f.side == pytest.approx((purity - s) / (1 - s), abs=1e-12)
    dec[:, 6] = False
    dec[:, 5:] = True  # exactly half: the cut falls between columns
    assert pattern_features(dec, inside, inside).side == pytest.approx(1.0)


def test_cluster_share_leaves_isolated_pixels_out():
    inside = np.ones((12, 12), bool)
    dec = np.zeros_like(inside)
    dec[2:5, 2:5] = True  # a 9-pixel patch
    dec[8, 8] = dec[10, 2] = dec[2, 10] = True  # three isolated noise pixels
    dec[8, 4:6] = True  # a 2-pixel cluster
    assert pattern_features(dec, inside, inside).largest_cluster == pytest.approx(9 / 11)
    lone = np.zeros_like(inside)
    lone[::4, ::4] = True  # 9 isolated pixels
    assert pattern_features(lone, inside, inside).largest_cluster == pytest.approx(1 / 9)


# --------------------------------------------------------------------------- invariances
@st.composite
def city_cases(draw):
    kind = draw(st.sampled_from(KINDS))
    seed = draw(st.integers(0, 2**31 - 1))
    return planted_case(kind, seed, r_range=(3, 12))


def _feature_tuple(before, after, inside):
    usable, declining = declining_pixels(before, after, inside)
    f = pattern_features(declining, usable, inside)
    return np.array([getattr(f, k) for k in PatternFeatures.__dataclass_fields__], dtype=float)


@pytest.mark.slow
@settings(max_examples=40)
@given(
    case=city_cases(),
    k=st.integers(0, 3),
    mirror=st.booleans(),
    pads=st.tuples(*[st.integers(0, 7)] * 4),
    fill=st.sampled_from([0.0, np.nan]),
)
def test_pattern_invariant_to_rotation_translation_and_padding(case, k, mirror, pads, fill):
    before, after, inside = case
    ref_class = classify_pattern(before, after, inside)
    ref = _feature_tuple(before, after, inside)

    def move(a, v):
        a = np.rot90(a, k)
        a = a[:, ::-1] if mirror else a
        return np.pad(a, ((pads[0], pads[1]), (pads[2], pads[3])), constant_values=v)

    b2, a2, i2 = move(before, fill), move(after, fill), move(inside, False)
    assert classify_pattern(b2, a2, i2) == ref_class
    np.testing.assert_allclose(_feature_tuple(b2, a2, i2), ref, atol=1e-9, equal_nan=True)


# --------------------------------------------------------------------------- the rules table
def _table(f: PatternFeatures) -> list[str]:
    """Each row of the docstring's table as a self-contained condition (earlier rows negated)."""
    s, u = f.share, f.usable
    partial = u > 0 and 0.05 <= s < 0.80 and u >= 9
    central = partial and f.rho_shift <= -0.20 and f.offset <= 0.25
    peripheral = partial and not central and f.rho_shift >= 0.20 and f.coverage >= 0.75
    unilateral = partial and not central and not peripheral and f.side >= 0.60
    local = partial and not (central or peripheral or unilateral) and f.largest_cluster >= 0.6 and f.moran >= 0.25
    rows = {
        "too_small": u == 0 or (0.05 <= s < 0.80 and u < 9),
        "none": u > 0 and s < 0.05,
        "complete": u > 0 and s >= 0.80,
        "central": central,
        "peripheral": peripheral,
        "unilateral": unilateral,
        "local": local,
        "scatter": partial and not (central or peripheral or unilateral or local),
    }
    return [k for k, v in rows.items() if v]


unit = st.floats(0, 1)
signed = st.floats(-1, 1)


@given(
    st.builds(
        PatternFeatures,
        usable=st.integers(0, 40),
        declining=st.integers(0, 40),
        share=unit,
        rho_shift=signed,
        offset=st.floats(0, 2),
        coverage=unit,
        side=signed,
        largest_cluster=unit,
        moran=signed,
    )
)
def test_rules_are_exclusive_and_as_documented(f):
    rows = _table(f)
    assert len(rows) == 1, rows
    assert pattern_of(f) == rows[0]


def test_thresholds_are_the_documented_ones():
    assert (P.MIN_PIXELS, P.NONE_SHARE, P.COMPLETE_SHARE) == (9, 0.05, 0.80)
    assert (P.CENTRAL_SHIFT, P.CENTRAL_OFFSET, P.PERIPHERAL_SHIFT, P.PERIPHERAL_COVERAGE) == (0.2, 0.25, 0.2, 0.75)
    assert (P.UNILATERAL_SIDE, P.LOCAL_CLUSTER, P.LOCAL_MORAN, P.SECTORS, P.SECTOR_SHARE) == (0.6, 0.6, 0.25, 8, 0.2)


# --------------------------------------------------------------------------- georeferenced mosaics
def _mosaic(v, *, chunks=None, x0=0.0):  # 1 m pixels, upper-left corner at (x0, rows)
    return georeferenced(v, crs="EPSG:32633", res=1.0, origin=(x0, float(v.shape[0])), chunks=chunks or None)


@pytest.mark.parametrize("chunks", [None, 7])
def test_shrinkage_patterns_reads_windows_from_georeferenced_mosaics(chunks):
    n = 61
    yy, xx = np.mgrid[0:n, 0:n]
    r1 = np.hypot(yy - 20, xx - 20)
    r2 = np.hypot(yy - 40, xx - 44)
    before = np.where((r1 <= 12) | (r2 <= 9), 50.0, 0.0)
    after = before.copy()
    after[(r1 <= 12) & (r1 >= 9)] = 20.0  # ring of city 1
    after[(r2 <= 4)] = 20.0  # core of city 2
    ring = shapely.Point(20.5, n - 20.5).buffer(12.4)
    core = shapely.Point(44.5, n - 40.5).buffer(9.4)
    geoms = [ring, shapely.Polygon(), core, shapely.box(500, 500, 510, 510), None]
    out = shrinkage_patterns(geoms, _mosaic(before, chunks=chunks), _mosaic(after, chunks=chunks))
    assert out == ["peripheral", None, "central", None, None]


def centre_reference(geoms, before: np.ndarray, after: np.ndarray) -> list[str | None]:
    """Independent reference for :func:`shrinkage_patterns` on a :func:`_mosaic` grid: each polygon's pixels
    by shapely's ``contains_xy`` of every pixel centre of the whole mosaic (no window, no rasterio),
    classified with the whole mosaic as the window; None for polygons off the grid."""
    n_rows, n_cols = before.shape
    x, y = np.meshgrid(np.arange(n_cols) + 0.5, n_rows - np.arange(n_rows) - 0.5)
    box = shapely.box(0, 0, n_cols, n_rows)
    out: list[str | None] = []
    for g in geoms:
        on_grid = g is not None and not g.is_empty and shapely.intersection(g, box).area > 0
        out.append(classify_pattern(before, after, shapely.contains_xy(g, x, y)) if on_grid else None)
    return out


@pytest.mark.parametrize("chunks", [None, 16, (9, 23)])
def test_shrinkage_patterns_of_any_polygons_equal_the_pixel_centre_reference(chunks):
    """Overlapping discs, turned boxes, a polygon with a hole, a multipolygon, one across the grid's edge and one
    off it, on a mosaic with nodata: the labels of shrinkage_patterns are those of the whole-mosaic reference."""
    rng = np.random.default_rng(11)
    n_rows, n_cols = 70, 90
    yy, xx = np.mgrid[0:n_rows, 0:n_cols]
    before = 40 + 20 * rng.random((n_rows, n_cols))
    after = before * np.where(np.hypot(yy - 30, xx - 40) < 14, 0.5, 1.0)  # a core
    after = np.where(xx > 70, 0.6 * after, after)  # one side
    after = np.where(rng.random(after.shape) < 0.15, 0.3 * after, after)  # scattered
    before[rng.random(before.shape) < 0.05] = np.nan
    geoms = [shapely.Point(40.3, n_rows - 30.2).buffer(r) for r in (6.3, 12.7, 18.2, 25.9)]  # nested: they overlap
    geoms += [shapely.affinity.rotate(shapely.box(x, 5, x + 17.3, 31.6), a) for x, a in ((8.2, 15), (55.4, 62))]
    geoms += [shapely.Point(78.6, 35.1).buffer(13.4), shapely.Point(85.1, 60.2).buffer(11.7)]  # across the edge
    geoms += [shapely.difference(shapely.box(20.4, 30.3, 66.6, 66.2), shapely.box(33.1, 40.4, 50.2, 55.5))]
    geoms += [shapely.union(shapely.box(2.2, 2.1, 9.7, 12.9), shapely.box(12.4, 50.3, 22.6, 61.1))]
    geoms += [shapely.box(68.9, 20.4, 72.6, 22.2)]  # half on the dimmed side: 8 pixel centres, touches 15 pixels
    geoms += [shapely.box(120, 10, 130, 20), shapely.Polygon(), shapely.Point(5.5, 5.5).buffer(0.2)]
    want = centre_reference(geoms, before, after)
    got = shrinkage_patterns(geoms, _mosaic(before, chunks=chunks), _mosaic(after, chunks=chunks))
    assert got == want
    assert want[-4] == "too_small"  # the label depends on the pixel-centre rule, not on the pixels touched
    assert {"central", "complete", "local", "scatter", "too_small"} <= set(want) and want[-3:-1] == [None, None]


def test_shrinkage_patterns_refuses_different_grids():
    v = np.ones((10, 10))
    with pytest.raises(GridMismatchError):
        shrinkage_patterns([shapely.box(1, 1, 5, 5)], _mosaic(v), _mosaic(v, x0=0.5))


# --------------------------------------------------------------------------- the kernel against NumPy/scipy
# The package's features before the numba kernel (nightlight.kernels.patterns), kept here as its
# independent reference: every feature must be the same float, bit for bit, so no class can flip.
def numpy_features(declining: np.ndarray, usable: np.ndarray, inside: np.ndarray) -> PatternFeatures:
    """The features as the package computed them before the kernel (NumPy/scipy): the kernel's reference."""
    inside = np.asarray(inside, dtype=bool)
    usable = np.asarray(usable, dtype=bool) & inside
    declining = np.asarray(declining, dtype=bool) & usable
    u, n = int(usable.sum()), int(declining.sum())
    nan = float("nan")
    if u == 0 or n == 0 or n == u:
        return PatternFeatures(u, n, n / u if u else nan, nan, nan, nan, nan, 1.0 if n else nan, nan)
    rr, cc = np.nonzero(inside)
    cy, cx = rr.mean(), cc.mean()
    r_eq = np.sqrt(rr.size / np.pi)
    d_edge = ndi.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1] - 0.5
    yy, xx = np.nonzero(usable)
    dy, dx = yy - cy, xx - cx
    d_c = np.hypot(dy, dx)
    rho = d_c / (d_c + d_edge[yy, xx])
    dec = declining[yy, xx]
    s = n / u
    rho_shift = float(rho[dec].mean() - rho[~dec].mean())
    my, mx = dy[dec].mean(), dx[dec].mean()
    offset = float(np.hypot(my, mx) / r_eq)
    return PatternFeatures(
        usable=u,
        declining=n,
        share=s,
        rho_shift=rho_shift,
        offset=offset,
        coverage=_np_coverage(dy, dx, rho, dec),
        side=_np_side(dy, dx, dec, my, mx, s),
        largest_cluster=_np_largest_cluster(declining, n),
        moran=_np_moran(declining, usable),
    )


def _np_coverage(dy: np.ndarray, dx: np.ndarray, rho: np.ndarray, dec: np.ndarray) -> float:
    """Share of the occupied 45° sectors whose outer-zone pixels decline by ≥ P.SECTOR_SHARE."""
    outer = rho >= P.OUTER_RHO
    if not outer.any():
        return 0.0
    # sector k is centred on k·45°; the shift by half a sector puts its boundaries off every pixel centre
    sector = np.floor((np.arctan2(dy[outer], dx[outer]) + np.pi / P.SECTORS) / (2 * np.pi / P.SECTORS)).astype(int)
    sector %= P.SECTORS
    tot = np.bincount(sector, minlength=P.SECTORS)
    hit = np.bincount(sector, weights=dec[outer], minlength=P.SECTORS)
    occupied = tot > 0
    return float((hit[occupied] >= P.SECTOR_SHARE * tot[occupied]).mean())


def _np_side(dy: np.ndarray, dx: np.ndarray, dec: np.ndarray, my: float, mx: float, s: float) -> float:
    """Chance-corrected purity of the straight cut across the direction of the declining pixels."""
    norm = np.hypot(my, mx)
    if norm == 0:
        return 0.0
    # rounded so a 90° turn (same geometry, other float rounding) keeps the same ties
    t = np.round((dx * mx + dy * my) / norm, 9)
    n = int(dec.sum())
    order = np.argsort(-t, kind="stable")
    t_cut = t[order[n - 1]]
    above = t > t_cut
    tie = t == t_cut
    take = n - int(above.sum())  # of the tie group at the cut, this many belong to the top n
    hits = dec[above].sum() + take * dec[tie].mean()
    purity = hits / n
    return float((purity - s) / (1 - s))


def _np_largest_cluster(declining: np.ndarray, n: int) -> float:
    labels, k = ndi.label(declining, structure=np.ones((3, 3), dtype=bool))
    if k == 0:
        return float("nan")
    sizes = np.bincount(labels.ravel())[1:]
    if sizes.max() == 1:
        return 1.0 / n
    # isolated pixels are left out of the total: pixel noise should not split one patch into "many"
    return float(sizes.max() / sizes[sizes > 1].sum())


def _np_moran(declining: np.ndarray, usable: np.ndarray) -> float:
    """Moran's I of the 0/1 decline indicator on the usable pixels, 8-neighbour binary weights."""
    z = np.where(usable, declining - declining[usable].mean(), 0.0)
    kernel = np.ones((3, 3))
    kernel[1, 1] = 0
    lag = ndi.correlate(z, kernel, mode="constant")
    neighbours = ndi.correlate(usable.astype(float), kernel, mode="constant")
    w = neighbours[usable].sum()
    denom = (z[usable] ** 2).sum()
    if w == 0 or denom == 0:
        return float("nan")
    return float(usable.sum() / w * (z[usable] * lag[usable]).sum() / denom)


def _same_features(got: PatternFeatures, want: PatternFeatures) -> None:
    for name in PatternFeatures.__dataclass_fields__:
        g, w = getattr(got, name), getattr(want, name)
        assert g == w or (np.isnan(g) and np.isnan(w)), (name, g, w)


@st.composite
def scenes(draw):
    """A random city window: a blob (or any mask) inside, usable and declining subsets of it."""
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # a blob with holes and bays: smoothed noise over a level
        f = rng.random((h, w))
        for _ in range(draw(st.integers(0, 4))):
            f = (f + np.roll(f, 1, 0) + np.roll(f, 1, 1) + np.roll(f, -1, 0) + np.roll(f, -1, 1)) / 5
        inside = f >= np.quantile(f, draw(st.floats(0.0, 0.9)))
    else:
        inside = rng.random((h, w)) < draw(st.floats(0.05, 1.0))
    usable = inside & (rng.random((h, w)) < draw(st.floats(0.5, 1.0)))
    p = draw(st.floats(0.0, 1.0))
    if draw(st.booleans()):  # a half-plane, a disc or a ring of decline: ties and clusters
        yy, xx = np.mgrid[0:h, 0:w]
        a = draw(st.floats(0, 2 * np.pi))
        score = np.cos(a) * xx + np.sin(a) * yy if draw(st.booleans()) else np.hypot(yy - h / 2, xx - w / 2)
        declining = usable & (score <= np.quantile(score, p))
    else:
        declining = usable & (rng.random((h, w)) < p)
    return declining, usable, inside


@pytest.mark.slow  # 300 scenes: 0.5 s with a warm numba cache, ~20 s compiling on the shared machine
@settings(max_examples=300, deadline=None)
@given(scenes())
def test_kernel_features_equal_the_numpy_reference_bit_for_bit(scene):
    declining, usable, inside = scene
    _same_features(pattern_features(declining, usable, inside), numpy_features(declining, usable, inside))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(5))
def test_kernel_features_equal_the_numpy_reference_on_planted_cities(kind, seed):
    before, after, inside = planted_case(kind, seed)
    usable, declining = declining_pixels(before, after, inside)
    _same_features(pattern_features(declining, usable, inside), numpy_features(declining, usable, inside))
