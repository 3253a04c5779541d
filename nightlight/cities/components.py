"""The result of the labeling pass: connected components as statistics, and where their blocks are.

Later passes (polygons, label rasters) re-label block by block; they ask a
:class:`Components` for its blocks and lookup tables through its public methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask.array as dsa
import numpy as np
import pandas as pd

from nightlight.grid import Grid


@dataclass
class Components:
    """Connected components of a mask, as statistics only (no label image).

    Attributes
    ----------
    grid : Grid
        The mosaic's pixel grid.
    table : pandas.DataFrame
        One row per component, sorted by first pixel (row-major): ``n_pixels``,
        ``area_km2``, first pixel, bounding box, centroid (pixel units),
        ``light_<band>`` sums and ``n_valid_<band>`` counts.
    connectivity : int
        4 or 8.
    """

    grid: Grid
    table: pd.DataFrame
    connectivity: int
    threshold: float | None = None
    _blocks: BlockPlan = field(kw_only=True, repr=False)  # required (never None): every later pass reads these
    _label_component: np.ndarray = field(kw_only=True, repr=False)  # global label -> component row
    _src: dsa.Array = field(kw_only=True, repr=False)  # the lazy mask source, for later passes

    @property
    def source(self) -> dsa.Array:
        """The lazy mask source (the mosaic's data, or a built-up raster), chunked as it was labeled."""
        return self._src

    @property
    def n_blocks(self) -> tuple[int, int]:
        """Blocks (rows, columns) of the labeling pass."""
        return len(self._blocks.row_edges) - 1, len(self._blocks.col_edges) - 1

    def block_origin(self, bi: int, bj: int) -> tuple[int, int]:
        """(row, col) of block (bi, bj)'s first pixel on the mosaic's grid."""
        return int(self._blocks.row_edges[bi]), int(self._blocks.col_edges[bj])

    def block_lookup(self, bi: int, bj: int, component_ids: np.ndarray) -> np.ndarray:
        """Local label → output id table of block (bi, bj); ``component_ids`` is per table row."""
        offset, n = self._blocks.offset(bi, bj), self._blocks.count(bi, bj)
        lookup = np.zeros(n + 1, np.int64)
        lookup[1:] = component_ids[self._label_component[offset + 1 : offset + n + 1]]
        return lookup


@dataclass
class BlockPlan:
    """Where blocks are and how many labels each holds (for global label offsets)."""

    row_edges: np.ndarray
    col_edges: np.ndarray
    counts: np.ndarray  # (nby, nbx)
    offsets: np.ndarray  # (nby, nbx) global label of a block's label 0

    def offset(self, bi: int, bj: int) -> int:
        return int(self.offsets[bi, bj])

    def count(self, bi: int, bj: int) -> int:
        return int(self.counts[bi, bj])


@dataclass
class BlockResult:
    n: int
    istats: np.ndarray
    fstats: np.ndarray
    sums: np.ndarray
    nvalid: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
