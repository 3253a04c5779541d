"""Pixel-traced zones: recognised exactly, and read once for the brightness fit and the decline test."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from nightlight import detect_shrinking, extract_natural_cities
from nightlight.grid import Grid
from nightlight.io.zones import zone_pixels
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
