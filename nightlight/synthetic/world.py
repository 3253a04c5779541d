""":class:`World`: a synthetic world's lazy mosaics per year, its ground truth, and GeoTIFF export."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as dsa
import numpy as np
import pandas as pd
import rasterio
import rasterio.crs
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from dask.highlevelgraph import HighLevelGraph

from nightlight.errors import CatalogError
from nightlight.grid import Grid
from nightlight.kernels.synth_city import C_AMP
from nightlight.synthetic.chunks import chunk_pair, chunk_splits, city_windows, dask_token, render
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

    def truth_points(self):
        """The truth table as a GeoDataFrame of city centres (EPSG:4326)."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            self.truth.copy(), geometry=gpd.points_from_xy(self.truth["lon"], self.truth["lat"]), crs="EPSG:4326"
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

    def _year_cities(self, year: int) -> np.ndarray:
        cities = self._cities.copy()
        cities[:, C_AMP] *= self._factors[:, self._year_index(year)]
        return cities

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
        cities = self._year_cities(year)
        ch = chunk_pair(chunks if chunks is not None else self.chunks)
        h, w = self.grid.shape
        row_chunks = chunk_splits(h, ch[0])
        col_chunks = chunk_splits(w, ch[1])
        name = f"synth-{self.sensor}-{year}-{'noisy' if noise else 'clean'}-{dask_token(self, year, noise, ch)}"
        m = self._model
        key = year_key(self.seed, int(year), 1)
        # Each task carries only the cities whose support meets its chunk (a bbox
        # filter), so the graph stays small for a global world and each chunk is
        # generated on its own.
        rows_lo, rows_hi, cols_lo, cols_hi = city_windows(cities, m.res)
        dsk: dict[Key, Any] = {}  # annotated: dask's Key is a union, and dict keys are invariant
        r0 = 0
        for i, hh in enumerate(row_chunks):
            c0 = 0
            sel_r = (rows_hi > self._origin[0] + r0) & (rows_lo < self._origin[0] + r0 + hh)
            for j, ww in enumerate(col_chunks):
                sel = sel_r & (cols_hi > self._origin[1] + c0) & (cols_lo < self._origin[1] + c0 + ww)
                dsk[(name, i, j)] = (
                    render,
                    self._origin[0] + r0,
                    self._origin[1] + c0,
                    hh,
                    ww,
                    m,
                    np.ascontiguousarray(cities[sel]),
                    key,
                    noise,
                )
                c0 += ww
            r0 += hh
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
        data = dsa.Array(graph, name, chunks=(row_chunks, col_chunks), dtype=np.float32)
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
        h, w = self.grid.shape
        dtype = "float32" if self.sensor == "viirs" else "uint8"
        paths: dict[int, Path] = {}
        for year in self.years:
            da_year = self.mosaic(year)
            path = out_dir / f"{self.sensor}_{year}.tif"
            profile = dict(
                driver="GTiff",
                width=w,
                height=h,
                count=1,
                dtype=dtype,
                crs=self.grid.crs,
                transform=self.grid.transform,
                compress="deflate",
            )
            if h >= 512 and w >= 512:
                profile.update(tiled=True, blockxsize=512, blockysize=512)
            with rasterio.open(path, "w", **profile) as dst:
                dst.update_tags(
                    sensor=self.sensor,
                    year=str(year),
                    seed=str(self.seed),
                    units=UNITS[self.sensor],
                    synthetic="nightlight.synthetic",
                )
                r0 = 0
                blocks = da_year.data.to_delayed()
                for i, hh in enumerate(da_year.data.chunks[0]):
                    c0 = 0
                    for j, ww in enumerate(da_year.data.chunks[1]):
                        block = np.asarray(blocks[i, j].compute(scheduler="sync"))
                        dst.write(block.astype(dtype), 1, window=rasterio.windows.Window(c0, r0, ww, hh))
                        c0 += ww
                    r0 += hh
            paths[int(year)] = path
        return paths
