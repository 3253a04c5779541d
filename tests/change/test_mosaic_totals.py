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


def test_a_mosaic_summed_once_per_array_object(monkeypatch):
    """The base year of a second run on the same opened mosaic is not summed again; any other array is.

    The national study runs the decline twice on one base year (raw, then brightness-corrected):
    its totals are remembered under the dask name, but only while that very array object lives,
    so an array of the same name with other values (a file rewritten and opened again) is summed.
    """
    import dask.array as dsa

    from nightlight.kernels import totals as K

    calls = []
    real = K.block_totals
    monkeypatch.setattr(K, "block_totals", lambda x: calls.append(x.shape) or real(x))
    rng = np.random.default_rng(3)
    b, a, a2, b2 = (np.floor(rng.random((8, 10)) * 60) for _ in range(4))

    def totals(before, after):
        calls.clear()
        got = mosaic_totals(prepare_inputs({"before": before, "after": after}, units="DN"))
        return got.drop(columns=["mosaic", "year"]).to_dict(orient="records"), len(calls)

    def mosaic(x, name):  # a dask name fixed by hand, as a file's read layer is (path, not content)
        return georeferenced(dsa.from_array(x, chunks=(4, 5), name=name))

    before = mosaic(b, "base")
    rows, n = totals(before, mosaic(a, "after"))
    assert n == 8 and rows == [reference(b), reference(a)]
    rows, n = totals(before, mosaic(a2, "after2"))
    assert n == 4 and rows == [reference(b), reference(a2)]  # only the new after year was summed
    rows, n = totals(mosaic(b2, "base"), mosaic(a2, "after2b"))  # same name, another array: summed again
    assert n == 8 and rows == [reference(b2), reference(a2)]
