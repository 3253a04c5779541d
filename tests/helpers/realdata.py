"""The real-data folder ``../shared/data`` beside the repo; tests skip with the missing path when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def real_file(shared: Path, *parts: str) -> Path:
    """A file under ``../shared/data``; skips the test with its path when it is missing.

    Tests take the ``shared_file`` fixture (``tests/conftest.py``) or import this.
    """
    path = shared.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data file {path} is absent")
    return path
