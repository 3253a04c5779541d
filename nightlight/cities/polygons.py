"""City polygons: vectorised per block in pixel space, dissolved by city id."""

from __future__ import annotations

import dask
import numpy as np
import rasterio.features
import shapely
import shapely.affinity
from affine import Affine

from nightlight._backend import IN_MEMORY_GDAL_LOCK
from nightlight.checkpoint import CheckpointStore, Codec, stage_of
from nightlight.cities.components import Components
from nightlight.cities.label import block_ids
from nightlight.hashing import fingerprint


def _polygon_task(src, row0, col0, grid, connectivity, threshold, lookup):
    ids = block_ids(src, row0, col0, grid, connectivity, threshold, lookup)
    city = ids > 0
    rows = np.flatnonzero(city.any(axis=1))
    if not len(rows):
        return []
    # GDAL's polygonize holds the GIL and scans every pixel it is given: only the bands of rows with
    # city pixels, cropped to their columns, are vectorised. No piece crosses an empty row, so these
    # are the pieces of one call on the whole block, in the same order (a third of the time)
    gap = np.flatnonzero(np.diff(rows) > 1)
    pieces = []
    for r0, r1 in zip(rows[np.r_[0, gap + 1]], rows[np.r_[gap, len(rows) - 1]] + 1):
        cols = np.flatnonzero(city[r0:r1].any(axis=0))
        band = np.s_[r0:r1, cols[0] : cols[-1] + 1]
        at = Affine.translation(col0 + cols[0], row0 + r0)
        with IN_MEMORY_GDAL_LOCK:  # a generator: consumed inside the lock
            found = list(rasterio.features.shapes(ids[band], mask=city[band], connectivity=4, transform=at))
        pieces += [(int(v), shapely.geometry.shape(g)) for g, v in found]
    return pieces


def _encode_pieces(pieces: list[tuple[int, shapely.Geometry]]) -> dict[str, np.ndarray]:
    """A block's (city id, polygon) pieces as arrays: ids, and the WKB of every piece packed with offsets."""
    wkb = [shapely.to_wkb(g) for _, g in pieces]
    return {
        "ids": np.array([cid for cid, _ in pieces], np.int64),
        "wkb": np.frombuffer(b"".join(wkb), np.uint8),
        "offsets": np.cumsum([0, *map(len, wkb)], dtype=np.int64),
    }


def _decode_pieces(a) -> list[tuple[int, shapely.Geometry]]:
    raw, off = a["wkb"].tobytes(), a["offsets"]
    geoms = shapely.from_wkb([raw[off[k] : off[k + 1]] for k in range(len(off) - 1)])
    return [(int(cid), g) for cid, g in zip(a["ids"], geoms, strict=True)]


#: a block's polygon pieces as checkpoint arrays (:mod:`nightlight.checkpoint`)
PIECES_CODEC = Codec(_encode_pieces, _decode_pieces)


def city_polygons(
    comps: Components, component_city: np.ndarray, checkpoints: CheckpointStore | None = None
) -> dict[int, shapely.Geometry]:
    """Polygons of the cities, dissolved across blocks, in the mosaic's CRS.

    ``component_city`` maps each row of ``comps.table`` to a city id (0 = not a city).
    Only blocks that hold part of a city are vectorised. ``checkpoints``: a batch job's
    resume store (:mod:`nightlight.checkpoint`), finished blocks are loaded from it.
    """
    src_blocks = comps.source.to_delayed()
    task = dask.delayed(_polygon_task, pure=True)
    tasks = []
    nby, nbx = comps.n_blocks
    lookups = {(i, j): comps.block_lookup(i, j, component_city) for i in range(nby) for j in range(nbx)}
    lookups = {ij: lookup for ij, lookup in lookups.items() if lookup.any()}
    stage = stage_of(  # a batch job: finished blocks are loaded, not vectorised again
        checkpoints,
        "polygons",
        {
            "input": comps.source.name,
            "chunks": comps.source.chunks,
            "connectivity": comps.connectivity,
            "threshold": comps.threshold,
            "cities": fingerprint({str(ij): lookup.tolist() for ij, lookup in lookups.items()}),
        },
        PIECES_CODEC,
    )
    for (i, j), lookup in lookups.items():
        row0, col0 = comps.block_origin(i, j)
        args = (src_blocks[i, j], row0, col0, comps.grid, comps.connectivity, comps.threshold, lookup)
        tasks.append(task(*args) if stage is None else stage.delayed(f"{i}-{j}", _polygon_task, *args))
    pieces: dict[int, list] = {}
    for block_pieces in dask.compute(*tasks):
        for cid, geom in block_pieces:
            pieces.setdefault(cid, []).append(geom)
    t = comps.grid.transform
    matrix = [t.a, t.b, t.d, t.e, t.c, t.f]
    cids = list(pieces)
    # GEOS unions release the GIL: the dissolve runs in a few tasks rather than in the driver
    step = max(1, -(-len(cids) // _DISSOLVE_TASKS))
    groups = [[pieces[c] for c in cids[k : k + step]] for k in range(0, len(cids), step)]
    shapes = dask.compute(*[dask.delayed(_dissolve, pure=False)(g, matrix) for g in groups])
    return dict(zip(cids, (s for part in shapes for s in part)))


#: Tasks the cities' pieces are dissolved in.
_DISSOLVE_TASKS = 8


def _dissolve(groups: list[list[shapely.Geometry]], matrix: list[float]) -> list[shapely.Geometry]:
    """Each group of pieces (one city) dissolved and mapped from pixel to CRS coordinates."""
    # Pixel-space coordinates are exact integers, so pieces from neighbouring
    # blocks share edges exactly and dissolve without slivers.
    merged = (g[0] if len(g) == 1 else shapely.union_all(g) for g in groups)
    return [shapely.affinity.affine_transform(m, matrix) for m in merged]
