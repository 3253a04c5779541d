"""Throughput of the calibration / denoising kernels vs the equivalent NumPy expression.

Run from the repo root:  python benchmarks/bench_calibrate.py [--size 2048]

Each kernel and its NumPy/scipy equivalent run on the same array in the same process
(best of ``--repeat`` after a warm-up that also triggers numba compilation); the ratio
NumPy time / kernel time is reported (target ≥ 1.0×). The lazy blur + 15″ → 30″
aggregation path (``nightlight.preprocess.harmonize.prepare_viirs``, dask threaded scheduler) is
reported in Mpx/s of 15″ input. Peak RSS from ``resource.getrusage``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nightlight.kernels import composite as kcomp  # noqa: E402
from nightlight.kernels import denoise as kd  # noqa: E402
from nightlight.kernels import pixel as kc  # noqa: E402
from nightlight.kernels import resample as kr  # noqa: E402


def best(fn, repeat):
    fn()  # warm-up (numba compile / caches)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--path-size", type=int, default=4096)
    a = ap.parse_args()
    n = a.size
    rng = np.random.default_rng(0)
    rad = rng.lognormal(0.5, 1.5, (n, n)).astype(np.float32) - 0.3
    rad[rng.random((n, n)) < 0.01] = np.nan
    dn = rng.integers(0, 64, (n, n)).astype(np.float32)
    out = np.empty_like(rad)
    sig = np.array([58.0, 1.3, 2.5, 2.0])
    quad2 = np.array([[0.1194, 1.2265, -0.0041], [-1.2802, 1.3313, -0.0055]])
    forms = np.zeros(2, np.int64)
    small = np.empty((n // 2, n // 2), np.float32)
    nt = 12
    mrad = rng.gamma(2, 5, (nt, n // 4, n // 4))
    mcnt = rng.integers(0, 20, (nt, n // 4, n // 4)).astype(np.float64)
    o1, o2, o3 = (np.empty((n // 4, n // 4)) for _ in range(3))

    def np_sigmoid():
        with np.errstate(over="ignore"):
            return np.clip(sig[0] / (1 + np.exp(-sig[1] * (rad - sig[2]))) + sig[3], 0, 63)

    def np_chain():
        v = dn
        for c0, c1, c2 in quad2:
            v = np.clip(c0 + c1 * v + c2 * v * v, 0, 63)
        return v

    def np_coarsen():
        r = rad.reshape(n // 2, 2, n // 2, 2)
        valid = np.isfinite(r)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid, r, 0).sum(axis=(1, 3)) / valid.sum(axis=(1, 3))

    w121 = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32)

    def np_smooth():
        valid = np.isfinite(rad)
        num = ndimage.correlate(np.where(valid, rad, 0), w121, mode="constant")
        den = ndimage.correlate(valid.astype(np.float32), w121, mode="constant")
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    def np_clean():
        v = np.where(rad < 0, 0, rad)
        v = np.where(v < 0.6, 0, v)
        return np.minimum(v, 300.0)

    def np_range():
        return ndimage.maximum_filter(rad, 3, mode="nearest") - ndimage.minimum_filter(rad, 3, mode="nearest")

    def np_composite():
        keep = np.isfinite(mrad) & (mcnt >= 1)
        w = np.where(keep, mcnt, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (np.where(keep, mrad, 0) * w).sum(0) / w.sum(0)
        med = np.nanmedian(np.where(keep, mrad, np.nan), axis=0)
        return mean, med

    cases = [
        ("apply_model (sigmoid)", lambda: kc.apply_model(rad, kc.SIGMOID, sig, 0.0, 63.0, out), np_sigmoid, n * n),
        ("dmsp_chain (2 quadratic steps)", lambda: kc.dmsp_chain(dn, quad2, forms, False, out), np_chain, n * n),
        ("coarsen_mean2 (NaN-aware 2×2)", lambda: kr.coarsen_mean2(rad, small), np_coarsen, n * n),
        ("smooth121 (NaN-aware 3×3)", lambda: kr.smooth121(rad, out), np_smooth, n * n),
        ("clean_radiance", lambda: kd.clean_radiance(rad, kd.NEG_ZERO, 0.6, 300.0, out), np_clean, n * n),
        ("data_range3x3 (NumPy: max−min filters, not NaN-aware)", lambda: kd.data_range3x3(rad, out), np_range, n * n),
        (
            "composite (12 months, mean+median)",
            lambda: kcomp.composite(mrad, mcnt, 1, o1, o2, o3),
            np_composite,
            nt * (n // 4) ** 2,
        ),
    ]
    print(f"# nightlight calibration kernels, {n}×{n} float32 (composite: 12×{n // 4}×{n // 4}), best of {a.repeat}\n")
    print("| kernel | kernel Mpx/s | NumPy/scipy Mpx/s | ratio (NumPy time / kernel time) |")
    print("|---|---|---|---|")
    for name, k, ref, px in cases:
        tk, tr = best(k, a.repeat), best(ref, a.repeat)
        print(f"| {name} | {px / tk / 1e6:.1f} | {px / tr / 1e6:.1f} | {tr / tk:.2f}× |")

    import dask
    import rioxarray  # noqa: F401
    import xarray as xr
    from affine import Affine

    from nightlight.preprocess.harmonize import prepare_viirs

    m = a.path_size
    big = rng.lognormal(0.5, 1.5, (m, m)).astype(np.float32)
    v = 1 / 240
    da = xr.DataArray(
        big, dims=("y", "x"), coords={"y": 40 - (np.arange(m) + 0.5) * v, "x": 100 + (np.arange(m) + 0.5) * v}
    )
    da = da.rio.write_crs("EPSG:4326").rio.write_transform(Affine(v, 0, 100, 0, -v, 40)).chunk({"y": 1024, "x": 1024})
    with dask.config.set(scheduler="threads"):
        prepare_viirs(da.isel(y=slice(0, 256), x=slice(0, 256))).compute()  # warm-up
        t0 = time.perf_counter()
        res = prepare_viirs(da).compute()
        dt = time.perf_counter() - t0
    print(
        f"\nblur (σ=2, truncate 2.5, map_overlap depth 5) + log1p + 15″→30″ (centres) on {m}×{m} float32, "
        f"chunks 1024, dask threads: {m * m / dt / 1e6:.1f} Mpx/s of 15″ input ({dt:.2f} s; output {res.shape})."
    )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
