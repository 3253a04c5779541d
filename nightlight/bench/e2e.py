"""End to end: files to the decline table, beside the floor of only reading (or generating) the data.

* ``national``: the national China VIIRS-like 2013 → 2016 run of ``nightlight replicate``
  (:func:`nightlight.replication.national.national_run`: its study configuration
  ``catalog/studies/national-viirslike-2013-2016.toml`` through the batch engine — 8-bit
  files read with ``nodata=None`` since 0 means dark, head/tail threshold of 2013,
  natural cities > 5 km², the decline with the six patterns — then the brightness
  correction of 2016 and the corrected decline; not the series, not the calibrated-area
  variant), on the two 152 Mpx files of ``../shared/data``. **The floor**: reading and decoding the two files with GDAL
  (rasterio windowed reads of the same 2048 × 2048 chunks, one dataset handle per
  thread, as many threads as the pipeline's dask workers), summing each block so
  the decode cannot be skipped. pipeline ÷ floor says how close to I/O-bound the
  pipeline is (1.0 = computing is free). The check: the 2013 → 2016 change of the
  mosaics' total light, from the pipeline's decline metadata and from the floor's sums.
* ``global`` (``--full``): the global 15″ synthetic pair (86,400 × 33,600 px = 2.9 Gpx
  each, rendered lazily chunk by chunk) through natural cities (with polygons) and
  ``detect_shrinking``; its floor renders the two mosaics and sums them (the
  synthetic analogue of reading). Targets: ≤ 10 min, ≤ 8 GB.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.bench.harness import NIGHTLIGHT, Case, Prepared, Result, Target, Tool, max_rel_diff, threads

#: The two years of the national case, by catalog name.
NATIONAL_YEARS = ("china-viirslike-8bit:2013", "china-viirslike-8bit:2016")
GLOBAL_BOUNDS = (-180.0, -65.0, 180.0, 75.0)


def _paths() -> list[str]:
    from nightlight.io.resolve import resolve

    return [resolve(name, fetch=False).path for name in NATIONAL_YEARS]


def _data_reason() -> str | None:
    from nightlight.io.resolve import ProductNotFoundError

    try:
        _paths()
    except ProductNotFoundError as exc:
        return f"{exc} (run from a checkout beside shared/data)"
    return None


def _national(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import tempfile

    import dask

    from nightlight.replication.national import national_run
    from nightlight.replication.params import WINDOWS, NationalParams

    np_ = NationalParams(calibrate_area=False)
    info: dict[str, Any] = {}

    def run(window: str | None = None) -> Result:
        work = Path(tempfile.mkdtemp(dir=workdir))  # a fresh folder: the batch run would resume from checkpoints
        with dask.config.set(scheduler="threads", num_workers=threads()):
            rec, _ = national_run(work, params=np_, window=WINDOWS[window] if window else None, series=False)
        study = rec["study"]
        if window is None:
            info["phases_s"] = rec["timing"]["phases_s"]
            info["cpu_s"] = rec["timing"]["cpu_s"]
        return {
            "mosaic_change": np.array([study["raw"]["mosaic_change"]]),
            "cities": np.array([study["raw"]["cities"]]),
            "shrinking_corrected": np.array([study["corrected"]["shrinking"]]),
        }

    # a window run loads every numba kernel from its cache before the timed national run
    return Prepared(run=run, warmup=lambda: run("northeast"), note="national_run, calibrated variant off", info=info)


def _nightlight_reader(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import dask

    from nightlight.io.raster import open_mosaic

    def run() -> Result:
        t13, t16 = (open_mosaic(name, nodata=None) for name in NATIONAL_YEARS)  # chunks 2048, as the national run
        with dask.config.set(scheduler="threads", num_workers=threads()):
            a, b = dask.compute(t13.sum(), t16.sum())
        return {"mosaic_change": np.array([(float(b) - float(a)) / float(a)])}

    return Prepared(run=run, note="open_mosaic + dask sum: GDAL decode + float32 + plausibility checks")


def _block_sum(path: str, windows: list, n_threads: int) -> float:
    import rasterio

    local = threading.local()

    def one(win: Any) -> int:
        if not hasattr(local, "src"):
            local.src = rasterio.open(path)
        return int(local.src.read(1, window=win).sum(dtype=np.int64))

    with ThreadPoolExecutor(n_threads) as pool:
        return float(sum(pool.map(one, windows)))


def _floor(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import rasterio
    import rasterio.windows

    paths = _paths()
    ch = int(params["chunk"])
    with rasterio.open(paths[0]) as src:
        h, w = src.shape
    windows = [
        rasterio.windows.Window(c, r, min(ch, w - c), min(ch, h - r)) for r in range(0, h, ch) for c in range(0, w, ch)
    ]

    def run() -> Result:
        t13, t16 = (_block_sum(p, windows, threads()) for p in paths)
        return {"mosaic_change": np.array([(t16 - t13) / t13])}

    return Prepared(run=run, note="rasterio block reads, 2048² windows")


def _compare_change(ours: Result, peer: Result) -> float:
    return max_rel_diff(ours["mosaic_change"], peer["mosaic_change"])


NATIONAL = Case(
    name="e2e-national",
    task="end to end, national 2013 → 2016 (real data)",
    sizes={"default": {"chunk": 2048}},
    size_label=lambda p: "2 × 11,072 × 13,713 px (152 Mpx each), uint8 LZW",
    tools=(
        Tool(NIGHTLIGHT, "nightlight replicate's national run", _national, max_repeat=2),
        Tool("read_floor", "read-only floor (GDAL decode)", _floor, requires=("rasterio",), max_repeat=3),
        Tool("read_nightlight", "nightlight's reader only", _nightlight_reader, max_repeat=3),
    ),
    compare=_compare_change,
    tolerance=1e-6,
    available=_data_reason,
    targets=(Target("pipeline ≤ 1.5 × read-only floor", peer="read_floor", min_ratio=1 / 1.5),),
)


def _global_world(chunk: int) -> Any:
    from nightlight.synthetic import make_world

    return make_world(seed=0, bounds=GLOBAL_BOUNDS, chunks=chunk)


def _global(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import dask

    from nightlight.change.decline import detect_shrinking
    from nightlight.cities.natural import extract_natural_cities

    world = _global_world(int(params["chunk"]))
    before, after = (world.mosaic(y) for y in world.years)

    def run(b: Any = before, a: Any = after) -> Result:
        with dask.config.set(scheduler="threads", num_workers=threads()):
            cities = extract_natural_cities(b, lit_threshold=world.lit_threshold)
            res = detect_shrinking(cities[["city_id", "geometry"]], b, a, id_column="city_id", patterns=False)
        return {
            "mosaic_change": np.array([res.attrs["nightlight"]["mosaic_change"]]),
            "cities": np.array([len(cities)]),
            "shrinking": np.array([int(res["shrinking"].sum())]),
        }

    def warm() -> None:
        sl = {"y": slice(14000, 16048), "x": slice(40000, 42048)}
        run(before.isel(sl), after.isel(sl))

    return Prepared(run=run, warmup=warm, note="natural cities with polygons + detect_shrinking")


def _global_floor(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    import dask

    world = _global_world(int(params["chunk"]))
    before, after = (world.mosaic(y) for y in world.years)

    def run() -> Result:
        with dask.config.set(scheduler="threads", num_workers=threads()):
            tb, ta = dask.compute(before.sum(), after.sum())
        return {"mosaic_change": np.array([(float(ta) - float(tb)) / float(tb)])}

    return Prepared(run=run, note="render both mosaics + sum")


GLOBAL = Case(
    name="e2e-global",
    task="end to end, global 15″ synthetic pair",
    sizes={"full": {"chunk": 2048}},
    size_label=lambda p: "2 × 86,400 × 33,600 px (2.9 Gpx each)",
    tools=(
        Tool(NIGHTLIGHT, "natural cities + detect_shrinking", _global, max_repeat=1),
        Tool("render_floor", "render-only floor (synthetic)", _global_floor, max_repeat=1),
    ),
    compare=_compare_change,
    tolerance=1e-6,
    targets=(Target("≤ 10 min and ≤ 8 GB on 2 cores", max_seconds=600.0, max_rss_mb=8000.0),),
)

CASES = [NATIONAL, GLOBAL]
