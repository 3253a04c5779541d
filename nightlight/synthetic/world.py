""":class:`World`: a synthetic world's lazy mosaics per year, its ground truth, and GeoTIFF export.

A mosaic's dask graph has one task per chunk (:func:`render`, the renderer kernel); each
task carries only the cities whose support meets its chunk (the kernel's
``synth_city.city_window`` of each city).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as dsa
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from dask.array.core import normalize_chunks
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from nightlight.errors import CatalogError
from nightlight.grid import Grid
from nightlight.io.raster import chunk_pair, write_geotiff
from nightlight.kernels import synth as ksynth
from nightlight.kernels import synth_city as kcity
from nightlight.kernels import synth_noise as knoise
from nightlight.synthetic.model import UNITS, SensorModel, year_key

if TYPE_CHECKING:
    from dask.typing import Key


@dataclass
class World:
    """A synthetic night-light world: lazy mosaics plus the ground truth.

    Attributes
    ----------
    seed, sensor, years
        What it was made from; ``years`` sorted, the first is the base year.
    grid : Grid
        EPSG:4326 grid of the mosaics (15″ VIIRS, 30″ DMSP).
    truth : pandas.DataFrame
        One row per planted city: ``city_id``, ``lon``, ``lat`` (degrees),
        ``radius_km``, ``semi_major_km``, ``semi_minor_km``, ``angle_deg``,
        ``peak`` (base-year core light above background, nW/cm²/sr; for DMSP the
        radiance-like light before the DN response),
        ``is_flare``, ``planted_change``, ``true_change`` (first → last year),
        ``kind`` ("shrinking" | "stable" | "growing"), ``lit_px``, ``lit_area_km2``
        (base-year noiseless lit extent at :attr:`lit_threshold`), ``base_light``
        (noiseless sum inside it), ``expected_natural_city`` (lit area > 5 km²),
        and per year ``factor_YYYY`` (brightness factor) and ``change_YYYY``
        (change of the base-extent sum vs the base year).
    lit_threshold : float
        The threshold the truth uses (5 nW/cm²/sr VIIRS, DN 20 DMSP).
    chunks : (int, int)
        Default dask chunk shape of :meth:`mosaic`.
    """

    seed: int
    sensor: str
    years: tuple[int, ...]
    grid: Grid
    truth: pd.DataFrame = field(repr=False)
    lit_threshold: float
    chunks: tuple[int, int]
    _model: SensorModel = field(repr=False)
    _cities: np.ndarray = field(repr=False)  # (n, N_CITY_COLS), C_AMP = base-year peak
    _factors: np.ndarray = field(repr=False)  # (n, n_years)
    _origin: tuple[int, int] = field(repr=False)  # global (row, col) of pixel (0, 0)

    def __repr__(self) -> str:
        kinds = self.truth["kind"].value_counts().to_dict()
        return (
            f"World(sensor={self.sensor!r}, seed={self.seed}, years={list(self.years)}, "
            f"grid={self.grid.describe()}, cities={len(self.truth)} {kinds}, "
            f"natural cities expected={int(self.truth['expected_natural_city'].sum())})"
        )

    # ------------------------------------------------------------------ mosaics
    def _year_index(self, year: int) -> int:
        try:
            return self.years.index(int(year))
        except ValueError:
            raise CatalogError(
                f"year={year!r}: this world has years {list(self.years)}. "
                f"Pass one of them, or make the world with years=range({year}, ...) including it."
            ) from None

    def mosaic(self, year: int, *, noise: bool = True, chunks: int | tuple[int, int] | None = None) -> xr.DataArray:
        """The lazy mosaic of one year.

        Parameters
        ----------
        year : int
            One of :attr:`years`.
        noise : bool
            False gives the noiseless model (DMSP: unrounded DN), the quantity the
            truth table is computed from.
        chunks : int or (int, int), optional
            Dask chunk shape (default: the world's). Values do not depend on it.

        Returns
        -------
        xarray.DataArray
            2-D (y, x) float32 dask array, EPSG:4326 (rioxarray CRS + transform), x/y at
            pixel centers, radiance in nW/cm²/sr (VIIRS) or integer DN 0–63 (DMSP),
            named ``"{sensor}_{year}"``.
        """
        cities = self._cities.copy()
        cities[:, kcity.C_AMP] *= self._factors[:, self._year_index(year)]
        edge = chunk_pair(chunks if chunks is not None else self.chunks, self.grid.shape, label=f"{self.sensor} world")
        edges = normalize_chunks(edge, self.grid.shape)
        # the name holds everything the values depend on (not the chunk functions)
        token = tokenize(self.seed, self.sensor, self.grid.transform, year, noise, edges, self._cities, self._factors)
        name = f"synth-{self.sensor}-{year}-{'noisy' if noise else 'clean'}-{token}"
        m, (gr, gc) = self._model, self._origin
        key = year_key(self.seed, int(year), 1)
        # Each task carries only the cities whose support meets its chunk (a bbox
        # filter), so the graph stays small for a global world and each chunk is
        # generated on its own.
        windows = np.array([kcity.city_window(c, m.res) for c in cities], np.int64).reshape(-1, 4)
        rows_lo, rows_hi, cols_lo, cols_hi = windows.T
        dsk: dict[Key, Any] = {}  # annotated: dask's Key is a union, and dict keys are invariant
        for i, j, (r0, r1, c0, c1) in self.grid.blocks(edges):
            sel = (rows_hi > gr + r0) & (rows_lo < gr + r1) & (cols_hi > gc + c0) & (cols_lo < gc + c1)
            # (boolean indexing copies the rows into a new C-contiguous array, as the kernel needs)
            dsk[(name, i, j)] = (render, gr + r0, gc + c0, r1 - r0, c1 - c0, m, cities[sel], key, noise)
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
        data = dsa.Array(graph, name, chunks=edges, dtype=np.float32)
        attrs = {
            "units": UNITS[self.sensor],
            "sensor": self.sensor,
            "year": int(year),
            "seed": int(self.seed),
            "synthetic": "nightlight.synthetic",
            "noise": int(noise),
            "lit_threshold": self.lit_threshold,
        }
        out = self.grid.wrap(data, name=f"{self.sensor}_{year}", attrs=attrs)
        return out.rio.write_nodata(np.nan, encoded=False)

    def mosaics(self, **kwargs) -> dict[int, xr.DataArray]:
        """``{year: mosaic(year)}`` for every year of the world."""
        return {y: self.mosaic(y, **kwargs) for y in self.years}

    def write_geotiffs(self, out_dir: str | os.PathLike) -> dict[int, Path]:
        """Write each year as a tiled GeoTIFF, one dask chunk (rasterio window) at a time.

        VIIRS is written as float32, DMSP as uint8 DN (as the real stable-lights
        product), in 512 × 512 tiles; files are ``{sensor}_{year}.tif`` in ``out_dir`` (created).
        Peak memory is about one chunk, never the whole mosaic.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tiles = dict(tiled=True, blockxsize=512, blockysize=512) if min(self.grid.shape) >= 512 else {}
        written: dict[int, Path] = {}
        for year in self.years:
            m = self.mosaic(year)
            written[int(year)] = write_geotiff(
                out_dir / f"{self.sensor}_{year}.tif",
                m.rio.write_nodata(None),  # NaN never occurs; the files declare no nodata
                dtype="float32" if self.sensor == "viirs" else "uint8",
                tags={k: m.attrs[k] for k in ("sensor", "year", "seed", "units", "synthetic")},
                compress="deflate",
                **tiles,
            )
        return written


#: Normal quantile table of the noise kernel (built once, 33 kB).
_NORMAL_TABLE = knoise.normal_table()


def render(grow0, gcol0, h, w, model: SensorModel, cities, key, noise) -> np.ndarray:
    """One chunk (the task of a mosaic's graph): global rows ``grow0:grow0+h``, cols ``gcol0:gcol0+w``."""
    m = model
    noise_model = (m.background, m.sigma0, m.sigma_rel, m.gain, m.x0, _NORMAL_TABLE)
    return ksynth.render_chunk(grow0, gcol0, h, w, m.res, cities, m.code, key, noise, *noise_model)
