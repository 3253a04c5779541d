"""The China section's gain-normalised reading against a numpy reference (synthetic, no real data)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from nightlight.change.decline import detect_shrinking
from nightlight.replication.china import gain_normalised
from nightlight.replication.studies import load_study
from nightlight.testing.builders import georeferenced

PX = 1000.0  # m


def _scene() -> tuple[np.ndarray, np.ndarray, gpd.GeoDataFrame]:
    """Three 3 × 3 px cities on a lit background; 2021 = 0.8 × 2018 but city 1 (0.6×) and city 3 (1.0×).

    One background pixel has no 2021 value and a bright 2018 value: a factor over every
    2018 pixel (not only those valid in both years) would be far off.
    """
    before = np.full((20, 20), 20.0, np.float32)
    after = 0.8 * before
    boxes = {1: (2, 2), 2: (2, 10), 3: (10, 6)}
    for cid, (r, c) in boxes.items():
        before[r : r + 3, c : c + 3] = 60.0
        after[r : r + 3, c : c + 3] = 60.0 * {1: 0.6, 2: 0.8, 3: 1.0}[cid]
    before[17, 17], after[17, 17] = 1e4, np.nan
    polys = [shapely.box(c * PX, -(r + 3) * PX, (c + 3) * PX, -r * PX) for r, c in boxes.values()]
    cities = gpd.GeoDataFrame({"city_id": list(boxes)}, geometry=polys, crs="EPSG:6933")
    return before, after, cities


def test_gain_normalised_divides_out_the_common_pixels_total_change():
    before, after, cities = _scene()
    b, a = (georeferenced(v, crs="EPSG:6933", res=PX, units="DN") for v in (before, after))
    res = detect_shrinking(cities, b, a, id_column="city_id", patterns=False, allow_common_shift=True)
    config = load_study("china-dmsplike-2020-2021")
    got = gain_normalised(config, res)
    both = np.isfinite(before) & np.isfinite(after)
    factor = before[both].sum(dtype=np.float64) / after[both].sum(dtype=np.float64)
    assert got["normalise_factor"] == pytest.approx(factor, rel=1e-6)
    assert factor == pytest.approx(1.25, rel=1e-6)  # the background's 0.8, divided out
    # raw: cities 1 (−40 %) and 2 (−20 %) shrink; normalised: only city 1 (−25 %), city 3 grows 25 %
    assert int(res["shrinking"].sum()) == 2
    assert (got["cities"], got["classified"], got["shrinking"]) == (3, 3, 1)
    assert got["growing_10pct"] == 1
