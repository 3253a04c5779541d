"""Whole-mosaic totals (the plausibility pass of a decline run) against NumPy, for any chunking."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nightlight.change.inputs import mosaic_totals
from nightlight.preprocess.inputs import prepare_inputs
from nightlight.testing import chunkings, georeferenced, mosaics


def reference(x: np.ndarray) -> dict:
    valid = ~np.isnan(x)
    return {
        "total": float(np.sum(x[valid], dtype=np.float64)),
        "valid_pixels": int(valid.sum()),
        "nodata_pixels": int((~valid).sum()),
        "lit_pixels": int((x > 0).sum()),
        "negative_pixels": int((x < 0).sum()),
    }


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_mosaic_totals_equal_numpy_for_any_chunking(data):
    b = data.draw(mosaics(30), label="before")
    a = data.draw(mosaics(shape=b.shape), label="after")
    integral = data.draw(st.booleans(), label="integral")
    if integral:  # DN and 8-bit copies: the float64 sums are exact, so equal bit for bit
        b, a = np.floor(b), np.floor(a)
    ch = data.draw(chunkings(b.shape, max_blocks=6), label="chunks")
    inputs = prepare_inputs({"before": georeferenced(b, chunks=ch), "after": georeferenced(a, chunks=ch)}, units="DN")
    got = mosaic_totals(inputs).drop(columns=["mosaic", "year"]).to_dict(orient="records")
    for row, x in zip(got, (b, a)):
        want = reference(x)
        for key, value in want.items():
            if key == "total" and not integral:
                assert np.isclose(row[key], value, rtol=1e-12, atol=1e-9), (key, row[key], value)
            else:
                assert row[key] == value, (key, row[key], value)
