"""Shape of shrinkage on constructed cities (rules in nightlight.change.shape's docstring)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import shapely
import xarray as xr
from affine import Affine

from nightlight.change.shape import classify_shape, shrink_shapes

N = 41
yy, xx = np.mgrid[0:N, 0:N]
R = np.hypot(yy - 20, xx - 20)
INSIDE = R <= 16
BEFORE = np.where(INSIDE, 50.0, 0.0)


def after_with(decline_mask, factor=0.5):
    return np.where(decline_mask, BEFORE * factor, BEFORE * 1.02)


@pytest.mark.parametrize(
    "mask, expected",
    [
        (np.zeros_like(INSIDE), "none"),
        (INSIDE, "complete"),
        (R <= 8, "core"),
        (R >= 12, "edge"),
        (((yy // 2 + xx // 2) % 3 == 0), "scattered"),
    ],
)
def test_constructed_shapes(mask, expected):
    assert classify_shape(BEFORE, after_with(mask & INSIDE), INSIDE) == expected


def test_too_small_and_dark_pixels_ignored():
    tiny = np.zeros_like(INSIDE)
    tiny[20, 20:23] = True
    assert classify_shape(BEFORE, after_with(tiny), tiny) == "too_small"
    dark = np.zeros_like(BEFORE)  # base at the floor: no relative change to speak of
    assert classify_shape(dark, dark, INSIDE) == "too_small"


def test_core_edge_split_uses_distance_to_edge_twin():
    """The core is the inner half by distance to the edge (independent twin with scipy)."""
    dist = ndi.distance_transform_edt(np.pad(INSIDE, 1))[1:-1, 1:-1]
    core = INSIDE & (dist > np.median(dist[INSIDE]))
    assert classify_shape(BEFORE, after_with(core), INSIDE) == "core"
    assert classify_shape(BEFORE, after_with(INSIDE & ~core), INSIDE) == "edge"


def test_shrink_shapes_reads_windows_from_georeferenced_mosaics():
    t = Affine(1.0, 0, 0.0, 0, -1.0, float(N))

    def da(v):
        x = np.arange(N) + 0.5
        y = N - (np.arange(N) + 0.5)
        return (
            xr.DataArray(v, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:32633").rio.write_transform(t)
        )

    city = shapely.Point(20.5, N - 20.5).buffer(16.4)
    out = shrink_shapes([city, shapely.Polygon(), shapely.box(500, 500, 510, 510)], da(BEFORE), da(after_with(R >= 12)))
    assert out == ["edge", None, None]
