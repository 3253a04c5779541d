"""Zone pixels: pixel-traced zones recognised exactly and read once for the brightness fit and the decline
test; any polygon's pixel centres; values gathered from the chunks holding them."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from nightlight import detect_shrinking, extract_natural_cities
from nightlight.grid import Grid
from nightlight.io.zones import centre_pixels, gather, zone_pixels
from nightlight.preprocess import normalise
from nightlight.testing import georeferenced


def _box(c0, r0, c1, r1, res=1 / 240):
    return shapely.box(c0 * res, -r1 * res, c1 * res, -r0 * res)


@pytest.mark.parametrize(
    ("geoms", "traced"),
    [
        ([_box(1, 1, 4, 3), _box(4, 1, 6, 5)], True),  # whole pixels, touching along an edge
        ([shapely.difference(_box(0, 0, 6, 6), _box(2, 2, 4, 4))], True),  # a hole of whole pixels
        ([_box(1, 1, 4, 3.5)], False),  # an edge through pixels
        ([shapely.Polygon([(0, 0), (4 / 240, 0), (0, -4 / 240)])], False),  # pixel corners, a diagonal edge
        ([_box(1, 1, 4, 4), _box(3, 3, 6, 6)], False),  # overlapping: each polygon needs its full sum
    ],
)
def test_zone_pixels_only_of_pixel_traced_polygons(geoms, traced):
    grid = Grid.of(georeferenced(np.zeros((8, 8), np.float32)))
    assert (zone_pixels(np.array(geoms, dtype=object), grid) is not None) is traced


def test_the_fit_pass_reads_the_cities_for_the_decline_and_fits_the_same(monkeypatch):
    """fit_normalisation(exclude=natural cities) reads both years once for its sample and the decline test."""
    from nightlight.kernels import totals as K

    rng = np.random.default_rng(5)
    b = np.floor(rng.random((40, 40)) * 12 + 3).astype(np.float32)
    b[5:12, 5:14] += 40  # two bright cities on a lit background
    b[25:33, 20:36] += 40
    a = np.floor(b * 0.9 + rng.random(b.shape) * 2).astype(np.float32)
    bda, ada = (georeferenced(x, chunks=(16, 16), units="DN") for x in (b, a))
    cities = extract_natural_cities(bda, lit_threshold=30, min_area_km2=0.01)
    assert len(cities) == 2
    kw = {"level": 3.0, "buffer": 1, "min_pixels": 10, "exclude": cities[["geometry"]]}
    with monkeypatch.context() as m:  # the fit on its own, without reading the cities' pixels
        m.setattr(normalise, "_zone_read", lambda *args: None)
        alone = normalise.fit_normalisation(bda, ada, **kw)
    fit = normalise.fit_normalisation(bda, ada, **kw)
    assert (fit.gain, fit.n_pixels) == (alone.gain, alone.n_pixels)
    calls = []
    real = K.block_totals
    monkeypatch.setattr(K, "block_totals", lambda x: calls.append(x.shape) or real(x))
    zones = cities[["city_id", "geometry"]]
    got = detect_shrinking(zones, bda, ada, id_column="city_id", allow_common_shift=True)
    assert calls == []  # both years came with the fit's pass
    fresh = [georeferenced(x, chunks=(16, 16), units="DN") for x in (b, a)]
    want = detect_shrinking(zones, *fresh, id_column="city_id", allow_common_shift=True)
    assert len(calls) == 2 * 9
    for col in ("light_before", "light_after", "pixels", "max_after", "lit_area_after_km2", "shrinking"):
        np.testing.assert_array_equal(got[col], want[col])
    np.testing.assert_array_equal(got["light_before"], [b[5:12, 5:14].sum(), b[25:33, 20:36].sum()])


def test_centre_pixels_are_the_pixel_centres_inside_each_polygon():
    """Any polygons, overlapping, with a hole, across the grid's edge: shapely's contains_xy of the centres."""
    grid = Grid.of(georeferenced(np.zeros((30, 40), np.float32)))
    r = 1 / 240
    geoms = [
        shapely.Point(10.3 * r, -12.6 * r).buffer(7.2 * r),
        shapely.Point(14.1 * r, -15.2 * r).buffer(5.3 * r),  # overlaps the first
        shapely.difference(
            shapely.box(20.2 * r, -25.7 * r, 33.4 * r, -3.1 * r), shapely.box(24 * r, -20 * r, 28 * r, -9 * r)
        ),
        shapely.affinity.rotate(shapely.box(30.2 * r, -34.4 * r, 45.7 * r, -26.1 * r), 30),  # off the bottom and right
        shapely.Polygon(),
        None,
        shapely.box(100 * r, 0, 110 * r, 10 * r),  # off the grid
    ]
    zone, row, col = centre_pixels(np.array(geoms, dtype=object), grid)
    t = grid.transform
    cols, rows = np.meshgrid(np.arange(40), np.arange(30))
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    for i, g in enumerate(geoms):
        want = np.zeros((30, 40), bool) if g is None else shapely.contains_xy(g, x, y)
        got = np.zeros((30, 40), bool)
        got[row[zone == i], col[zone == i]] = True
        assert (got == want).all(), i
        assert (zone == i).sum() == want.sum()  # no pixel twice


def test_gather_reads_the_values_at_the_pixels_from_the_chunks_holding_them():
    import dask

    rng = np.random.default_rng(3)
    data = rng.random((37, 41)).astype(np.float32)
    calls = []

    def counted(block, block_info=None):
        calls.append(block_info[0]["chunk-location"])
        return block

    lazy = georeferenced(data, chunks=(10, 7))
    lazy = lazy.copy(data=lazy.data.map_blocks(counted, dtype=data.dtype))
    row, col = rng.integers(0, 20, 50), rng.integers(0, 14, 50)  # the 2 × 2 chunks at the top left
    with dask.config.set(scheduler="sync"):
        got, twice, eager = gather([lazy, -lazy, georeferenced(data)], row, col)
    np.testing.assert_array_equal(got, data[row, col])
    np.testing.assert_array_equal(twice, -data[row, col])
    np.testing.assert_array_equal(eager, data[row, col])
    assert set(calls) == {(0, 0), (0, 1), (1, 0), (1, 1)} and len(calls) == 4  # each once, for both mosaics
