"""End to end: files to the decline table, beside the floor of only reading (or generating) the data.

* ``national``: the national China VIIRS-like 2013 → 2016 run of ``nightlight replicate``
  (``catalog/studies/national-viirslike-2013-2016.toml``) through the public functions,
  each phase timed (median over the runs, in the case's ``info``): ``prepare_inputs``
  (8-bit files with ``nodata="none"``: 0 means dark), the head/tail threshold of 2013,
  ``extract_natural_cities`` (> 5 km²), ``fit_normalisation`` (the brightness correction
  of 2016), ``detect_shrinking`` with the six patterns, raw and corrected; on the two
  152 Mpx files of ``../shared/data``. **The floor**: reading and decoding the two files with GDAL
  (rasterio windowed reads of the same 2048 × 2048 chunks, one dataset handle per
  thread, as many threads as the pipeline's dask workers), summing each block so
  the decode cannot be skipped. pipeline ÷ floor says how close to I/O-bound the
  pipeline is (1.0 = computing is free). The check: the 2013 → 2016 change of the
  mosaics' total light, from the pipeline's decline metadata and from the floor's sums.
* ``global`` (``--full``, issue 21): the global 15″ synthetic series, base + 3 years
  (2013–2016, 86,400 × 33,600 px = 2.9 Gpx each, rendered lazily chunk by chunk), through
  natural cities (with polygons) and ``detect_shrinking(series=..., patterns=True)``
  (trend test + the six patterns); its floor renders the four mosaics and sums them (the
  synthetic analogue of reading). The first run checks the shrinking flags against the
  planted truth (:func:`~nightlight.synthetic.validate.score_against_truth`, in ``info``;
  a false flag is an error). Targets: ≤ 10 min, ≤ 8 GB.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from nightlight.bench.harness import NIGHTLIGHT, Case, Prepared, Result, Target, Tool, max_rel_diff, threaded, threads

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
    import time

    from nightlight import detect_shrinking, extract_natural_cities, prepare_inputs
    from nightlight.cities.threshold import headtail_breaks
    from nightlight.preprocess.normalise import fit_normalisation
    from nightlight.replication.params import WINDOWS, NationalParams

    fit_kw = {"buffer": NationalParams().correction_buffer_px, "model": NationalParams().correction_model}
    years, opts = dict(zip((2013, 2016), NATIONAL_YEARS)), {"nodata": "none", "units": "nW/cm2/sr", "align": "average"}
    laps: list[dict[str, float]] = []
    info: dict[str, Any] = {}

    def run(region: tuple[float, float, float, float] | None = None) -> Result:
        phases: dict[str, float] = {}
        tick = [time.perf_counter()]

        def lap(name: str) -> None:
            phases[name], tick[0] = time.perf_counter() - tick[0], time.perf_counter()

        with threaded():
            before, after = prepare_inputs(years, region=region, **opts).mosaics  # type: ignore[arg-type]
            lap("open")
            level = headtail_breaks(before, max_levels=1)[0]
            lap("threshold")
            cities = extract_natural_cities(before, lit_threshold=level, min_area_km2=5.0, connectivity=8)
            lap("natural cities")
            fit = fit_normalisation(before, after, level=level, exclude=cities[["geometry"]], **fit_kw)  # type: ignore[arg-type]
            lap("correction fit")
            zones = cities[["city_id", "geometry"]]
            raw = detect_shrinking(zones, before, after, id_column="city_id", allow_common_shift=True)
            lap("decline + patterns")
            cor = detect_shrinking(zones, before, fit.apply(after), id_column="city_id", allow_common_shift=True)
            lap("corrected decline + patterns")
        if region is None:  # the median of each phase over the full runs so far
            laps.append(phases)
            info["phases_s"] = {k: round(float(np.median([x[k] for x in laps])), 2) for k in phases}
        return {
            "mosaic_change": np.array([raw.attrs["nightlight"]["mosaic_change"]]),
            "cities": np.array([len(cities)]),
            "shrinking_corrected": np.array([int(cor["shrinking"].sum())]),
        }

    # a window run loads every numba kernel from its cache before the timed national runs
    return Prepared(
        run=run,
        warmup=lambda: run(WINDOWS["northeast"]),
        note="prepare_inputs → headtail_breaks → extract_natural_cities → fit_normalisation → detect_shrinking × 2",
        info=info,
    )


def _nightlight_reader(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from nightlight.io.raster import open_mosaic

    def run() -> Result:
        return _change_of_sums(*(open_mosaic(name, nodata=None) for name in NATIONAL_YEARS))  # chunks 2048

    return Prepared(run=run, note="open_mosaic + dask sum: GDAL decode + float32 + plausibility checks")


def _change_of_sums(*mosaics: Any) -> Result:
    """The relative change of the first → last mosaic's total light; every mosaic is summed by dask (threaded)."""
    with threaded():
        sums = [float(m.sum().compute()) for m in mosaics]
    return {"mosaic_change": np.array([(sums[-1] - sums[0]) / sums[0]])}


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
        Tool(NIGHTLIGHT, "nightlight replicate's national run", _national),
        Tool("read_floor", "read-only floor (GDAL decode)", _floor, requires=("rasterio",)),
        Tool("read_nightlight", "nightlight's reader only", _nightlight_reader),
    ),
    compare=_compare_change,
    tolerance=1e-6,
    available=_data_reason,
    targets=(
        Target("≤ 1.5 × read-only floor", peer="read_floor", min_ratio=1 / 1.5),
        Target("≤ 4 s, ≤ 1.2 GB (issue 21)", max_seconds=4.0, max_rss_mb=1200.0),
    ),
)


def _global_world(chunk: int) -> Any:
    from nightlight.synthetic import make_world

    return make_world(seed=0, bounds=GLOBAL_BOUNDS, years=range(2013, 2017), chunks=chunk)  # base + 3 years


def _global(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    from nightlight.change.decline import detect_shrinking
    from nightlight.cities.natural import extract_natural_cities
    from nightlight.synthetic.validate import score_against_truth

    world = _global_world(int(params["chunk"]))
    series = {y: world.mosaic(y) for y in world.years}
    info: dict[str, Any] = {}

    def run(s: dict[int, Any] = series, check: bool = True) -> Result:
        with threaded():
            cities = extract_natural_cities(s[world.years[0]], lit_threshold=world.lit_threshold)
            res = detect_shrinking(cities[["city_id", "geometry"]], series=s, id_column="city_id", patterns=True)
        if check and "truth" not in info:  # the first full run (the harness's check) scores against the truth
            score = score_against_truth(res, world.truth)
            info["truth"] = {k: score[k] for k in ("precision", "recall", "detected_shrinking", "truth_shrinking")}
            info["patterns"] = {str(k): int(v) for k, v in res["shrink_pattern"].value_counts().items()}
            if score["false_positive_city_ids"] or score["false_negative_truth_ids"]:
                raise AssertionError(f"e2e-global: shrinking flags differ from the planted truth: {info['truth']}")
        return {
            "mosaic_change": np.array([res.attrs["nightlight"]["mosaic_change"]]),
            "cities": np.array([len(cities)]),
            "shrinking": np.array([int(res["shrinking"].sum())]),
        }

    def warm() -> None:
        sl = {"y": slice(14000, 16048), "x": slice(40000, 42048)}
        run({y: m.isel(sl) for y, m in series.items()}, check=False)

    return Prepared(run=run, warmup=warm, note="natural cities + detect_shrinking(series, patterns)", info=info)


def _global_floor(params: Mapping[str, Any], workdir: Path, variant: str) -> Prepared:
    world = _global_world(int(params["chunk"]))
    mosaics = [world.mosaic(y) for y in world.years]
    return Prepared(run=lambda: _change_of_sums(*mosaics), note="render the four mosaics + sum")


GLOBAL = Case(
    name="e2e-global",
    task="end to end, global 15″ synthetic series (base + 3 years, patterns)",
    sizes={"full": {"chunk": 2048}},
    size_label=lambda p: "4 × 86,400 × 33,600 px (2.9 Gpx each)",
    tools=(
        Tool(NIGHTLIGHT, "natural cities + detect_shrinking (series, patterns)", _global),
        Tool("render_floor", "render-only floor (synthetic)", _global_floor),
    ),
    compare=_compare_change,
    tolerance=1e-6,
    targets=(Target("≤ 10 min and ≤ 8 GB on 2 cores", max_seconds=600.0, max_rss_mb=8000.0),),
)

CASES = [NATIONAL, GLOBAL]
