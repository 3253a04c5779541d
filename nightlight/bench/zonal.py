"""Zonal sums over 10⁴ polygons: nightlight vs exactextract, rasterstats, xarray-spatial, geopandas + rasterio.

The data are synthetic but shaped like the real problem (cached in the work folder):
a tiled float32 GeoTIFF on a 15″ lon/lat grid with spatially correlated log-normal
radiance and 0.1 % NaN (declared nodata), and natural-city-like polygons (irregular
24-vertex blobs, 3–40 px radius, some overlapping, some crossing chunk borders).
Every tool reads the file itself inside the timed run.

* ``zonal-exact``: fractional pixel coverage — ``zonal_stats(method="exact")`` vs
  exactextract, both of its strategies tried (``feature-sequential``,
  ``raster-sequential``) and the faster kept.
* ``zonal-centre``: the pixel-centre rule — ``zonal_stats(method="centre")`` vs
  rasterstats (``all_touched=False``), xarray-spatial's ``zonal.stats`` (``--full`` only) on zones
  burnt by ``rasterio.features.rasterize`` (one zone raster per layer of
  non-overlapping polygons: a zone raster holds one id per pixel; rasterizing is
  timed, it is part of that route) and a geopandas + ``rasterio.mask.mask`` loop.
  rasterstats and the mask loop read one window per polygon, so they are timed on
  the first ``subset`` polygons and their time scaled to all (said in the table).
  nightlight's centre rule counts polygons whose bounding box spans at most
  ``SMALL_CELLS`` (400) pixels by exact coverage (so small cities are not lost): the
  check compares the polygons above that size only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.bench.harness import BENCH_PIP, NIGHTLIGHT, Case, Prepared, Result, Target, Tool, max_rel_diff, threaded

RES = 1 / 240  # 15 arc-seconds


def _paths(workdir: Path, size: int, n: int) -> tuple[Path, Path]:
    return Path(workdir) / f"zonal_mosaic_{size}.tif", Path(workdir) / f"zonal_cities_{size}_{n}.parquet"


def prepare(params: Mapping[str, Any], workdir: Path, seed: int = 0) -> None:
    """Write the mosaic and the polygons once (each is skipped when it exists)."""
    import geopandas as gpd
    import rasterio
    import rasterio.windows
    import scipy.ndimage as ndi
    import shapely
    from affine import Affine

    size, n = int(params["size"]), int(params["n"])
    tif, polys = _paths(workdir, size, n)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    t = Affine(RES, 0, 100.0, 0, -RES, 45.0)
    if not tif.exists():
        rng = np.random.default_rng(seed)
        tmp = tif.with_suffix(".tmp.tif")
        profile = dict(driver="GTiff", height=size, width=size, count=1, dtype="float32", crs="EPSG:4326")
        profile.update(transform=t, nodata=np.nan, tiled=True, blockxsize=512, blockysize=512)
        with rasterio.open(tmp, "w", **profile) as dst:
            step = 2048
            for r0 in range(0, size, step):
                h = min(step, size - r0)
                coarse = ndi.zoom(rng.normal(0, 1, (h // 32 + 2, size // 32 + 2)), 32, order=1)[:h, :size]
                v = np.exp(coarse + rng.normal(0, 0.5, (h, size))).astype(np.float32)
                v[rng.random((h, size)) < 0.001] = np.nan
                dst.write(v, 1, window=rasterio.windows.Window(0, r0, size, h))
        tmp.replace(tif)
    if not polys.exists():
        rng = np.random.default_rng(seed + 1)
        cx, cy = rng.uniform(40, size - 40, n), rng.uniform(40, size - 40, n)
        rad = np.exp(rng.uniform(np.log(3), np.log(40), n))
        ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        rr = rad[:, None] * rng.uniform(0.6, 1.0, (n, 24))  # the same draws as 24 per polygon in turn
        px, py = cx[:, None] + rr * np.cos(ang), cy[:, None] + rr * np.sin(ang)
        geoms = shapely.make_valid(shapely.polygons(np.stack([t.c + px * t.a, t.f + py * t.e], axis=-1)))
        gdf = gpd.GeoDataFrame({"city_id": np.arange(n)}, geometry=geoms, crs="EPSG:4326")
        # make_valid may split a self-touching blob into a collection: keep its polygons only
        gdf["geometry"] = gdf.geometry.apply(lambda g: g if g.geom_type.endswith("Polygon") else g.buffer(0))
        gdf.to_parquet(polys.with_suffix(".tmp"))
        polys.with_suffix(".tmp").replace(polys)


def _load(params: Mapping[str, Any], workdir: Path) -> tuple[str, Any]:
    import geopandas as gpd

    prepare(params, workdir)
    tif, polys = _paths(workdir, int(params["size"]), int(params["n"]))
    return str(tif), gpd.read_parquet(polys)


def _nightlight(method: str):
    def setup(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
        from nightlight.change.zonal import zonal_stats
        from nightlight.io.raster import open_mosaic

        tif, gdf = _load(params, workdir)
        rule = _centre_rule(gdf)  # for the check, not timed

        def run(g: Any = gdf) -> Result:
            with threaded():
                da = open_mosaic(tif, chunks=int(params["chunk"]), units="nW/cm2/sr")
                return {"sum": zonal_stats(g, da, method=method)["sum"].to_numpy(), "centre_rule": rule[: len(g)]}

        return Prepared(run=run, warmup=lambda: run(gdf.iloc[:10]))

    return setup


def _centre_rule(gdf: Any) -> np.ndarray:
    """Which polygons ``method="centre"`` counts by pixel centres: bounding box over SMALL_CELLS pixels.

    Smaller ones fall back to exact coverage by design (:mod:`nightlight.change.zonal`),
    so only these can be compared with a pixel-centre peer.
    """
    import shapely

    from nightlight.change.zonal import SMALL_CELLS

    b = shapely.bounds(np.asarray(gdf.geometry.array, dtype=object))
    cells = np.ceil((b[:, 2] - b[:, 0]) / RES + 1) * np.ceil((b[:, 3] - b[:, 1]) / RES + 1)
    return cells > SMALL_CELLS


def _exactextract(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from exactextract import exact_extract

    tif, gdf = _load(params, workdir)

    def run(g: Any = gdf) -> Result:
        out = exact_extract(tif, g, ["sum"], output="pandas", strategy=variant)
        return {"sum": out["sum"].to_numpy(dtype=float)}

    return Prepared(run=run, warmup=lambda: run(gdf.iloc[:10]))


def _subset(gdf: Any, params: Mapping[str, Any]) -> tuple[Any, float, str]:
    m = min(int(params["subset"]), len(gdf))
    return gdf.iloc[:m], len(gdf) / m, (f"timed on {m} of {len(gdf)} polygons, scaled" if m < len(gdf) else "")


def _rasterstats(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from rasterstats import zonal_stats as rs_zonal

    tif, gdf = _load(params, workdir)
    sub, scale, note = _subset(gdf, params)

    def run(g: Any = sub) -> Result:
        stats = rs_zonal(g, tif, stats=["sum"], nodata=np.nan, all_touched=False)
        return {"sum": np.array([np.nan if s["sum"] is None else s["sum"] for s in stats], dtype=float)}

    return Prepared(run=run, warmup=lambda: run(gdf.iloc[:10]), scale=scale, note=note)


def _mask_loop(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import rasterio
    import rasterio.mask

    tif, gdf = _load(params, workdir)
    sub, scale, note = _subset(gdf, params)

    def run(g: Any = sub) -> Result:
        sums = np.empty(len(g))
        with rasterio.open(tif) as src:
            for i, geom in enumerate(g.geometry):
                arr, _ = rasterio.mask.mask(src, [geom], crop=True, filled=False, all_touched=False)
                sums[i] = np.nansum(arr.compressed(), dtype=np.float64)
        return {"sum": sums}

    return Prepared(run=run, warmup=lambda: run(gdf.iloc[:10]), scale=scale, note=note)


def _xrspatial(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import rasterio
    import rasterio.features
    import xarray as xr
    from xrspatial import zonal

    from nightlight.change.zonal import overlap_layers

    tif, gdf = _load(params, workdir)

    def run() -> Result:
        with rasterio.open(tif) as src:
            values = src.read(1)
            shape, transform = src.shape, src.transform
        vals = xr.DataArray(values, dims=("y", "x"))
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        layers = overlap_layers(geoms)
        sums = np.full(len(geoms), np.nan)
        for k in range(int(layers.max()) + 1):
            idx = np.flatnonzero(layers == k)
            zones = rasterio.features.rasterize(
                zip(geoms[idx], idx + 1), out_shape=shape, transform=transform, fill=0, dtype="int32"
            )
            ids = np.unique(zones)
            ids = ids[ids > 0]
            table = zonal.stats(xr.DataArray(zones, dims=("y", "x")), vals, zone_ids=list(ids), stats_funcs=["sum"])
            sums[table["zone"].to_numpy(dtype=np.int64) - 1] = table["sum"].to_numpy(dtype=float)
        return {"sum": sums}

    return Prepared(run=run, note="zones burnt per layer of non-overlapping polygons (timed)")


def _compare(ours: Result, peer: Result) -> float:
    m = len(peer["sum"])  # a subset-timed peer computed the first m polygons
    return max_rel_diff(ours["sum"][:m], peer["sum"])


def _compare_centre(ours: Result, peer: Result) -> float:
    """On the polygons both count by pixel centres (see :func:`_centre_rule`)."""
    m = len(peer["sum"])
    keep = ours["centre_rule"][:m]
    return max_rel_diff(ours["sum"][:m][keep], peer["sum"][keep])


def _size(p: Mapping[str, Any]) -> str:
    s = int(p["size"])
    return f"{int(p['n']):,} polygons on {s}² px ({s * s / 1e6:.3g} Mpx)"


#: exactextract's strategies, each timed: the faster median is kept (the peer at its best)
STRATEGIES = ("feature-sequential", "raster-sequential")
SIZES = {
    "quick": {"size": 2048, "n": 2_000, "chunk": 2048, "subset": 200},
    "default": {"size": 10_000, "n": 10_000, "chunk": 2048, "subset": 1000},
}

EXACT = Case(
    name="zonal-exact",
    task="zonal sums, exact coverage",
    sizes=SIZES,
    size_label=_size,
    tools=(
        Tool(NIGHTLIGHT, "zonal_stats(method='exact')", _nightlight("exact")),
        Tool("exactextract", "exactextract", _exactextract, ("exactextract",), BENCH_PIP, STRATEGIES),
    ),
    compare=_compare,
    tolerance=1e-6,
    prepare=prepare,
    inputs=lambda p, wd: list(_paths(wd, int(p["size"]), int(p["n"]))),
    targets=(Target("≥ 10× exactextract (best strategy), equal to 1e-6", peer="exactextract", min_ratio=10.0),),
)

CENTRE = Case(
    name="zonal-centre",
    task="zonal sums, pixel centres",
    # not in --quick (its peers take minutes); the window-per-polygon peers timed on 200 polygons
    sizes={"default": {**SIZES["default"], "subset": 200}},
    size_label=_size,
    tools=(
        Tool(NIGHTLIGHT, "zonal_stats(method='centre')", _nightlight("centre")),
        Tool("rasterstats", "rasterstats", _rasterstats, requires=("rasterstats",), pip=BENCH_PIP),
        # a minute per run at the default size: five interleaved runs only in --full
        Tool("xrspatial", "xarray-spatial zonal.stats", _xrspatial, ("xrspatial",), BENCH_PIP, modes=("full",)),
        Tool("rasterio_mask", "geopandas + rasterio.mask loop", _mask_loop),
    ),
    compare=_compare_centre,
    # float32 sums (rasterstats and the mask loop add float32 values in float32 order)
    tolerance=1e-5,
    prepare=prepare,
    inputs=lambda p, wd: list(_paths(wd, int(p["size"]), int(p["n"]))),
)

CASES = [EXACT, CENTRE]
