"""Natural-city labeling: our chunked numba labeling vs scipy and dask-image, plus a global run.

Run from the repo root::

    python benchmarks/bench_label.py                 # all parts (~5–10 min on 2 cores)
    python benchmarks/bench_label.py --part scipy    # one part

Parts (each in its own process, so its peak RSS is its own):

* ``scipy``  — a ~100 Mpx VIIRS-like mosaic (10,000 × 10,000 px, synthetic world)
  held in memory: ``scipy.ndimage.label`` + ``ndimage.sum`` (pixels, light) on the
  whole array vs ``nightlight.label_components`` (pixels, km², light, bbox, first
  pixel) on 2048² dask chunks with the threaded scheduler (2 cores). Ratio > 1 means
  we are faster.
* ``daskimage`` — the same comparison against ``dask_image.ndmeasure.label`` on a
  16 Mpx mosaic with 1024² chunks (dask-image is too slow for 100 Mpx here).
* ``global`` — a global 15″ synthetic mosaic (86,400 × 33,600 px = 2.9 Gpx),
  generated lazily chunk by chunk, through ``extract_natural_cities`` (statistics
  mode; ``--polygons`` adds the outlines) end to end; wall time and peak RSS
  (targets: ≤ 10 min, ≤ 8 GB).

Throughput figures are Mpx/s of input mosaic; peak RSS is the process's maximum
resident set (``resource.getrusage``), which includes the in-memory input arrays.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _viirs_array(side: int, seed: int = 0) -> tuple[np.ndarray, float, object]:
    from nightlight.synthetic import make_world

    deg = side / 240.0
    world = make_world(seed=seed, bounds=(0.0, 10.0, deg, 10.0 + deg), chunks=2048)
    mosaic = world.mosaic(world.years[0])
    return mosaic.values, world.lit_threshold, mosaic


def part_scipy(side: int) -> dict:
    import dask
    import xarray as xr
    from scipy import ndimage

    from nightlight.cities import label_components

    arr, thr, template = _viirs_array(side)
    # scipy: one array, one core (scipy.ndimage is single-threaded).
    t = time.perf_counter()
    lab, n = ndimage.label(arr >= thr, structure=np.ones((3, 3), bool))
    t_label_only = time.perf_counter() - t
    idx = np.arange(1, n + 1)
    counts = ndimage.sum_labels(np.ones_like(arr), lab, idx)
    sums = ndimage.sum_labels(arr, lab, idx)
    t_scipy = time.perf_counter() - t
    del lab
    da = xr.DataArray(arr, dims=("y", "x"), coords=template.coords).chunk({"y": 2048, "x": 2048})
    da = da.rio.write_crs(template.rio.crs).rio.write_transform(template.rio.transform())
    label_components(da[:512, :512], threshold=thr)  # numba warm-up (cached compile)
    best = np.inf
    for _ in range(2):
        t = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=2):
            comps = label_components(da, threshold=thr)
        best = min(best, time.perf_counter() - t)
    assert len(comps.table) == n, (len(comps.table), n)
    assert np.array_equal(comps.table["n_pixels"].to_numpy(), counts)
    assert np.allclose(comps.table["light"].to_numpy(), sums, rtol=1e-6)
    mpx = arr.size / 1e6
    return {
        "part": "scipy",
        "shape": list(arr.shape),
        "components": int(n),
        "scipy_s": round(t_scipy, 3),
        "scipy_label_only_s": round(t_label_only, 3),
        "ours_s": round(best, 3),
        "scipy_mpx_s": round(mpx / t_scipy, 1),
        "ours_mpx_s": round(mpx / best, 1),
        "ratio_vs_scipy": round(t_scipy / best, 2),
        "ratio_vs_scipy_label_only": round(t_label_only / best, 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def part_daskimage(side: int) -> dict:
    import dask
    import dask.array as dsa
    import xarray as xr
    from dask_image import ndmeasure

    from nightlight.cities import label_components

    arr, thr, template = _viirs_array(side, seed=1)
    mask = dsa.from_array(arr >= thr, chunks=1024)
    with dask.config.set(scheduler="threads", num_workers=2):
        t = time.perf_counter()
        lab, n = ndmeasure.label(mask, structure=np.ones((3, 3), bool))
        n = int(n.compute())
        lab.compute()
        t_di = time.perf_counter() - t
        da = xr.DataArray(arr, dims=("y", "x"), coords=template.coords).chunk({"y": 1024, "x": 1024})
        da = da.rio.write_crs(template.rio.crs).rio.write_transform(template.rio.transform())
        label_components(da[:256, :256], threshold=thr)
        t = time.perf_counter()
        comps = label_components(da, threshold=thr)
        t_ours = time.perf_counter() - t
    assert len(comps.table) == n
    mpx = arr.size / 1e6
    return {
        "part": "daskimage",
        "shape": list(arr.shape),
        "components": n,
        "dask_image_s": round(t_di, 3),
        "ours_s": round(t_ours, 3),
        "dask_image_mpx_s": round(mpx / t_di, 1),
        "ours_mpx_s": round(mpx / t_ours, 1),
        "ratio_vs_dask_image": round(t_di / t_ours, 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def part_global(chunk: int, polygons: bool = False) -> dict:
    import dask

    from nightlight.cities import extract_natural_cities
    from nightlight.synthetic import make_world

    t0 = time.perf_counter()
    world = make_world(seed=0, bounds=(-180.0, -65.0, 180.0, 75.0), chunks=chunk)
    mosaic = world.mosaic(world.years[0])
    t_build = time.perf_counter() - t0
    t = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        cities = extract_natural_cities(mosaic, threshold=world.lit_threshold, polygons=polygons)
    t_run = time.perf_counter() - t
    expected = int((world.truth["expected_natural_city"] & ~world.truth["is_flare"]).sum())
    return {
        "part": "global",
        "shape": list(mosaic.shape),
        "gpx": round(mosaic.size / 1e9, 2),
        "chunk": chunk,
        "polygons": polygons,
        "planted_cities": int(len(world.truth)),
        "expected_natural_cities": expected,
        "natural_cities": int(len(cities)),
        "build_s": round(t_build, 2),
        "run_s": round(t_run, 1),
        "mpx_s": round(mosaic.size / 1e6 / t_run, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "targets": "run_s <= 600, peak_rss_mb <= 8000",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["scipy", "daskimage", "global", "all"], default="all")
    ap.add_argument("--side", type=int, default=10_000, help="edge (px) of the scipy comparison mosaic")
    ap.add_argument("--di-side", type=int, default=4096, help="edge (px) of the dask-image comparison mosaic")
    ap.add_argument("--chunk", type=int, default=2048, help="chunk edge of the global run")
    ap.add_argument("--polygons", action="store_true", help="global run: also vectorise city outlines")
    args = ap.parse_args()
    if args.part == "all":
        for part in ("scipy", "daskimage", "global"):
            cmd = [
                sys.executable,
                __file__,
                "--part",
                part,
                "--side",
                str(args.side),
                "--di-side",
                str(args.di_side),
                "--chunk",
                str(args.chunk),
            ] + (["--polygons"] if args.polygons else [])
            subprocess.run(cmd, check=True)
        return
    result = {
        "scipy": lambda: part_scipy(args.side),
        "daskimage": lambda: part_daskimage(args.di_side),
        "global": lambda: part_global(args.chunk, args.polygons),
    }[args.part]()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
