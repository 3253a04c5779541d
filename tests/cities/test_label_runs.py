"""The run-based block kernel (nightlight.kernels.label) against scipy.ndimage on whole arrays.

Labels, numbering, pixel counts, first pixels, bounding boxes, km², centroid sums and
NaN-skipping band sums of :func:`label_block`, its painted label image and the edges the
border merge reads (:func:`run_edges`), for random masks and the shapes where run logic
breaks: all lit, none lit, one row, one column, diagonal-only touches, a checkerboard.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from nightlight.cities import label_components
from nightlight.kernels.label import (
    F_AREA,
    F_SUM_COL,
    F_SUM_ROW,
    I_COL_MAX,
    I_COL_MIN,
    I_COUNT,
    I_FIRST_COL,
    I_FIRST_ROW,
    I_ROW_MAX,
    I_ROW_MIN,
    label_block,
    paint,
    run_edges,
)
from nightlight.testing import chunkings, georeferenced, masks


def check_against_scipy(mask: np.ndarray, connectivity: int, per_pixel_area: bool) -> None:
    h, w = mask.shape
    rng = np.random.default_rng(h * 1000 + w)
    area = rng.uniform(0.1, 1.0, (h, w) if per_pixel_area else (h, 1))
    values = rng.uniform(0, 60, (2, h, w)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    runs, n, istats, fstats, sums, nvalid = label_block(mask, connectivity, area, values)

    structure = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
    ref, n_ref = ndimage.label(mask, structure=structure)
    labels = paint(runs, h, w, np.arange(n + 1, dtype=np.int32))
    assert n == n_ref
    np.testing.assert_array_equal(labels, ref)  # same partition and the same row-major numbering
    lookup = rng.integers(0, 3, n + 1).astype(np.int32)  # what the polygons paint: city ids, 0 = not a city
    lookup[0] = 0
    np.testing.assert_array_equal(paint(runs, h, w, lookup), lookup[ref])
    top, bottom, left, right = run_edges(runs, h, w)
    for got, want in [(top, ref[0]), (bottom, ref[-1]), (left, ref[:, 0]), (right, ref[:, -1])]:
        np.testing.assert_array_equal(got, want)

    idx = np.arange(1, n + 1)
    rows, cols = np.indices((h, w))
    np.testing.assert_array_equal(istats[1:, I_COUNT], ndimage.sum_labels(np.ones((h, w)), ref, idx))
    first = ndimage.minimum(rows * w + cols, ref, idx) if n else np.zeros(0)
    np.testing.assert_array_equal(istats[1:, I_FIRST_ROW] * w + istats[1:, I_FIRST_COL], first)
    boxes = ndimage.find_objects(ref)
    np.testing.assert_array_equal(istats[1:, I_ROW_MIN], [b[0].start for b in boxes])
    np.testing.assert_array_equal(istats[1:, I_ROW_MAX], [b[0].stop - 1 for b in boxes])
    np.testing.assert_array_equal(istats[1:, I_COL_MIN], [b[1].start for b in boxes])
    np.testing.assert_array_equal(istats[1:, I_COL_MAX], [b[1].stop - 1 for b in boxes])
    np.testing.assert_allclose(
        fstats[1:, F_AREA], ndimage.sum_labels(np.broadcast_to(area, (h, w)), ref, idx), rtol=1e-12
    )
    np.testing.assert_array_equal(fstats[1:, F_SUM_ROW], ndimage.sum_labels(rows + 0.5, ref, idx))
    np.testing.assert_array_equal(fstats[1:, F_SUM_COL], ndimage.sum_labels(cols + 0.5, ref, idx))
    for b in range(2):
        v = values[b].astype(np.float64)
        ok = ~np.isnan(v)
        np.testing.assert_allclose(sums[1:, b], ndimage.sum_labels(np.where(ok, v, 0.0), ref, idx), rtol=1e-12)
        np.testing.assert_array_equal(nvalid[1:, b], ndimage.sum_labels(ok, ref, idx))


@given(mask=masks(40), connectivity=st.sampled_from([4, 8]), per_pixel_area=st.booleans())
def test_runs_equal_scipy_on_random_masks(mask, connectivity, per_pixel_area):
    check_against_scipy(mask, connectivity, per_pixel_area)


def _diagonals(n: int) -> np.ndarray:
    return np.eye(n, dtype=bool) | np.fliplr(np.eye(n, dtype=bool))


SHAPES = {
    "all lit": np.ones((7, 9), bool),
    "none lit": np.zeros((7, 9), bool),
    "one row": np.array([[1, 1, 0, 1, 0, 0, 1, 1, 1]], bool),
    "one column": np.array([[1], [1], [0], [1], [0], [1]], bool),
    "one pixel": np.ones((1, 1), bool),
    "diagonal only": _diagonals(9),
    "staircase": np.eye(6, 8, k=1, dtype=bool) | np.eye(6, 8, k=-2, dtype=bool),
    "checkerboard": np.indices((12, 13)).sum(0) % 2 == 0,
    "runs to both borders": np.array([[1, 1, 1], [0, 1, 0], [1, 0, 1], [1, 1, 1]], bool),
    # a U: two runs of one row merged through a later row (provisional labels resolved)
    "u shape": np.array([[1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]], bool),
}


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("connectivity", [4, 8])
def test_runs_equal_scipy_on_edge_shapes(name, connectivity):
    check_against_scipy(SHAPES[name], connectivity, per_pixel_area=False)
    check_against_scipy(SHAPES[name].astype(np.uint8), connectivity, per_pixel_area=True)


def test_runs_of_a_strided_view_equal_those_of_a_copy():
    """A dask block of an in-memory mosaic is a strided view: it reaches the kernel uncopied."""
    big = np.random.default_rng(3).random((30, 40)) > 0.6
    view = big[5:25, 7:33]
    np.testing.assert_array_equal(
        label_block(view, 8, np.ones((20, 1)), np.zeros((0, 20, 26)))[0],
        label_block(view.copy(), 8, np.ones((20, 1)), np.zeros((0, 20, 26)))[0],
    )


@settings(max_examples=40)
@given(name=st.sampled_from(list(SHAPES)), data=st.data(), connectivity=st.sampled_from([4, 8]))
def test_edge_shapes_merge_across_any_chunk_seams(name, data, connectivity):
    """Block edges come from runs (run_edges): every seam, one-row and one-column blocks included."""
    mask = SHAPES[name]
    chunks = data.draw(chunkings(mask.shape, irregular=True), label="chunks")
    comps = label_components(
        georeferenced(mask.astype(np.float32), chunks=chunks), threshold=0.5, connectivity=connectivity
    )
    ref, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1))
    assert len(comps.table) == n
    np.testing.assert_array_equal(comps.table["n_pixels"], ndimage.sum_labels(mask, ref, np.arange(1, n + 1)))
