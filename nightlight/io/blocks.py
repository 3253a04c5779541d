"""Read a raster band as a dask array, one task per chunk, each chunk checked as it is read.

Why not ``rioxarray.open_rasterio(chunks=…)``: its lazy reads go through xarray's
indexing machinery, so a failure deep in a compute is a bare ``RasterioIOError:
Read failed`` without the file's name, and there is no place to check values as
they arrive. Here every chunk is one task that

1. opens the file under the GDAL options of :mod:`nightlight.io.remote` (HTTP
   timeouts and retries: a server that accepts but never answers cannot hang a run),
2. reads its window and turns the declared (or overridden) nodata into NaN,
3. checks the values against the plausible range of the mosaic's units
   (:func:`nightlight.units.check_plausible`: undeclared −999 or 65535 never become light)
   once per opened array (the base year is read by the labelling, the fit and both decline runs),
4. and raises :class:`~nightlight.errors.InvalidRasterError` naming the file and the
   pixel block when the data cannot be read (a truncated file with an intact header) —
   whichever stage of the pipeline happens to compute that chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask.array as dsa
import numpy as np
import rasterio
import rasterio.errors
from dask.array.core import normalize_chunks
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from rasterio.windows import Window

from nightlight.errors import InvalidRasterError
from nightlight.grid import Grid
from nightlight.io.remote import gdal_env, timed_out
from nightlight.units import check_plausible

if TYPE_CHECKING:
    from dask.typing import Graph


@dataclass(frozen=True)
class BandSource:
    """Everything a chunk task needs to read its window (small, picklable for distributed workers)."""

    label: str  # the path/URL as the user gave it, for messages
    gdal_path: str
    band: int
    out_dtype: str
    nodata: float | None
    units: str
    gdal_options: tuple[tuple[str, str], ...]

    def read(self, r0: int, r1: int, c0: int, c1: int, *, check: bool = True) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` as ``out_dtype`` with nodata → NaN, checked unless ``check`` is False."""
        where = f"rows {r0}–{r1}, cols {c0}–{c1}"
        started = time.monotonic()
        try:
            with rasterio.Env(**dict(self.gdal_options)), rasterio.open(self.gdal_path) as ds:
                raw = ds.read(self.band, window=Window(c0, r0, c1 - c0, r1 - r0))
        except (rasterio.errors.RasterioError, OSError) as exc:
            if why := timed_out(self.gdal_path, started, self.gdal_options):
                raise InvalidRasterError(f"{self.label}: pixel data at {where}: {why}.") from exc
            raise InvalidRasterError(
                f"{self.label}: pixel data at {where} cannot be read ({exc}). The header opened, so the file is "
                "truncated or corrupt (or the server stopped answering): download or write it again."
            ) from exc
        values = raw.astype(self.out_dtype, copy=False)
        # raw is this task's own buffer: writing into it (values is raw) is safe; NaN nodata is NaN already
        if self.nodata is not None and not np.isnan(self.nodata):
            values[raw == self.nodata] = np.nan
        if check:
            check_plausible(values, self.units, source=self.label, where=where)
        return values


class _Checked:
    """Windows of one :func:`band_array` whose values passed the check: a file opened again gets a new one."""

    def __init__(self) -> None:  # a plain set in a task would be copied by dask for every task
        self.windows: set[tuple[int, int, int, int]] = set()


def _read_task(source: BandSource, checked: _Checked, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    win = (r0, r1, c0, c1)
    values = source.read(*win, check=win not in checked.windows)
    checked.windows.add(win)  # only once the check has passed (it raises otherwise)
    return values


def band_array(source: BandSource, grid: Grid, chunks: tuple[int, int] | None) -> Any:
    """The band as a dask array on ``grid`` (``chunks`` = (rows, cols) edge), or NumPy when ``chunks`` is None."""
    if chunks is None:
        h, w = grid.shape
        return source.read(0, h, 0, w)
    dask_chunks = normalize_chunks(chunks, grid.shape)
    name = "read-" + tokenize(source, grid.shape, chunks)
    checked = _Checked()
    layer: Graph = {  # annotated: Graph's key type is a union, and dict keys are invariant
        (name, i, j): (_read_task, source, checked, *win) for i, j, win in grid.blocks(dask_chunks)
    }
    graph = HighLevelGraph.from_collections(name, layer, dependencies=())
    return dsa.Array(graph, name, chunks=dask_chunks, dtype=np.dtype(source.out_dtype))


def source_options(overrides: dict[str, Any] | None = None) -> tuple[tuple[str, str], ...]:
    """The GDAL options of :func:`nightlight.io.remote.gdal_env` as a hashable tuple."""
    return tuple(sorted(gdal_env(overrides).items()))
