"""What ``nogil=True`` buys the preprocessing kernels under dask's threaded scheduler.

Run from the repo root:  python benchmarks/bench_nogil.py [--size 4096] [--chunk 1024] [--threads 2]

Each kernel runs over a ``size × size`` float32 array (composite: 12 months of a
``size/2 × size/2`` array) cut into ``chunk``-sized dask blocks (``map_blocks``;
``map_overlap`` with depth 1 for the 3×3 kernels), computed with the threaded
scheduler and ``--threads`` workers, in two variants:

* ``nogil``: the kernel as shipped (the script checks that it was compiled with ``nogil=True``);
* ``gil``: the same Python source compiled again with the same options but
  ``nogil=False`` (``numba.njit(**options)(kernel.py_func)``), so the two differ in
  nothing else.

The variants alternate in one process (nogil, gil, gil, nogil, … for ``--repeat``
rounds after a warm-up that also compiles), so a change in the machine's load hits
both alike; each kernel gets a fresh process. Reported: the best time of each
variant, ``ratio`` = gil time / nogil time (about the thread count on free cores, 1
when the GIL does not matter) and the peak RSS while each variant computes (Linux:
the high-water mark is reset before every compute through ``/proc/self/clear_refs``;
elsewhere the process's peak); "RSS at rest" is the process with its inputs in
memory, between computes. The load average is printed before and after: the cores
may be shared, and on a loaded machine the time ratio is noise. The last two columns
do not depend on the load: during one more compute of each variant a Python thread
that wakes every 0.5 ms records how long it waited (a kernel holding the GIL blocks
it for a whole block) and the share of the time it spent in waits over 2 ms.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KERNELS = ["apply_model", "dmsp_chain", "clean_radiance", "data_range3x3", "smooth121", "coarsen_mean2", "composite"]


def _kernel(name: str):
    from nightlight.kernels import composite, denoise, pixel, resample

    for mod in (pixel, denoise, resample, composite):
        if hasattr(mod, name):
            return mod, getattr(mod, name)
    raise SystemExit(f"bench_nogil: no kernel {name!r}; choose from {KERNELS}")


def _variant(kernel, variant: str):
    import numba

    opts = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}  # njit sets it (and warns)
    if not opts.get("nogil", False):
        raise SystemExit(f"bench_nogil: {kernel.__name__} is not compiled with nogil=True; add it to its @njit")
    if variant == "nogil":
        return kernel
    opts.update(nogil=False, cache=False)
    return numba.njit(**opts)(kernel.py_func)


def _graph(name: str, fn, n: int, chunk: int):
    """The dask array whose compute runs ``fn`` once per block (inputs are in memory)."""
    import dask.array as da

    rng = np.random.default_rng(0)
    if name == "composite":
        m, nt = n // 2, 12
        rad = rng.gamma(2.0, 5.0, (nt, m, m)).astype(np.float32)
        cnt = rng.integers(0, 20, (nt, m, m)).astype(np.float32)
        drad = da.from_array(rad, chunks=(nt, chunk // 2, chunk // 2))
        dcnt = da.from_array(cnt, chunks=(nt, chunk // 2, chunk // 2))

        def block(r, c):
            shape = r.shape[1:]
            mean, med, nobs = np.empty(shape), np.empty(shape), np.empty(shape)
            fn(r, c, 1, mean, med, nobs)
            return mean

        return da.map_blocks(block, drad, dcnt, drop_axis=0, dtype=np.float64), nt * m * m
    x = rng.lognormal(0.5, 1.5, (n, n)).astype(np.float32) - 0.3
    x[rng.random((n, n)) < 0.01] = np.nan
    if name == "dmsp_chain":
        x = rng.integers(0, 64, (n, n)).astype(np.float32)
    dx = da.from_array(x, chunks=chunk)
    sig = np.array([58.0, 1.3, 2.5, 2.0])
    quad2 = np.array([[0.1194, 1.2265, -0.0041], [-1.2802, 1.3313, -0.0055]])
    forms = np.zeros(2, np.int64)
    calls = {
        "apply_model": lambda b, o: fn(b, 3, sig, 0.0, 63.0, o),  # 3 = SIGMOID
        "dmsp_chain": lambda b, o: fn(b, quad2, forms, False, o),
        "clean_radiance": lambda b, o: fn(b, 0, 0.6, 300.0, o),  # 0 = NEG_ZERO
        "data_range3x3": lambda b, o: fn(b, o),
        "smooth121": lambda b, o: fn(b, o),
    }
    if name == "coarsen_mean2":

        def half(b):
            return fn(b, np.empty((b.shape[0] // 2, b.shape[1] // 2), b.dtype))

        chunks = tuple(tuple(c // 2 for c in cs) for cs in dx.chunks)
        return da.map_blocks(half, dx, chunks=chunks, dtype=x.dtype), n * n

    def same(b):
        return calls[name](b, np.empty_like(b))

    if name in ("data_range3x3", "smooth121"):
        return da.map_overlap(same, dx, depth=1, boundary="none", dtype=x.dtype), n * n
    return da.map_blocks(same, dx, dtype=x.dtype), n * n


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux ≥ 4.0: peak RSS := current RSS
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def _gil_stalls(compute) -> tuple[float, float]:
    """Run ``compute()`` while a Python thread wakes every 0.5 ms; (longest wait, share of time waited > 2 ms).

    Load-independent evidence of the GIL: a kernel that holds it stalls every other
    Python thread for a whole block; one that releases it lets them run (only the
    OS scheduler delays them).
    """
    import threading

    stop = threading.Event()
    gaps: list[float] = []

    def probe() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            time.sleep(0.0005)
            gaps.append(time.perf_counter() - t0)

    th = threading.Thread(target=probe, daemon=True)
    t0 = time.perf_counter()
    th.start()
    compute()
    stop.set()
    th.join()
    wall = time.perf_counter() - t0
    return max(gaps, default=0.0), sum(g for g in gaps if g > 0.002) / wall


def run_one(name: str, n: int, chunk: int, threads: int, repeat: int) -> dict:
    """Time both variants of one kernel in this process, alternating; the dict is printed as JSON."""
    import dask

    _, kernel = _kernel(name)
    arrays = {}
    for variant in ("nogil", "gil"):
        arrays[variant], px = _graph(name, _variant(kernel, variant), n, chunk)
    best = {v: float("inf") for v in arrays}
    peak = {v: 0.0 for v in arrays}
    with dask.config.set(scheduler="threads", num_workers=threads):
        for arr in arrays.values():
            arr.compute()  # warm-up: compiles the gil copy, loads the nogil cache
        rss_inputs = _rss_mib()
        for r in range(repeat):
            for variant in ("nogil", "gil") if r % 2 == 0 else ("gil", "nogil"):
                _reset_peak_rss()
                t0 = time.perf_counter()
                arrays[variant].compute()
                best[variant] = min(best[variant], time.perf_counter() - t0)
                peak[variant] = max(peak[variant], _peak_rss_mib())
        stalls = {v: _gil_stalls(arr.compute) for v, arr in arrays.items()}  # untimed extra compute
    return {"px": px, "seconds": best, "peak_rss_mib": peak, "rss_inputs_mib": rss_inputs, "stalls": stalls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=8, help="rounds of (nogil, gil) computes per kernel")
    ap.add_argument("--kernels", nargs="*", default=KERNELS)
    ap.add_argument("--one", metavar="KERNEL", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a.size, a.chunk, a.threads, a.repeat)))
        return
    load0 = os.getloadavg()
    print(
        f"# nogil vs gil copies, {a.size}×{a.size} float32 (composite: 12×{a.size // 2}×{a.size // 2}), "
        f"chunks {a.chunk}, dask threads={a.threads}, best of {a.repeat} alternating rounds; "
        f"{os.cpu_count()} CPUs, load average {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f} (1/5/15 min)\n"
    )
    print(
        "| kernel | nogil Mpx/s | gil Mpx/s | ratio gil/nogil time | peak RSS nogil / gil (MiB) | RSS at rest (MiB) ",
        end="",
    )
    print("| longest Python-thread stall nogil / gil (ms) | time stalled > 2 ms nogil / gil |")
    print("|---|---|---|---|---|---|---|---|")
    base = [sys.executable, __file__, "--size", str(a.size), "--chunk", str(a.chunk)]
    base += ["--threads", str(a.threads), "--repeat", str(a.repeat)]
    for name in a.kernels:
        out = subprocess.run([*base, "--one", name], check=True, capture_output=True, text=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        t, rss, st = res["seconds"], res["peak_rss_mib"], res["stalls"]
        print(
            f"| {name} | {res['px'] / t['nogil'] / 1e6:.0f} | {res['px'] / t['gil'] / 1e6:.0f} | "
            f"{t['gil'] / t['nogil']:.2f}× | {rss['nogil']:.0f} / {rss['gil']:.0f} | {res['rss_inputs_mib']:.0f} | "
            f"{st['nogil'][0] * 1e3:.0f} / {st['gil'][0] * 1e3:.0f} | "
            f"{st['nogil'][1]:.0%} / {st['gil'][1]:.0%} |",
            flush=True,
        )
    load1 = os.getloadavg()
    print(f"\nload average after: {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}")


if __name__ == "__main__":
    main()
