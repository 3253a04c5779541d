"""The plausibility check of every block read (:func:`nightlight.units.check_plausible`) against a plain reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nightlight.errors import ImplausibleValueError
from nightlight.units import DN, PLAUSIBLE, RADIANCE, SENTINELS, UNKNOWN, check_plausible


def reference_bad(v: np.ndarray, units: str) -> float | None:
    """The value the module docstring's rules refuse first (None: plausible), element by element."""
    flat = [float(x) for x in np.asarray(v).ravel()]
    infinite = [x for x in flat if np.isinf(x)]
    if infinite:
        return infinite[0]
    finite = [x for x in flat if np.isfinite(x)]
    for s in SENTINELS:
        if any(abs(x - s) <= 1e-6 * abs(s) for x in finite):
            return s
    if finite and units in PLAUSIBLE:
        if min(finite) < PLAUSIBLE[units][0]:
            return min(finite)
        if max(finite) > PLAUSIBLE[units][1]:
            return max(finite)
    return None


special = st.sampled_from([np.nan, np.inf, -np.inf, *SENTINELS, -10.5, 63.5, 1.0e5 + 1, 0.0, 62.0])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-20, 200, width=32), special), min_size=0, max_size=40),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([RADIANCE, DN, UNKNOWN]),
)
def test_check_plausible_refuses_what_the_reference_refuses(values, dtype, units):
    v = np.array(values, dtype=dtype).reshape(-1, 1) if values else np.zeros((0, 3), dtype)
    want = reference_bad(v.astype(np.float64), units)
    if want is None:
        check_plausible(v, units, source="f.tif", where="rows 0–1")
        return
    with pytest.raises(ImplausibleValueError) as err:
        check_plausible(v, units, source="f.tif", where="rows 0–1")
    assert err.value.args[0].startswith(f"f.tif: value {want:g} at rows 0–1 is"), (err.value.args[0], want)


def test_integer_blocks_are_checked_too():
    check_plausible(np.array([[0, 63]], np.uint8), DN, source="f.tif", where="all")
    with pytest.raises(ImplausibleValueError, match="value 65535 .* common nodata sentinel"):
        check_plausible(np.array([[0, 65535]], np.uint16), DN, source="f.tif", where="all")
    with pytest.raises(ImplausibleValueError, match="value 64 .* plausible range"):
        check_plausible(np.array([[0, 64]], np.uint8), DN, source="f.tif", where="all")
