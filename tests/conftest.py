"""Shared fixtures: the real-data folder (skipped cleanly when absent) and hypothesis profiles.

Georeferenced builders and hypothesis strategies live in :mod:`nightlight.testing`
(shipped with the package), scenes several test modules share in :mod:`tests.helpers`;
test modules import from there, never from each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.realdata import SHARED_DATA, real_file

# CI runs derandomized so a red build is reproducible; locally hypothesis explores.
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` relative to the repo root; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repo on project machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_file(shared_data: Path) -> Callable[..., Path]:
    """``shared_file("fixtures", "x.tif")``: a path under ``../shared/data``; skips the test when it is missing."""
    return lambda *parts: real_file(shared_data, *parts)
