"""The same code on a dask.distributed cluster (worker processes) gives the same cities."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from nightlight.cities import extract_natural_cities  # noqa: E402
from nightlight.synthetic import make_world  # noqa: E402

# every test here starts a dask.distributed cluster: `pytest -m "not slow"` leaves them out (CONTRIBUTING.md)
pytestmark = pytest.mark.slow


def test_natural_cities_on_a_local_process_cluster_equal_threaded():
    world = make_world(seed=3, bounds=(10.0, 44.0, 11.5, 45.0), chunks=128)
    mosaic = world.mosaic(world.years[0])
    threaded = extract_natural_cities(mosaic, lit_threshold=world.lit_threshold)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            clustered = extract_natural_cities(mosaic, lit_threshold=world.lit_threshold)
    assert len(threaded) == len(clustered) > 5
    np.testing.assert_array_equal(threaded["city_id"], clustered["city_id"])
    np.testing.assert_allclose(threaded["light"], clustered["light"], rtol=1e-12)
    assert all(a.equals(b) for a, b in zip(threaded.geometry, clustered.geometry))
