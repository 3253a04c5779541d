"""Calibration / denoising kernels vs the NumPy expression; the blur + 30″ aggregation vs scipy + xarray.

The kernel cases time one call of a numba kernel of :mod:`nightlight.kernels` on an
in-memory float32 array against the NumPy/scipy expression that computes the same
values (the check is that they agree to float32 rounding). The ``blur30`` case times
nightlight's lazy path (clean → NaN-aware Gaussian blur σ = 2 px, truncate 2.5 → log1p
→ 15″ → 30″ 2×2 mean, dask threaded scheduler) against ``scipy.ndimage.gaussian_filter``
(the same normalized convolution on the whole array) and ``xarray.DataArray.coarsen``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.bench.harness import NIGHTLIGHT, Case, Prepared, Result, Tool, max_rel_diff, threaded

SIG = np.array([58.0, 1.3, 2.5, 2.0])
QUAD2 = np.array([[0.1194, 1.2265, -0.0041], [-1.2802, 1.3313, -0.0055]])
N_MONTHS = 12


def kernel_inputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    rad = rng.lognormal(0.5, 1.5, (n, n)).astype(np.float32) - 0.3
    rad[rng.random((n, n)) < 0.01] = np.nan
    m = n // 4
    return {
        "rad": rad,
        "dn": rng.integers(0, 64, (n, n)).astype(np.float32),
        "mrad": rng.gamma(2, 5, (N_MONTHS, m, m)),
        "mcnt": rng.integers(0, 20, (N_MONTHS, m, m)).astype(np.float64),
    }


# ---------------------------------------------------------------- the kernels, as nightlight calls them
def kernel(name: str) -> Any:
    """The shipped numba kernel of :mod:`nightlight.kernels` called ``name``."""
    from nightlight.kernels import composite, denoise, pixel, resample

    for mod in (pixel, denoise, resample, composite):
        if hasattr(mod, name):
            return getattr(mod, name)
    raise KeyError(f"no kernel {name!r}; choose from {', '.join(CALLS)}")


def _into(out: np.ndarray, call: Callable[[np.ndarray], Any]) -> Result:
    call(out)
    return {"out": out}


def _composite(k: Callable, x: dict) -> Result:
    o1, o2, o3 = (np.empty(x["mrad"].shape[1:]) for _ in range(3))
    k(x["mrad"], x["mcnt"], 1, o1, o2, o3)
    return {"mean": o1, "median": o2}


#: ``CALLS[name](kernel, inputs)``: one call of a kernel (the shipped one, or nogil's copy) as nightlight makes
#: it; the inputs a dict of :func:`kernel_inputs`' arrays (or blocks of them). 3 = SIGMOID, 0 = NEG_ZERO.
CALLS: dict[str, Callable[[Callable, dict], Result]] = {
    "apply_model": lambda k, x: _into(np.empty_like(x["rad"]), lambda o: k(x["rad"], 3, SIG, 0.0, 63.0, o)),
    "dmsp_chain": lambda k, x: _into(
        np.empty_like(x["dn"]), lambda o: k(x["dn"], QUAD2, np.zeros(2, np.int64), False, o)
    ),
    "coarsen_mean2": lambda k, x: _into(
        np.empty((x["rad"].shape[0] // 2, x["rad"].shape[1] // 2), np.float32), lambda o: k(x["rad"], o)
    ),
    "smooth121": lambda k, x: _into(np.empty_like(x["rad"]), lambda o: k(x["rad"], o)),
    "clean_radiance": lambda k, x: _into(np.empty_like(x["rad"]), lambda o: k(x["rad"], 0, 0.6, 300.0, o)),
    "data_range3x3": lambda k, x: _into(np.empty_like(x["rad"]), lambda o: k(x["rad"], o)),
    "composite": _composite,
}


# ---------------------------------------------------------------- the same values in NumPy / scipy
def _np_apply_model(x: dict) -> Result:
    with np.errstate(over="ignore"):
        return {"out": np.clip(SIG[0] / (1 + np.exp(-SIG[1] * (x["rad"] - SIG[2]))) + SIG[3], 0, 63)}


def _np_dmsp_chain(x: dict) -> Result:
    v = x["dn"]
    for c0, c1, c2 in QUAD2:
        v = np.clip(c0 + c1 * v + c2 * v * v, 0, 63)
    return {"out": v}


def _np_coarsen_mean2(x: dict) -> Result:
    n = x["rad"].shape[0]
    r = x["rad"].reshape(n // 2, 2, n // 2, 2)
    valid = np.isfinite(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"out": np.where(valid, r, 0).sum(axis=(1, 3)) / valid.sum(axis=(1, 3))}


def _np_smooth121(x: dict) -> Result:
    from scipy import ndimage

    rad = x["rad"]
    w = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32)
    valid = np.isfinite(rad)
    num = ndimage.correlate(np.where(valid, rad, 0), w, mode="constant")
    den = ndimage.correlate(valid.astype(np.float32), w, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"out": num / den}  # a NaN pixel with valid neighbours gets their mean, as in the kernel


def _np_clean(x: dict) -> Result:
    v = np.where(x["rad"] < 0, 0, x["rad"])
    v = np.where(v < 0.6, 0, v)
    return {"out": np.minimum(v, 300.0)}


def _np_range(x: dict) -> Result:
    from scipy import ndimage

    rad = x["rad"]
    valid = np.isfinite(rad)
    hi = ndimage.maximum_filter(np.where(valid, rad, -np.inf), 3, mode="constant", cval=-np.inf)
    lo = ndimage.minimum_filter(np.where(valid, rad, np.inf), 3, mode="constant", cval=np.inf)
    return {"out": np.where(valid, hi - lo, np.nan)}


def _np_composite(x: dict) -> Result:
    keep = np.isfinite(x["mrad"]) & (x["mcnt"] >= 1)
    w = np.where(keep, x["mcnt"], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.where(keep, x["mrad"], 0) * w).sum(0) / w.sum(0)
    return {"mean": mean, "median": np.nanmedian(np.where(keep, x["mrad"], np.nan), axis=0)}


def _compare(ours: Result, peer: Result) -> float:
    return max(max_rel_diff(ours[k], peer[k]) for k in peer)


def _tool(name: str, label: str, fn: Callable[[dict], Result]) -> Tool:
    def setup(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
        x = kernel_inputs(int(params["n"]))
        small = {k: v[..., :64, :64].copy() for k, v in x.items()}
        return Prepared(run=lambda: fn(x), warmup=lambda: fn(small))

    return Tool(name=name, label=label, setup=setup)


KERNELS: list[tuple[str, str, Callable]] = [
    ("apply_model", "sigmoid model, clipped", _np_apply_model),
    ("dmsp_chain", "DMSP chain, 2 quadratic steps", _np_dmsp_chain),
    ("coarsen_mean2", "NaN-aware 2×2 mean", _np_coarsen_mean2),
    ("smooth121", "NaN-aware [1 2 1]² smoothing", _np_smooth121),
    ("clean_radiance", "negatives → 0, floor, cap", _np_clean),
    ("data_range3x3", "NaN-aware 3×3 max − min", _np_range),
    ("composite", "12 months → mean + median", _np_composite),
]

SIZES = {"quick": {"n": 2048}, "default": {"n": 4096}, "full": {"n": 4096}}
#: the kernel of ``--quick`` (the others: default and full; blur30 stands for the neighbourhood kind)
QUICK = ("apply_model",)


def _size(params: Mapping[str, Any]) -> str:
    n = int(params["n"])
    return f"{n}² px ({n * n / 1e6:.3g} Mpx)"


def _kernel_case(name: str, what: str, ref: Callable) -> Case:
    return Case(
        name=f"calib-{name}",
        task=f"calibration kernel {name}: {what}",
        sizes=SIZES if name in QUICK else {m: v for m, v in SIZES.items() if m != "quick"},
        size_label=(lambda p: f"12 × {int(p['n']) // 4}² months") if name == "composite" else _size,
        tools=(
            _tool(NIGHTLIGHT, f"nightlight.kernels {name}", lambda x: CALLS[name](kernel(name), x)),
            _tool("numpy", "NumPy/scipy expression", ref),
        ),
        compare=_compare,
        tolerance=1e-5,  # float32 rounding of the same arithmetic in another order
    )


# ---------------------------------------------------------------- blur + 30″ aggregation
def _blur_input(n: int) -> Any:
    from nightlight.testing import georeferenced

    rng = np.random.default_rng(1)
    big = rng.lognormal(0.5, 1.5, (n, n)).astype(np.float32)
    big[rng.random((n, n)) < 0.01] = np.nan
    return georeferenced(big, origin=(100.0, 40.0))  # 15″ pixels, EPSG:4326


def _blur_nightlight(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from nightlight.preprocess.harmonize import prepare_viirs

    da = _blur_input(int(params["n"])).chunk({"y": int(params["chunk"]), "x": int(params["chunk"])})

    def run(d: Any = da) -> Result:
        with threaded():
            return {"out": np.asarray(prepare_viirs(d, alignment="edges"))}

    return Prepared(run=run, warmup=lambda: run(da.isel(y=slice(0, 256), x=slice(0, 256))))


def _blur_scipy(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from scipy import ndimage

    da = _blur_input(int(params["n"]))

    def run() -> Result:
        x = da.values
        x = np.where(x < 0, 0, x)
        x = np.where(x < 1.0, 0, x)  # the Li et al. 2020 noise floor (1 nW/cm²/sr)
        valid = np.isfinite(x)
        num = ndimage.gaussian_filter(np.where(valid, x, 0.0), 2.0, mode="constant", truncate=2.5)
        den = ndimage.gaussian_filter(valid.astype(np.float64), 2.0, mode="constant", truncate=2.5)
        with np.errstate(invalid="ignore", divide="ignore"):
            blurred = np.log1p(np.where(valid, num / den, np.nan)).astype(np.float32)
        return {"out": da.copy(data=blurred).coarsen(y=2, x=2, boundary="trim").mean().values}

    return Prepared(run=run)


BLUR = Case(
    name="blur30",
    task="blur (σ 2 px) + log1p + 15″ → 30″ mean",
    sizes={"quick": {"n": 2048, "chunk": 1024}, "default": {"n": 4096, "chunk": 1024}},
    size_label=lambda p: f"{_size(p)}, chunks {p['chunk']}",
    tools=(
        Tool(NIGHTLIGHT, "prepare_viirs (dask threads)", _blur_nightlight),
        Tool("scipy", "scipy.ndimage.gaussian_filter + xarray.coarsen", _blur_scipy),
    ),
    compare=_compare,
    tolerance=1e-5,
)

CASES = [*(_kernel_case(*k) for k in KERNELS), BLUR]
