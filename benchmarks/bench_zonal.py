"""Per-city sums for many polygons over a big mosaic: nightlight vs exactextract vs rasterstats.

Each tool runs in its own subprocess on the same GeoTIFF and polygons, so its peak
memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. Speed is
reported as ratios against exactextract measured in the same run, never as
absolute targets.

    python benchmarks/bench_zonal.py                 # 10,000 polygons, 10,000 x 10,000 px (100 Mpx)
    python benchmarks/bench_zonal.py --size 4000 --n 2000 --tools nightlight,exactextract

The data are synthetic but shaped like the real problem: a 15″ (VIIRS) lat/lon
grid, spatially correlated log-normal radiance, and natural-city-like polygons
(irregular blobs, 3–40 px radius, some overlapping, some crossing chunk borders).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RES = 1 / 240  # 15 arc-seconds


def make_data(out: Path, size: int, n: int, seed: int = 0) -> tuple[Path, Path]:
    import geopandas as gpd
    import rasterio
    import scipy.ndimage as ndi
    import shapely
    from affine import Affine

    tif, gpkg = out / f"mosaic_{size}.tif", out / f"cities_{size}_{n}.parquet"
    t = Affine(RES, 0, 100.0, 0, -RES, 45.0)
    if not tif.exists():
        rng = np.random.default_rng(seed)
        with rasterio.open(
            tif,
            "w",
            driver="GTiff",
            height=size,
            width=size,
            count=1,
            dtype="float32",
            crs="EPSG:4326",
            transform=t,
            nodata=np.nan,
            tiled=True,
            blockxsize=512,
            blockysize=512,
        ) as dst:
            step = 2048
            for r0 in range(0, size, step):
                h = min(step, size - r0)
                coarse = ndi.zoom(rng.normal(0, 1, (h // 32 + 2, size // 32 + 2)), 32, order=1)[:h, :size]
                v = np.exp(coarse + rng.normal(0, 0.5, (h, size))).astype(np.float32)
                v[rng.random((h, size)) < 0.001] = np.nan
                dst.write(v, 1, window=rasterio.windows.Window(0, r0, size, h))
    if not gpkg.exists():
        rng = np.random.default_rng(seed + 1)
        cx = rng.uniform(40, size - 40, n)
        cy = rng.uniform(40, size - 40, n)
        rad = np.exp(rng.uniform(np.log(3), np.log(40), n))
        geoms = []
        for x, y, r in zip(cx, cy, rad):
            ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            rr = r * rng.uniform(0.6, 1.0, 24)
            px, py = x + rr * np.cos(ang), y + rr * np.sin(ang)
            lon, lat = t.c + px * t.a, t.f + py * t.e
            geoms.append(shapely.make_valid(shapely.Polygon(np.c_[lon, lat])))
        gpd.GeoDataFrame({"city_id": np.arange(n)}, geometry=geoms, crs="EPSG:4326").to_parquet(gpkg)
    return tif, gpkg


def run_tool(tool: str, tif: str, polys: str, out: str, repeat: str = "3") -> None:
    """Run one tool (in this subprocess) and write its sums and timings to ``out`` (.npy + .json)."""
    import geopandas as gpd

    gdf = gpd.read_parquet(polys)

    def measure(g):
        if tool in ("nightlight", "nightlight-centre"):
            import nightlight
            from nightlight.change.zonal import zonal_stats

            da = nightlight.open_mosaic(tif, chunks=2048)
            return zonal_stats(g, da, method="centre" if tool.endswith("centre") else "exact")["sum"].to_numpy()
        if tool == "exactextract":
            from exactextract import exact_extract

            return exact_extract(tif, g, ["sum"], output="pandas")["sum"].to_numpy(dtype=float)
        if tool == "rasterstats":
            from rasterstats import zonal_stats as rs_zonal

            return np.array(
                [s["sum"] if s["sum"] is not None else np.nan for s in rs_zonal(g, tif, stats=["sum"], nodata=np.nan)],
                dtype=float,
            )
        raise SystemExit(f"unknown tool {tool!r}")

    # imports, library start-up and JIT (numba cache load) are paid once: time them apart
    t0 = time.perf_counter()
    measure(gdf.iloc[:10])
    warm = time.perf_counter() - t0
    subset = int(os.environ.get("NL_BENCH_SUBSET", "0"))
    scale = 1.0
    if subset and subset < len(gdf):
        # rasterstats reads one window per polygon (time ∝ polygons): time a subset and scale
        scale = len(gdf) / subset
        gdf = gdf.iloc[:subset]
    times = []
    for _ in range(int(repeat)):
        t0 = time.perf_counter()
        sums = measure(gdf)
        times.append((time.perf_counter() - t0) * scale)
    secs = float(np.median(times))
    np.save(out + ".npy", sums)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    Path(out + ".json").write_text(
        json.dumps(
            {
                "tool": tool,
                "seconds": secs,
                "all_seconds": times,
                "measured_polygons": len(gdf),
                "warmup_seconds": warm,
                "peak_rss_mib": peak_mib,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000, help="mosaic edge in pixels (default 10000 → 100 Mpx)")
    ap.add_argument("--n", type=int, default=10_000, help="number of polygons")
    ap.add_argument("--tools", default="nightlight,nightlight-centre,exactextract,rasterstats")
    ap.add_argument("--workdir", default="/tmp/nightlight-bench-zonal")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per tool, median reported (rasterstats: 1)")
    ap.add_argument(
        "--rasterstats-n",
        type=int,
        default=1000,
        help="polygons rasterstats is timed on, its time scaled to all (0 = all; all 10k take ~1-2 min and ~9 GB)",
    )
    ap.add_argument("--_run", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._run:
        run_tool(*args._run)
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tif, polys = make_data(work, args.size, args.n)
    print(
        f"data: {args.size}x{args.size} px ({args.size**2 / 1e6:.0f} Mpx), {args.n} polygons, "
        f"prepared in {time.perf_counter() - t0:.1f} s ({tif})"
    )
    # warm the numba cache so compile time is not counted
    subprocess.run([sys.executable, "-c", "import nightlight.kernels.zonal"], check=True)
    results = {}
    for tool in args.tools.split(","):
        out = str(work / f"out_{tool}")
        rep = 1 if tool == "rasterstats" else args.repeat  # ~1 min a run: once is enough to place it
        # the same, bounded GDAL block cache for every tool, so peak RSS compares the tools, not GDAL's 5 % of RAM
        env = {**os.environ, "GDAL_CACHEMAX": "256"}
        if tool == "rasterstats":
            env["NL_BENCH_SUBSET"] = str(args.rasterstats_n)
        subprocess.run(
            [sys.executable, __file__, "--_run", tool, str(tif), str(polys), out, str(rep)], check=True, env=env
        )
        info = json.loads(Path(out + ".json").read_text())
        info["sums"] = np.load(out + ".npy")
        results[tool] = info
    base = results.get("exactextract")
    print(
        f"{'tool':<18} {'median s':>8} {'warm-up s':>9} {'× exactextract':>15} "
        f"{'peak RSS MiB':>13} {'median |Δ| vs exactextract':>27}"
    )
    for tool, info in results.items():
        ratio = base["seconds"] / info["seconds"] if base else float("nan")
        if base:
            m = len(info["sums"])
            ref = base["sums"][:m]
            ok = np.isfinite(ref) & (np.abs(ref) > 0)
            rel = np.abs(info["sums"][ok] - ref[ok]) / np.abs(ref[ok])
            diff = f"{np.median(rel):.2e} (p99 {np.quantile(rel, 0.99):.1e})"
        else:
            diff = "-"
        print(
            f"{tool:<18} {info['seconds']:8.2f} {info['warmup_seconds']:9.2f} "
            f"{ratio:14.2f}x {info['peak_rss_mib']:13.0f} {diff:>27}"
            f"   runs: {', '.join(f'{x:.2f}' for x in info['all_seconds'])}"
            + (
                f" (timed on {info['measured_polygons']} polygons, scaled)"
                if info["measured_polygons"] < args.n
                else ""
            )
        )
    print(
        "(× exactextract = exactextract's time / the tool's time, warm-up excluded: > 1 means faster;\n"
        " warm-up = imports + JIT + a 10-polygon run; peak RSS includes it and GDAL's block cache, capped at 256 MB)"
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
