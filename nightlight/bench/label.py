"""Labeling + per-city statistics: nightlight vs scipy.ndimage, scikit-image and dask-image.

The input is a VIIRS-like 15″ mosaic of the synthetic world (:func:`nightlight.synthetic.make_world`)
held in memory as float32 (cached as ``.npy`` in the work folder); lit = value ≥ the
world's lit threshold, 8-connectivity. nightlight labels it chunk by chunk
(:func:`nightlight.cities.label.label_components`: pixels, km², light, bbox, first
pixel per component) with the threaded scheduler.

* ``label``: against ``scipy.ndimage.label`` + ``sum_labels`` (pixels and light) and
  ``skimage.measure.label`` + ``regionprops_table`` (area, mean intensity × area), both
  on the whole array, one core (neither is multi-threaded). Components are compared
  in order (all three number them by their first pixel in raster order).
* ``label-dask``: against ``dask_image.ndmeasure.label`` on **the same chunks**, with
  the statistics by ``numpy.bincount`` on its label image (cheaper than dask-image's
  own ``ndmeasure.sum_labels`` for thousands of labels: the peer at its best). Its
  numbering differs, so components are compared sorted by (pixels, light).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.bench.harness import BENCH_PIP, NIGHTLIGHT, Case, Prepared, Result, Target, Tool, max_rel_diff, threaded


def _world(side: int, seed: int) -> Any:
    from nightlight.synthetic import make_world

    deg = side / 240.0
    return make_world(seed=seed, bounds=(0.0, 10.0, deg, 10.0 + deg), chunks=2048)


def _npy(workdir: Path, side: int, seed: int) -> Path:
    return Path(workdir) / f"viirs_{side}_seed{seed}.npy"


def prepare(params: Mapping[str, Any], workdir: Path) -> None:
    """Render the synthetic mosaic once (dask threads) and keep it as ``.npy``."""
    path = _npy(workdir, int(params["side"]), int(params["seed"]))
    if path.exists():
        return
    world = _world(int(params["side"]), int(params["seed"]))
    with threaded():
        arr = world.mosaic(world.years[0]).values
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)


def _load(params: Mapping[str, Any], workdir: Path) -> tuple[np.ndarray, float, Any]:
    side, seed = int(params["side"]), int(params["seed"])
    prepare(params, workdir)
    world = _world(side, seed)
    return np.load(_npy(workdir, side, seed)), float(world.lit_threshold), world.mosaic(world.years[0])


def _nightlight(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from nightlight.cities.label import label_components
    from nightlight.testing import georeferenced

    arr, thr, template = _load(params, workdir)
    da = georeferenced(arr, crs=template.rio.crs, transform=template.rio.transform(), chunks=int(params["chunk"]))

    def run(x: Any = da) -> Result:
        with threaded():
            t = label_components(x, threshold=thr, connectivity=8).table
        return {"n_pixels": t["n_pixels"].to_numpy(), "light": t["light"].to_numpy()}

    return Prepared(run=run, warmup=lambda: run(da[:512, :512]))


def _scipy(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from scipy import ndimage

    arr, thr, _ = _load(params, workdir)

    def run() -> Result:
        lab, n = ndimage.label(arr >= thr, structure=np.ones((3, 3), bool))
        idx = np.arange(1, n + 1)
        return {
            "n_pixels": ndimage.sum_labels(np.ones_like(arr), lab, idx),
            "light": ndimage.sum_labels(arr, lab, idx),
        }

    return Prepared(run=run)


def _skimage(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from skimage import measure

    arr, thr, _ = _load(params, workdir)

    def run() -> Result:
        lab = measure.label(arr >= thr, connectivity=2)
        t = measure.regionprops_table(lab, intensity_image=arr, properties=("area", "intensity_mean"))
        return {"n_pixels": t["area"], "light": t["area"] * t["intensity_mean"].astype(np.float64)}

    return Prepared(run=run)


def _dask_image(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import dask.array as dsa
    from dask_image import ndmeasure

    arr, thr, _ = _load(params, workdir)
    ch = int(params["chunk"])

    def run(a: np.ndarray = arr) -> Result:
        with threaded():
            lab, n = ndmeasure.label(dsa.from_array(a >= thr, chunks=ch), structure=np.ones((3, 3), bool))
            lab, n = dsa.compute(lab, n)  # one graph: the labels are computed once
        flat = lab.ravel()
        return {
            "n_pixels": np.bincount(flat, minlength=int(n) + 1)[1:].astype(np.float64),
            "light": np.bincount(flat, weights=a.ravel(), minlength=int(n) + 1)[1:],
        }

    return Prepared(run=run, warmup=lambda: run(arr[:256, :256]))


def _in_order(ours: Result, peer: Result) -> float:
    """Same components in the same order: pixels exactly, light to rounding."""
    if not np.array_equal(ours["n_pixels"], peer["n_pixels"]):  # another count, or other sizes
        return float("inf")
    return max_rel_diff(ours["light"], peer["light"])


def _as_sets(ours: Result, peer: Result) -> float:
    """The same components in any order: sorted by pixels, then light, then compared in order.

    Rounding (~1e-7) cannot swap two components of one size unless their light is equal to it.
    """

    def ordered(r: Result) -> Result:
        i = np.lexsort((r["light"], r["n_pixels"]))
        return {k: np.asarray(v)[i] for k, v in r.items()}

    return _in_order(ordered(ours), ordered(peer))


def _size(p: Mapping[str, Any]) -> str:
    s = int(p["side"])
    return f"{s}² px ({s * s / 1e6:.3g} Mpx), chunks {p['chunk']}"


NL = Tool(NIGHTLIGHT, "label_components (dask threads)", _nightlight)

LABEL = Case(
    name="label",
    task="labeling + per-city statistics",
    sizes={
        "quick": {"side": 4096, "seed": 0, "chunk": 2048},
        "default": {"side": 10240, "seed": 0, "chunk": 2048},
    },
    size_label=_size,
    tools=(
        NL,
        Tool("scipy", "scipy.ndimage label + sum_labels", _scipy, requires=("scipy",)),
        Tool(
            "skimage", "skimage.measure label + regionprops_table", _skimage, ("skimage",), "pip install scikit-image"
        ),
    ),
    compare=_in_order,
    tolerance=1e-6,
    prepare=prepare,
    inputs=lambda p, wd: [_npy(wd, int(p["side"]), int(p["seed"]))],
    targets=(
        Target("≥ 10× scipy", peer="scipy", min_ratio=10.0),
        Target("≥ 5× skimage", peer="skimage", min_ratio=5.0),
    ),
)

LABEL_DASK = Case(
    name="label-dask",
    task="labeling + statistics, same chunks",
    sizes={
        "quick": {"side": 2048, "seed": 1, "chunk": 1024},
        "default": {"side": 4096, "seed": 1, "chunk": 1024},
    },
    size_label=_size,
    tools=(
        NL,
        Tool("dask_image", "dask_image.ndmeasure.label + bincount", _dask_image, ("dask_image",), BENCH_PIP),
    ),
    compare=_as_sets,
    tolerance=1e-6,
    prepare=prepare,
    inputs=lambda p, wd: [_npy(wd, int(p["side"]), int(p["seed"]))],
    targets=(Target("≥ 50× dask-image", peer="dask_image", min_ratio=50.0),),
)

CASES = [LABEL, LABEL_DASK]
