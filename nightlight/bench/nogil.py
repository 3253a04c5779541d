"""What ``nogil=True`` buys the preprocessing kernels under dask's threaded scheduler (``--full`` / ``--only nogil``).

Each kernel runs over a ``size × size`` float32 array (composite: 12 months of a
``size/4 × size/4`` array) cut into ``chunk`` blocks (``map_blocks``; ``map_overlap``
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

from nightlight.bench.harness import NIGHTLIGHT, Case, Prepared, Result, Tool, max_rel_diff, threaded
from nightlight.bench.pixel import CALLS, N_MONTHS, kernel, kernel_inputs


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
    """The dask array whose compute calls ``fn`` once per block, as :data:`nightlight.bench.pixel.CALLS` does."""
    import dask.array as da

    x = kernel_inputs(n)
    keys = {"composite": ("mrad", "mcnt"), "dmsp_chain": ("dn",)}.get(name, ("rad",))
    chunks = (N_MONTHS, chunk // 4, chunk // 4) if name == "composite" else chunk
    arrs = [da.from_array(x[k], chunks=chunks) for k in keys]

    def block(*b: np.ndarray) -> np.ndarray:
        return next(iter(CALLS[name](fn, dict(zip(keys, b))).values()))  # composite: its mean

    if name == "composite":
        return da.map_blocks(block, *arrs, drop_axis=0, dtype=np.float64)
    if name == "coarsen_mean2":
        half = tuple(tuple(c // 2 for c in cs) for cs in arrs[0].chunks)
        return da.map_blocks(block, arrs[0], chunks=half, dtype=np.float32)
    if name in ("data_range3x3", "smooth121"):
        return da.map_overlap(block, arrs[0], depth=1, boundary="none", dtype=np.float32)
    return da.map_blocks(block, arrs[0], dtype=np.float32)


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
        arr = _graph(name, _variant(kernel(name), gil), int(params["size"]), int(params["chunk"]))
        info: dict[str, Any] = {}

        def run() -> Result:
            with threaded():
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


CASES = [_case(k) for k in CALLS]
