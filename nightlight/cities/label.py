"""Block labeling + border merge: connected components of a mask as statistics, at any scale.

A *natural city* (Jiang & Miao 2015, *The evolution of natural cities from the
perspective of location-based social media*; Jiang, Zhai, Meng & Long 2020, J. Urban
Plann. Dev. 146(4)) is a connected patch of lit or built-up pixels whose true
ground area exceeds 5 km², regardless of administrative borders.

How it scales (the dask-image scheme, without a global label image):

1. every block is labeled by a numba kernel that, in the same pass, gathers
   per-label statistics (pixels, km², light sums per band, bounding box, first pixel);
   a block task returns only those statistics and its four edge rows/columns;
2. the driver pairs labels that touch across block borders (and, under
   8-connectivity, across block corners), solves the pairs with union-find and
   reduces statistics per component — memory ∝ labels + border pixels, never ∝ mosaic;
3. ``city_id`` numbers the kept components in row-major order of their first
   pixel, a property of the component alone, so ids do not change with chunking;
4. polygons are vectorised per block in integer pixel coordinates (exact shared
   edges), dissolved by ``city_id``, then mapped to CRS coordinates once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr
from dask.highlevelgraph import HighLevelGraph

from nightlight._backend import as_dask
from nightlight.area import AreaMode, pixel_areas_km2, resolve_area
from nightlight.checkpoint import CheckpointStore, Codec, stage_of
from nightlight.cities.components import BlockPlan, BlockResult, Components
from nightlight.cities.threshold import Threshold, resolve_threshold
from nightlight.errors import InvalidRasterError, ParameterError
from nightlight.grid import Grid, require_same_grid
from nightlight.io.raster import open_mosaic
from nightlight.kernels import label as K

#: Columns of every natural-cities table, in order (``light*`` columns follow).
CITY_COLUMNS = [
    "city_id",
    "area_km2",
    "n_pixels",
    "centroid_x",
    "centroid_y",
    "first_row",
    "first_col",
    "row_min",
    "row_max",
    "col_min",
    "col_max",
]


def _block_mask(src: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is None:  # a built-up mask: anything nonzero and not nodata
        return np.nan_to_num(src, nan=0.0) > 0
    return src >= threshold  # NaN compares False: nodata is never lit


def _label_runs(src, value_blocks, row0, col0, grid, connectivity, threshold, area):
    """:func:`nightlight.kernels.label.label_block` of one block: its runs and per-label statistics."""
    mask = _block_mask(np.asarray(src), threshold)
    h, w = mask.shape
    # area=None: the caller wants labels only (polygons, label raster), not km².
    areas = np.zeros((h, 1)) if area is None else pixel_areas_km2(grid, row0, row0 + h, col0, col0 + w, area=area)
    if len(value_blocks) == 1:  # a view, not a copy (np.stack or ascontiguousarray: a fifth of the CPU)
        values = np.asarray(value_blocks[0])[None]
    elif value_blocks:
        values = np.stack([np.asarray(v) for v in value_blocks])
    else:
        values = np.zeros((0, h, w), np.float32)
    return K.label_block(mask, connectivity, areas, values)


def block_ids(src, row0, col0, grid, connectivity, threshold, lookup: np.ndarray) -> np.ndarray:
    """One block's int32 image of ``lookup[label]`` (0 = background, or a label ``lookup`` maps to 0)."""
    runs, *_ = _label_runs(src, [], row0, col0, grid, connectivity, threshold, None)
    return K.paint(runs, *np.shape(src), lookup.astype(np.int32))


def _stats_task(src, *args) -> BlockResult:
    """A block's statistics and edges (args as :func:`_label_runs`'s); no label image is painted."""
    runs, n, istats, fstats, sums, nvalid = _label_runs(src, *args)
    top, bottom, left, right = K.run_edges(runs, *np.shape(src))
    return BlockResult(n, istats[1:], fstats[1:], sums[1:], nvalid[1:], top, bottom, left, right)


def _encode_stats(r: BlockResult) -> dict[str, np.ndarray]:
    return {f.name: np.asarray(getattr(r, f.name)) for f in fields(r)}


def _decode_stats(a: Mapping[str, np.ndarray]) -> BlockResult:
    n, istats, fstats, sums, nvalid, top, bottom, left, right = (a[f.name] for f in fields(BlockResult))
    return BlockResult(int(n), istats, fstats, sums, nvalid, top, bottom, left, right)


#: a labeling block's statistics as checkpoint arrays (:mod:`nightlight.checkpoint`)
STATS_CODEC = Codec(_encode_stats, _decode_stats)


def _as_values(values) -> dict[str, xr.DataArray]:
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return {str(k): open_mosaic(v) for k, v in values.items()}
    if isinstance(values, (xr.DataArray, str)) or hasattr(values, "__fspath__"):
        values = [values]
    out = {}
    for i, v in enumerate(values):
        da = open_mosaic(v)
        out[str(da.name) if da.name is not None and str(da.name) not in out else f"band{i}"] = da
    return out


def label_components(
    mosaic: xr.DataArray | str | None = None,
    *,
    threshold: Threshold = None,
    mask: xr.DataArray | str | None = None,
    values: Mapping[str, xr.DataArray] | Sequence[xr.DataArray] | None = None,
    connectivity: int = 8,
    area: AreaMode = "exact",
    headtail_level: int = 1,
    checkpoints: CheckpointStore | None = None,
) -> Components:
    """Label the connected components of a lit or built-up mask, chunk by chunk.

    Parameters
    ----------
    mosaic : DataArray or path
        Night-light mosaic (DN or nW/cm²/sr). Its light is summed per component as
        ``light``. May be omitted when ``mask`` is given.
    threshold : float or "headtail"
        Pixels with value ≥ ``threshold`` are lit (NaN never is). ``"headtail"`` uses
        :func:`headtail_breaks` level ``headtail_level``.
    mask : DataArray or path, optional
        A 0/1 built-up raster on the mosaic's grid (e.g. MGUP); nonzero, non-nodata
        pixels are foreground. Replaces ``threshold``.
    values : mapping or sequence of DataArray, optional
        More bands (e.g. other years) on the same grid, summed per component as
        ``light_<name>``.
    connectivity : {4, 8}
    area : {"exact", "pyproj", "nominal"}
        Pixel-area rule (:mod:`nightlight.area`); a CRS that distorts area is refused
        unless ``"pyproj"`` or ``"nominal"``.
    checkpoints : CheckpointStore, optional
        A batch job's resume store (:mod:`nightlight.checkpoint`): finished blocks are
        loaded from it, new ones saved to it. None (default): nothing is kept.

    Returns
    -------
    Components
    """
    if connectivity not in (4, 8):
        raise ParameterError(f"connectivity={connectivity!r}: use 4 (edges) or 8 (edges and corners).")
    bands: dict[str, xr.DataArray] = {}
    if mosaic is not None:
        mosaic = open_mosaic(mosaic)
        bands["light"] = mosaic
    for name, da in _as_values(values).items():
        bands[name if name.startswith("light") else f"light_{name}"] = da
    if mask is not None:
        if threshold is not None:
            raise ParameterError(
                "Pass either threshold= (a lit mask from the mosaic) or mask= (a built-up raster), not both."
            )
        src = open_mosaic(mask)
        label_name = str(mask) if isinstance(mask, str) else "mask"
    else:
        if mosaic is None:
            raise ParameterError("Pass a mosaic (with threshold=) or a mask=.")
        if threshold is None:
            raise ParameterError(
                "threshold is required: the lit level in the mosaic's units (e.g. DN 10 for DMSP, "
                "5 nW/cm²/sr for VIIRS) or 'headtail'."
            )
        src = mosaic
        label_name = "mosaic"
    for dim_check in [src, *bands.values()]:
        if dim_check.ndim != 2:
            raise InvalidRasterError(f"{dim_check.name}: expected a 2-D (y, x) raster, got dims {dim_check.dims}.")
    grid = Grid.of(src, name=label_name)
    for name, da in bands.items():
        require_same_grid(grid, da, names=(label_name, name))
    area = resolve_area(grid, area, name=label_name)  # before any pass over the pixels
    thr = None if mask is not None else resolve_threshold(src, threshold, headtail_level)  # src is the mosaic
    src_data = as_dask(src, chunks=-1)  # a NumPy mosaic is one block
    value_data = [as_dask(da).rechunk(src_data.chunks) for da in bands.values()]
    plan, results = _run_stats(src_data, value_data, grid, connectivity, thr, area, checkpoints)
    table, label_component = _merge(plan, results, grid, connectivity, list(bands))
    return Components(
        grid=grid,
        table=table,
        connectivity=connectivity,
        threshold=thr,
        _blocks=plan,
        _label_component=label_component,
        _src=src_data,
    )


def _per_block(
    func, name: str, src_data: dsa.Array, value_data: list[dsa.Array], row_edges, col_edges, *args, store=None
) -> dsa.Array:
    """A (nby, nbx) object dask array whose block (i, j) is ``func(src[i, j], values[i, j], row0, col0, *args)``.

    The graph is written by hand (as dask-image does) rather than with one ``dask.delayed`` call per block: that
    tokenizes every argument per block and costs ~3 ms a block, which dominates on small mosaics.
    """
    token = dask.base.tokenize(src_data, *value_data, args)
    key = f"{name}-{token}"
    nby, nbx = len(row_edges) - 1, len(col_edges) - 1
    # a batch job's store (nightlight.checkpoint): a finished block is loaded instead, without its reads
    record = {"inputs": [src_data.name, *(v.name for v in value_data)], "chunks": src_data.chunks, "args": args}
    stage = stage_of(store, name, record, STATS_CODEC)

    def cell(i: int, j: int) -> tuple:
        row0, col0 = int(row_edges[i]), int(col_edges[j])
        task = (func, (src_data.name, i, j), [(v.name, i, j) for v in value_data], row0, col0, *args)
        return (_as_cell, *task) if stage is None else (_as_cell_of, stage.task(f"{i}-{j}", *task))

    dsk: dask.typing.Graph = {  # annotated: Graph's key type is a union, and dict keys are invariant
        (key, i, j): cell(i, j) for i in range(nby) for j in range(nbx)
    }
    # dask.typing.DaskCollection wants __dask_scheduler__ a staticmethod; Array's reads as a function (not in mypy 1.10)
    graph = HighLevelGraph.from_collections(key, dsk, dependencies=[src_data, *value_data])  # type: ignore[list-item, unused-ignore]
    return dsa.Array(graph, key, chunks=((1,) * nby, (1,) * nbx), dtype=object)


def _as_cell(func, src, value_blocks, row0, col0, *args):
    return _as_cell_of(func(src, value_blocks, row0, col0, *args))


def _as_cell_of(result):
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = result
    return cell


def _run_stats(src_data, value_data, grid, connectivity, thr, area, store):
    row_edges, col_edges = grid.chunk_edges(src_data.chunks)
    results = _per_block(
        _stats_task,
        "nightlight-label",
        src_data,
        value_data,
        row_edges,
        col_edges,
        grid,
        connectivity,
        thr,
        area,
        store=store,
    ).compute()
    nby, nbx = results.shape
    counts = np.array([[r.n for r in row] for row in results], dtype=np.int64).reshape(nby, nbx)
    offsets = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(nby, nbx)
    return BlockPlan(row_edges, col_edges, counts, offsets), results


def _border_pairs(plan: BlockPlan, results, connectivity: int) -> np.ndarray:
    """Pairs of global labels that touch across block borders (duplicates possible)."""
    nby, nbx = results.shape

    def edge(i: int, j: int, side: str) -> np.ndarray:  # global labels along one side of a block
        e = getattr(results[i, j], side).astype(np.int64)
        return np.where(e > 0, e + plan.offset(i, j), 0)

    pairs = [np.empty((0, 2), np.int64)]
    for i in range(nby):  # facing columns of neighbouring blocks
        pairs += [K.edge_pairs(edge(i, j, "right"), edge(i, j + 1, "left"), connectivity) for j in range(nbx - 1)]
    for i in range(nby - 1):
        # facing rows across the whole mosaic: the diagonal touches across block corners are among them
        bottom = np.concatenate([edge(i, j, "bottom") for j in range(nbx)])
        top = np.concatenate([edge(i + 1, j, "top") for j in range(nbx)])
        pairs.append(K.edge_pairs(bottom, top, connectivity))
    return np.concatenate(pairs)


def _per_component(comp: np.ndarray, ncomp: int, x: np.ndarray, ufunc=np.add, start=0) -> np.ndarray:
    """Per-label rows ``x`` reduced to components by ``ufunc.at`` (in label order: sums as a loop adds them)."""
    out = np.full((ncomp, *x.shape[1:]), start, x.dtype)
    ufunc.at(out, comp, x)
    return out


def _merge(plan: BlockPlan, results, grid: Grid, connectivity: int, band_names: list[str]):
    nby, nbx = results.shape
    n_total = int(plan.counts.sum())
    nb = len(band_names)
    width = grid.shape[1]
    istats = np.zeros((n_total, K.N_ISTATS), np.int64)
    fstats = np.zeros((n_total, K.N_FSTATS), np.float64)
    sums = np.zeros((n_total, nb), np.float64)
    nvalid = np.zeros((n_total, nb), np.int64)
    for i in range(nby):
        for j in range(nbx):
            r = results[i, j]
            if r.n == 0:
                continue
            s = slice(plan.offset(i, j), plan.offset(i, j) + r.n)
            row0, col0 = plan.row_edges[i], plan.col_edges[j]
            ist = r.istats.copy()
            ist[:, [K.I_FIRST_ROW, K.I_ROW_MIN, K.I_ROW_MAX]] += row0
            ist[:, [K.I_FIRST_COL, K.I_COL_MIN, K.I_COL_MAX]] += col0
            fst = r.fstats.copy()
            fst[:, K.F_SUM_ROW] += row0 * ist[:, K.I_COUNT]
            fst[:, K.F_SUM_COL] += col0 * ist[:, K.I_COUNT]
            istats[s], fstats[s], sums[s], nvalid[s] = ist, fst, r.sums, r.nvalid
    pairs = _border_pairs(plan, results, connectivity)
    roots = K.union_pairs(n_total, pairs)
    _, comp = np.unique(roots[1:], return_inverse=True)
    comp = comp.astype(np.int64)
    ncomp = int(comp.max()) + 1 if n_total else 0
    first_global = istats[:, K.I_FIRST_ROW] * width + istats[:, K.I_FIRST_COL]
    big = np.iinfo(np.int64).max
    c_ist = _per_component(comp, ncomp, istats)  # pixel counts summed; the bounds by min and max:
    lo, hi = (np.minimum, big), (np.maximum, -1)
    for col, (ufunc, start) in [(K.I_ROW_MIN, lo), (K.I_COL_MIN, lo), (K.I_ROW_MAX, hi), (K.I_COL_MAX, hi)]:
        c_ist[:, col] = _per_component(comp, ncomp, istats[:, col], ufunc, start)
    c_fst, c_sums, c_valid = (_per_component(comp, ncomp, x) for x in (fstats, sums, nvalid))
    c_first = _per_component(comp, ncomp, first_global, np.minimum, big)
    order = np.argsort(c_first, kind="stable")
    rank = np.empty(ncomp, np.int64)
    rank[order] = np.arange(ncomp)
    count = c_ist[order, K.I_COUNT]
    table = pd.DataFrame(
        {
            "n_pixels": count,
            "area_km2": c_fst[order, K.F_AREA],
            "first_row": c_first[order] // width,
            "first_col": c_first[order] % width,
            "row_min": c_ist[order, K.I_ROW_MIN],
            "row_max": c_ist[order, K.I_ROW_MAX],
            "col_min": c_ist[order, K.I_COL_MIN],
            "col_max": c_ist[order, K.I_COL_MAX],
            "centroid_row": c_fst[order, K.F_SUM_ROW] / np.maximum(count, 1),
            "centroid_col": c_fst[order, K.F_SUM_COL] / np.maximum(count, 1),
        }
    )
    for b, name in enumerate(band_names):
        table[name] = c_sums[order, b]
        table["n_valid" + name[len("light") :]] = c_valid[order, b]
    label_component = np.zeros(n_total + 1, np.int64)
    label_component[1:] = rank[comp]
    return table, label_component
