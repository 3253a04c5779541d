"""What ``nogil=True`` buys the preprocessing kernels under dask's threaded scheduler (``--full`` / ``--only nogil``).

Each kernel runs over a ``size × size`` float32 array (composite: 12 months of a
``size/2 × size/2`` array) cut into ``chunk`` blocks (``map_blocks``; ``map_overlap``
depth 1 for the 3×3 kernels), threaded scheduler, in two variants:

* ``nightlight``: the kernel as shipped (checked to be compiled with ``nogil=True``);
* ``gil_copy``: the same Python source compiled again with the same options but
  ``nogil=False`` (``numba.njit(**options)(kernel.py_func)``), so the two differ in
  nothing else.

ratio = gil time ÷ nogil time: about the thread count on free cores, 1 when the GIL
does not matter; on a loaded machine it is noise. What does not depend on the load
is in each measurement's ``info``: during one untimed compute a Python thread that
wakes every 0.5 ms records its longest wait (a kernel holding the GIL blocks it for a
whole block) and the share of the time spent in waits over 2 ms.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.bench.harness import NIGHTLIGHT, Case, Prepared, Result, Tool, max_rel_diff, threads

KERNELS = ("apply_model", "dmsp_chain", "clean_radiance", "data_range3x3", "smooth121", "coarsen_mean2", "composite")


def _kernel(name: str) -> Any:
    from nightlight.kernels import composite, denoise, pixel, resample

    for mod in (pixel, denoise, resample, composite):
        if hasattr(mod, name):
            return getattr(mod, name)
    raise KeyError(f"no kernel {name!r}; choose from {KERNELS}")


def _variant(kernel: Any, gil: bool) -> Any:
    import numba

    opts = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}  # njit sets it (and warns)
    if not opts.get("nogil", False):
        raise RuntimeError(f"{kernel.__name__} is not compiled with nogil=True; add it to its @njit")
    if not gil:
        return kernel
    opts.update(nogil=False, cache=False)
    return numba.njit(**opts)(kernel.py_func)


def _graph(name: str, fn: Callable, n: int, chunk: int) -> Any:
    """The dask array whose compute runs ``fn`` once per block (inputs are in memory)."""
    import dask.array as da

    rng = np.random.default_rng(0)
    if name == "composite":
        m, nt = n // 2, 12
        drad = da.from_array(rng.gamma(2.0, 5.0, (nt, m, m)).astype(np.float32), chunks=(nt, chunk // 2, chunk // 2))
        dcnt = da.from_array(rng.integers(0, 20, (nt, m, m)).astype(np.float32), chunks=(nt, chunk // 2, chunk // 2))

        def block(r: np.ndarray, c: np.ndarray) -> np.ndarray:
            mean, med, nobs = (np.empty(r.shape[1:]) for _ in range(3))
            fn(r, c, 1, mean, med, nobs)
            return mean

        return da.map_blocks(block, drad, dcnt, drop_axis=0, dtype=np.float64)
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

        def half(b: np.ndarray) -> np.ndarray:
            return fn(b, np.empty((b.shape[0] // 2, b.shape[1] // 2), b.dtype))

        chunks = tuple(tuple(c // 2 for c in cs) for cs in dx.chunks)
        return da.map_blocks(half, dx, chunks=chunks, dtype=x.dtype)

    def same(b: np.ndarray) -> np.ndarray:
        return calls[name](b, np.empty_like(b))

    if name in ("data_range3x3", "smooth121"):
        return da.map_overlap(same, dx, depth=1, boundary="none", dtype=x.dtype)
    return da.map_blocks(same, dx, dtype=x.dtype)


def gil_stalls(compute: Callable[[], Any]) -> tuple[float, float]:
    """Run ``compute()`` while a Python thread wakes every 0.5 ms: (longest wait s, share of time in waits > 2 ms)."""
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


def _tool(name: str, gil: bool) -> Callable[[Mapping[str, Any], Path, str], Prepared]:
    def setup(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
        import dask

        arr = _graph(name, _variant(_kernel(name), gil), int(params["size"]), int(params["chunk"]))
        info: dict[str, Any] = {}

        def run() -> Result:
            with dask.config.set(scheduler="threads", num_workers=threads()):
                return {"out": arr.compute()}

        def warm() -> None:
            run()  # compiles the gil copy, loads the nogil cache
            longest, share = gil_stalls(run)
            info.update(longest_stall_ms=round(longest * 1e3, 1), stalled_share=round(share, 3))

        return Prepared(run=run, warmup=warm, info=info)

    return setup


def _case(name: str) -> Case:
    return Case(
        name=f"nogil-{name}",
        task=f"nogil kernel {name} under dask threads",
        sizes={"full": {"size": 4096, "chunk": 1024}},
        size_label=lambda p: f"{p['size']}² px, chunks {p['chunk']}",
        tools=(
            Tool(NIGHTLIGHT, f"{name} (nogil=True, shipped)", _tool(name, gil=False)),
            Tool("gil_copy", f"{name} compiled with nogil=False", _tool(name, gil=True)),
        ),
        compare=lambda a, b: max_rel_diff(a["out"], b["out"]),
        tolerance=0.0,
    )


CASES = [_case(k) for k in KERNELS]
