"""Where the shipped catalog's files are (installed as ``nightlight.catalog``)."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def catalog_path(*parts: str) -> Traversable:
    """Path (``importlib.resources`` Traversable) of a file in the shipped catalog."""
    return files("nightlight.catalog").joinpath(*parts)
