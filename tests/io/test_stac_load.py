"""STAC that loads: the catalog's items for local files give odc-stac the pixels open_mosaic reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nightlight
from nightlight.io.catalog import get_product
from nightlight.io.stac import product_items, write_stac

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name, key", [("shanghai-viirs-like", "2016"), ("china-viirslike-8bit", "2016")])
def test_odc_stac_loads_the_same_array_as_open_mosaic(shared_data, monkeypatch, name, key):
    odc_stac = pytest.importorskip("odc.stac")
    monkeypatch.chdir(REPO)
    items = [i for i in product_items(get_product(name)) if i.id == f"{name}-{key}"]
    assert len(items) == 1 and items[0].properties["start_datetime"].startswith(key)
    got = odc_stac.load(items, bands=["data"], chunks={})["data"].isel(time=0)
    ref = nightlight.open_mosaic(f"{name}:{key}")
    assert got.shape == ref.shape
    window = (slice(5000, 5600), slice(10000, 10600)) if got.shape[0] > 1000 else (slice(None), slice(None))
    np.testing.assert_array_equal(got[window].values.astype(np.float32), ref[window].values)
    np.testing.assert_allclose(got[got.dims[-1]].values, ref["x"].values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[got.dims[-2]].values, ref["y"].values, rtol=0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.realdata
def test_the_written_catalog_holds_items_for_the_local_files(shared_data, monkeypatch, tmp_path):
    import pystac

    monkeypatch.chdir(REPO)
    cat = pystac.Catalog.from_file(str(write_stac(tmp_path / "stac")))
    shanghai = cat.get_child("shanghai-viirs-like")
    assert len(list(shanghai.get_items())) == 21  # 2000–2020
    assert not list(cat.get_child("viirs-vnl-v2.1").get_items())  # remote-only: no local file, no item
