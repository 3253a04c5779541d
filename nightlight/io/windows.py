"""Many small pixel windows of a big chunked mosaic, each chunk computed once, several at a time.

The shrinkage patterns (:mod:`nightlight.change.patterns`) read the bounding-box window of
every shrinking city from both years. Slicing a dask array per window builds and
optimises one graph per window, and re-reads a chunk for every window that touches it;
computing the chunks one by one leaves every core but one idle (and on a dask cluster,
each one is a round trip). :class:`WindowReader` keeps the last ``max_blocks`` chunks
(LRU) and, told the windows in advance (:meth:`WindowReader.plan`), computes each
missing chunk together with the next ones the windows will need — of every mosaic it
reads (the base and the compared year, on one grid) — in one ``dask.compute``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable

import dask
import numpy as np
import xarray as xr

from nightlight._backend import is_dask
from nightlight.grid import chunk_edges


class WindowReader:
    """Read many small pixel windows of one or more (dask-backed) mosaics through a chunk cache.

    Parameters
    ----------
    *das : DataArray
        The mosaics, on one grid. NumPy data is sliced directly; dask data is read chunk by chunk.
    max_blocks : int
        Chunks kept, of all mosaics together (memory: ``max_blocks`` chunks).
    batch : int
        Chunks computed together on a miss, when :meth:`plan` said which come next.

    Visit windows in the order of :meth:`order_key` for the best reuse.
    """

    def __init__(self, *das: xr.DataArray, max_blocks: int = 16, batch: int = 4):
        self._data = [da.data for da in das]
        self._max = max_blocks
        self._batch = max(1, min(batch, max_blocks // 2))
        self._cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._upcoming: deque[list[tuple[int, int, int]]] = deque()
        self._edges = [chunk_edges(d.chunks) if is_dask(d) else None for d in self._data]
        # a chunk as a Delayed computes to the chunk itself; ``.blocks[i, j]`` computes to a copy of it
        self._chunks = [d.to_delayed() if is_dask(d) else None for d in self._data]

    def _blocks_of(self, r0: int, r1: int, c0: int, c1: int, of: int = 0) -> list[tuple[int, int, int]]:
        """Keys (mosaic, block row, block column) of the chunks a window of mosaic ``of`` touches."""
        edges = self._edges[of]
        if edges is None:
            return []
        rows, cols = edges
        bi0, bi1 = np.searchsorted(rows, r0, "right") - 1, np.searchsorted(rows, r1, "left")
        bj0, bj1 = np.searchsorted(cols, c0, "right") - 1, np.searchsorted(cols, c1, "left")
        return [(of, int(i), int(j)) for i in range(bi0, bi1) for j in range(bj0, bj1)]

    def order_key(self, window: tuple[int, int, int, int]) -> tuple[int, ...]:
        """Sort key visiting windows chunk by chunk (the chunk of a window's first pixel, then the window).

        Row-major order of the windows themselves sweeps every chunk column for each new first row:
        over a mosaic wider than ``max_blocks`` chunks, each window then re-computes its chunk.
        """
        first = self._blocks_of(window[0], window[0] + 1, window[2], window[2] + 1)
        return (*first[0][1:], *window) if first else tuple(window)

    def plan(self, windows: Iterable[tuple[int, ...]]) -> None:
        """The windows ``(r0, r1, c0, c1[, of])`` about to be read, in order: their chunks are prefetched in batches."""
        self._upcoming.extend(keys for win in windows if (keys := self._blocks_of(*win)))

    def _block(self, key: tuple[int, int, int]) -> np.ndarray:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        wanted = [key]
        # The next chunks the planned windows need that are not cached — only as far ahead as
        # the cache can hold them until they are read, so no prefetched chunk is evicted unused.
        horizon = {key}
        for nxt in itertools.chain.from_iterable(self._upcoming):
            horizon.add(nxt)
            if len(wanted) == self._batch or len(horizon) > self._max - self._batch:
                break
            if nxt not in self._cache and nxt not in wanted:
                wanted.append(nxt)
        values = dask.compute(*[self._chunks[of][i, j] for of, i, j in wanted])  # type: ignore[index]
        for k, value in zip(wanted, values):
            self._cache[k] = np.asarray(value)
            self._cache.move_to_end(k)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return self._cache[key]

    def read(self, r0: int, r1: int, c0: int, c1: int, of: int = 0) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` of mosaic ``of`` (0 = the first given) as a NumPy array."""
        data, edges = self._data[of], self._edges[of]
        if edges is None:
            return np.asarray(data[r0:r1, c0:c1])
        rows, cols = edges
        out = np.empty((r1 - r0, c1 - c0), dtype=data.dtype)
        keys = self._blocks_of(r0, r1, c0, c1, of)
        if self._upcoming and self._upcoming[0] == keys:  # the planned window: no longer upcoming
            self._upcoming.popleft()
        for _, i, j in keys:
            br0, bc0 = rows[i], cols[j]
            rr0, rr1 = max(r0, br0), min(r1, rows[i + 1])
            cc0, cc1 = max(c0, bc0), min(c1, cols[j + 1])
            out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = self._block((of, i, j))[
                rr0 - br0 : rr1 - br0, cc0 - bc0 : cc1 - bc0
            ]
        return out
