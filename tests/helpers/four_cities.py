"""Four box cities with known before/after levels on a dark 0.01° grid (``detect_shrinking``'s known answers).

Used by ``tests/change/test_decline.py`` and ``tests/test_xarray_way_in.py``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine

from nightlight.testing import georeferenced

RES = 0.01  # degrees
T = Affine(RES, 0, 10.0, 0, -RES, 50.0)
H, W = 120, 150


def raster(v, transform=T, crs="EPSG:4326", chunks=(50, 64)):
    return georeferenced(v.astype(np.float32), crs=crs, transform=transform, chunks=chunks or None)


def box_px(c0, r0, c1, r1):
    x0, y0 = T @ (c0, r0)
    x1, y1 = T @ (c1, r1)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


# four cities with known before/after levels (uniform inside) on a dark background
CITIES = {  # id: (box in px, before level, after level)
    "shrinks20": ((10, 10, 40, 40), 20.0, 16.0),
    "grows": ((50, 10, 80, 40), 20.0, 24.0),
    "edge9": ((90, 10, 120, 40), 30.0, 27.3),  # −9 %: not shrinking at 10 %
    "dark": ((10, 60, 40, 90), 0.2, 0.1),
}


def scene():
    b = np.full((H, W), 0.0)
    a = np.full((H, W), 0.0)
    for (c0, r0, c1, r1), lb, la in CITIES.values():
        b[r0:r1, c0:c1] = lb
        a[r0:r1, c0:c1] = la
    polys = gpd.GeoDataFrame(
        {"city_id": list(CITIES)}, geometry=[box_px(*v[0]) for v in CITIES.values()], crs="EPSG:4326"
    )
    return polys, raster(b), raster(a)
