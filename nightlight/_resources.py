"""Where the shipped catalog's files are (installed as ``nightlight.catalog``)."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable


@lru_cache(maxsize=64)  # the installed package does not move; every catalog look-up resolves it (50 µs)
def catalog_path(*parts: str) -> Traversable:
    """Path (``importlib.resources`` Traversable) of a file in the shipped catalog."""
    return files("nightlight.catalog").joinpath(*parts)
