"""Natural cities (Jiang & Miao 2015): components over a minimum true area, with polygons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from nightlight.area import AreaMode
from nightlight.checkpoint import CheckpointStore
from nightlight.cities.components import Components
from nightlight.cities.label import block_ids, label_components
from nightlight.cities.polygons import city_polygons
from nightlight.cities.threshold import Threshold
from nightlight.params import check_param
from nightlight.preprocess.inputs import prepare_inputs


def _cities_frame(comps: Components, min_area_km2: float) -> tuple[pd.DataFrame, np.ndarray]:
    table = comps.table
    keep = table["area_km2"].to_numpy() > min_area_km2
    component_city = np.zeros(len(table), np.int64)
    component_city[keep] = np.arange(1, int(keep.sum()) + 1)
    cities = table[keep].reset_index(drop=True)
    cities.insert(0, "city_id", np.arange(1, len(cities) + 1, dtype=np.int64))
    t = comps.grid.transform
    cr, cc = cities.pop("centroid_row").to_numpy(), cities.pop("centroid_col").to_numpy()
    cities.insert(3, "centroid_x", t.c + cc * t.a + cr * t.b)
    cities.insert(4, "centroid_y", t.f + cc * t.d + cr * t.e)
    return cities, component_city


def extract_natural_cities(
    mosaic: xr.DataArray | str | None = None,
    *,
    lit_threshold: Threshold = None,
    min_area_km2: float = 5.0,
    connectivity: int = 8,
    mask: xr.DataArray | str | None = None,
    values: Mapping[str, xr.DataArray] | Sequence[xr.DataArray] | None = None,
    polygons: bool = True,
    area: AreaMode = "exact",
    headtail_level: int = 1,
    checkpoints: CheckpointStore | None = None,
) -> gpd.GeoDataFrame:
    """Natural cities: connected lit/built-up patches whose true ground area exceeds ``min_area_km2``.

    Parameters
    ----------
    mosaic : DataArray, path, URL or catalog name
        Night-light mosaic: DMSP DN (0–63) or VIIRS radiance (nW/cm²/sr). Paths go
        through the one input boundary (:func:`nightlight.preprocess.inputs.prepare_inputs`)
        with ``values`` and ``mask``: opened lazily, same units, snapped onto one grid.
    lit_threshold : float or "headtail"
        Lit level in the mosaic's units: pixels with value ≥ lit_threshold are lit.
        ``"headtail"``: Jiang's head/tail breaks (see :func:`headtail_breaks`).
    min_area_km2 : float
        Keep components whose ellipsoidal ground area is **strictly greater** than
        this (km²; default 5, Jiang et al. 2020).
    connectivity : {8, 4}
        8 (default) joins pixels that touch at corners.
    mask : DataArray or path, optional
        Built-up raster (nonzero = built-up) on the mosaic's grid, instead of a threshold.
    values : mapping/sequence of DataArray, optional
        Other bands (years) to sum inside each city (``light_<name>`` columns).
    polygons : bool
        Vectorise city outlines (default). ``False`` returns centroids as points —
        a statistics-only mode that skips the second pass over the mosaic.
    area : {"exact", "pyproj", "nominal"}
        Pixel-area rule (:mod:`nightlight.area`), the same as for the km² columns of
        :func:`nightlight.detect_shrinking` (:func:`nightlight.change.zonal.zonal_stats`):
        ``"exact"`` (default) refuses a CRS that distorts area (UTM, Web Mercator) with
        :class:`~nightlight.errors.UnsupportedCRSError`; ``"pyproj"`` uses per-pixel areas from
        pyproj's areal scale factor; ``"nominal"`` takes the nominal pixel size, with a warning.
    checkpoints : CheckpointStore, optional
        A batch job's resume store (:mod:`nightlight.checkpoint`): finished blocks of the
        labeling and polygon passes are loaded from it, new ones saved to it. None (default):
        nothing is kept.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per city, in the mosaic's CRS: ``city_id`` (1.., stable: row-major
        order of the city's first pixel), ``area_km2`` (km²), ``n_pixels``,
        ``centroid_x``/``centroid_y`` (CRS units), first pixel and bounding box
        (pixel rows/cols), ``light`` (sum of the mosaic over the city, DN or
        nW/cm²/sr × pixels), ``n_valid`` (non-NaN pixels), ``light_<name>`` and
        ``n_valid_<name>`` per extra band,
        ``geometry`` (polygons, or centroids when ``polygons=False``).
    """
    min_area_km2 = check_param("min_area_km2", min_area_km2)
    connectivity = check_param("connectivity", connectivity)
    if lit_threshold is not None:
        lit_threshold = check_param("lit_threshold", lit_threshold)
    mosaic, mask, values = _on_one_grid(mosaic, mask, values)
    comps = label_components(
        mosaic,
        threshold=lit_threshold,
        mask=mask,
        values=values,
        connectivity=connectivity,
        area=area,
        headtail_level=headtail_level,
        checkpoints=checkpoints,
    )
    cities, component_city = _cities_frame(comps, min_area_km2)
    crs = comps.grid.crs
    if polygons and len(cities):
        shapes = city_polygons(comps, component_city, checkpoints)
        geometry = [shapes[int(cid)] for cid in cities["city_id"]]
    else:
        geometry = gpd.points_from_xy(cities["centroid_x"], cities["centroid_y"]) if len(cities) else []
    gdf = gpd.GeoDataFrame(cities, geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)
    gdf.attrs["nightlight"] = {
        "step": "extract_natural_cities",
        "threshold": comps.threshold,
        "threshold_rule": lit_threshold
        if isinstance(lit_threshold, str)
        else ("mask" if mask is not None else "fixed"),
        "min_area_km2": min_area_km2,
        "connectivity": connectivity,
        "grid": comps.grid.describe(),
        "n_components": len(comps.table),
    }
    return gdf


def _on_one_grid(mosaic: Any, mask: Any, values: Any) -> tuple[Any, Any, Any]:
    """The mosaic, the mask and the extra bands through the input boundary: opened, checked, on one grid."""
    named = dict(values) if isinstance(values, Mapping) else None
    listed = [] if values is None or named is not None else list(values) if isinstance(values, Sequence) else [values]
    extra: dict[str, Any] = named if named is not None else {f"values[{i}]": v for i, v in enumerate(listed)}
    sources = {k: v for k, v in {"mosaic": mosaic, "mask": mask}.items() if v is not None}
    if not sources:
        return mosaic, mask, values
    # the mask is a 0/1 raster without light units: its grid is checked, its units are not
    light = prepare_inputs({**sources, **extra}, same_units=mask is None)
    opened = dict(zip(light.keys, light.mosaics))
    got = {k: opened[k] for k in extra}
    return opened.get("mosaic"), opened.get("mask"), got if named is not None else list(got.values()) or None


def city_label_raster(comps: Components, min_area_km2: float = 5.0) -> xr.DataArray:
    """A lazily computed label raster of city ids (0 = not a city), on the mosaic's grid."""
    _, component_city = _cities_frame(comps, min_area_km2)
    nby, nbx = comps.n_blocks
    lookups = {
        (i, j): comps.block_lookup(i, j, component_city).astype(np.int32) for i in range(nby) for j in range(nbx)
    }

    def block(x: np.ndarray, block_id: tuple[int, int]) -> np.ndarray:  # dask passes block_id
        i, j = block_id
        row0, col0 = comps.block_origin(i, j)
        return block_ids(x, row0, col0, comps.grid, comps.connectivity, comps.threshold, lookups[(i, j)])

    # the module-level map_blocks (what Array.map_blocks calls): the method's functools.wraps
    # stub (_Wrapped) does not bind ``self``, so mypy cannot check calls to it
    return comps.grid.wrap(dsa.map_blocks(block, comps.source, dtype=np.int32), name="city_id")
