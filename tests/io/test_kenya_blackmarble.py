"""Real float VIIRS through the catalog: NASA Black Marble VNP46A4 over Kenya, 2020–2023.

The 8-bit China copies are quantised; this is the product itself (float32 nW/cm²/sr,
NaN where the quality flags removed a pixel). Natural cities of 2020, their change
2020 → 2023 and the series test (change_p, shrinking_significant) over the four years.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point

import nightlight

pytestmark = pytest.mark.realdata

FOLDER = Path("../shared/data/kenya-blackmarble-annual")
NAME = "kenya-blackmarble-vnp46a4"


@pytest.fixture(scope="module")
def run():
    if not FOLDER.is_dir():
        pytest.skip(f"{FOLDER} is absent (the real Black Marble Kenya data)")
    inputs = nightlight.prepare_inputs({y: f"{NAME}:{y}" for y in range(2020, 2024)})
    mosaics = dict(zip(inputs.keys, inputs.mosaics))
    cities = nightlight.extract_natural_cities(mosaics[2020], lit_threshold="headtail")
    return mosaics, cities, nightlight.detect_shrinking(cities, series=mosaics, patterns=False)


@pytest.mark.slow
def test_catalog_name_opens_the_float_product(run):
    mosaics, _, _ = run
    da = mosaics[2020]
    assert da.dtype == np.float32 and da.attrs["units"] == "nW/cm2/sr"
    assert da.attrs["product"] == f"{NAME}:2020"
    assert da.shape == (2348, 1924)
    # radiance in the product's own 0.1 nW/cm²/sr steps (VNP46A4 stores uint16 × 0.1), not the
    # 8-bit copies' 2 nW/cm²/sr steps that read everything under 2 as 0
    window = da[1450:1600, 620:780].values  # around Nairobi (row 1524, column 699)
    levels = np.unique(window[np.isfinite(window)])
    assert levels.size > 300 and 0 < levels[levels > 0].min() < 1


@pytest.mark.slow
def test_natural_cities_2020_to_2023_and_the_series_test(run):
    _, cities, result = run
    ok = result["status"] == "ok"
    print(
        f"\nKenya Black Marble 2020 → 2023: {len(cities)} natural cities, {int(ok.sum())} classified, "
        f"{int(result['shrinking'].sum())} shrinking by the 10 % rule, "
        f"{int(result['shrinking_significant'].sum())} significantly (BH q < 0.05); "
        f"median change {np.nanmedian(result.loc[ok, 'change']):+.1%}; "
        f"scatter prior {result.attrs['year_scatter_prior']}"
    )
    assert 20 <= len(cities) <= 60  # Nairobi, Mombasa, Kisumu, Nakuru, Eldoret … (32 measured)
    # Nairobi (−1.29, 36.82) is the largest natural city and did not shrink
    nairobi = result.loc[result["area_km2"].idxmax()]
    assert nairobi.geometry.contains(Point(36.82, -1.29))
    assert nairobi["status"] == "ok" and not nairobi["shrinking"]
    assert {f"light_{y}" for y in range(2020, 2024)} <= set(result.columns)
    assert result.loc[ok, "change_p"].between(0, 1).all()
    assert not (result["shrinking_significant"] & ~result["shrinking"]).any()
    assert int(result["shrinking_significant"].sum()) <= int(result["shrinking"].sum())
