"""Test helpers for code that uses nightlight, and for nightlight's own tests.

Shipped in the package (as ``stackstac.testing`` and odc-geo's test utilities are) so
downstream code builds georeferenced rasters and draws random inputs the same way
nightlight's tests do:

* :func:`georeferenced` — a ``(y, x)`` DataArray with pixel-centre coordinates, CRS
  and transform; :func:`write_geotiff` — the same (or a plain array) as a GeoTIFF;
* hypothesis strategies — :func:`chunkings` (chunk shapes that need not divide the
  array), :func:`masks`, :func:`mosaics` (small float rasters with NaN and negative
  values), :func:`polygons_in` (valid polygons, with holes and several parts, on a grid);
* :func:`assert_chunk_invariant` — a function gives the same answer for every chunking.

Hypothesis is a test dependency (``pip install 'nightlight[test]'``), not a runtime
one. It is imported only when a strategy is built, so ``import nightlight.testing``,
the builders and :func:`assert_chunk_invariant` work without it; calling a strategy
without it raises :class:`ImportError` saying what to install.
"""

from nightlight.testing.builders import Chunks, georeferenced, write_geotiff
from nightlight.testing.invariance import assert_chunk_invariant
from nightlight.testing.strategies import chunkings, masks, mosaics, polygons_in

__all__ = [
    "Chunks",
    "assert_chunk_invariant",
    "chunkings",
    "georeferenced",
    "masks",
    "mosaics",
    "polygons_in",
    "write_geotiff",
]
