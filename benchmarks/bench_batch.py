"""Batch jobs end to end: a global 15″ synthetic series, and the national China series of the example config.

Run from the repo root::

    python benchmarks/bench_batch.py global      # 86,400 × 33,600 px × 4 years, lazily generated (~10–20 min)
    python benchmarks/bench_batch.py china       # docs/examples/batch-china.toml (11 years, 152 Mpx each)

``global``: the synthetic world of :mod:`nightlight.synthetic` over the VNL extent
(−180…180°, −65…75°), base year 2013 and the years 2014–2016 generated chunk by chunk
(no disk), through ``nightlight.batch.run_batch`` — preprocessing (negatives to zero),
natural cities of 2013, the decline to each later year, the trend over the four years
(``--patterns`` adds the shrinkage patterns: a per-city pass over both years' windows) —
on a ``LocalCluster`` sized to the machine (one worker process, a thread per core).
Targets (issue 12): ≤ 15 min, ≤ 8 GB in total.

Both print one JSON record: wall time, Mpx/s (input pixels of every year ÷ wall), the
stages' times, and the peak RSS of every process (driver and each worker, from the
run log, ``resource.getrusage``) and their sum.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

GLOBAL_BOUNDS = (-180.0, -65.0, 180.0, 75.0)
YEARS = (2013, 2014, 2015, 2016)


def _global_config(folder: Path, lit: float, chunks: int, patterns: bool) -> Path:
    path = folder / "global.toml"
    path.write_text(
        f"""[inputs]
template = "synthetic:{{year}}"    # generated lazily (sources= below), no file
units = "nW/cm2/sr"
preprocess = "negatives_to_zero"

[cities]
lit_threshold = {lit}

[decline]
base = 2013
compare = [2014, 2015, 2016]
patterns = {str(patterns).lower()}

[trend]
years = "2013-2016"

[run]
chunks = {chunks}
"""
    )
    return path


def _record(result, wall: float, pixels: int, **extra) -> dict:
    mem = result.stages[-1]["peak_rss_mb"] if result.stages else {}
    per_process = {k: v for k, v in mem.items() if isinstance(v, (int, float))}
    return {
        **extra,
        "wall_s": round(wall, 1),
        "mpx_s": round(pixels / 1e6 / wall, 1),
        "stages_s": {s["stage"]: s["seconds"] for s in result.stages},
        "peak_rss_mb": per_process,
        "peak_rss_total_mb": round(sum(per_process.values())),
        "blocks": result.blocks,
        "load_1min": round(os.getloadavg()[0], 2),
    }


def bench_global(chunks: int, patterns: bool) -> dict:
    from nightlight.batch import load_config, run_batch
    from nightlight.batch.cluster import ClusterSpec, connect
    from nightlight.synthetic import make_world

    t0 = time.perf_counter()
    world = make_world(seed=0, bounds=GLOBAL_BOUNDS, years=YEARS, chunks=chunks)
    sources = {y: world.mosaic(y) for y in YEARS}
    with tempfile.TemporaryDirectory(prefix="nightlight-bench-batch-") as tmp:
        cfg = load_config(_global_config(Path(tmp), float(world.lit_threshold), chunks, patterns))
        with connect(ClusterSpec()) as client:
            result = run_batch(cfg, Path(tmp) / "out", client=client, sources=sources)
    wall = time.perf_counter() - t0
    shape = sources[2013].shape
    return _record(
        result,
        wall,
        shape[0] * shape[1] * len(YEARS),
        case="global synthetic series",
        shape=list(shape),
        years=list(YEARS),
        chunks=chunks,
        patterns=patterns,
        natural_cities=len(result.cities),
        shrinking={str(y): int(r["shrinking"].sum()) for y, r in result.pairs.items()},
        targets="wall_s <= 900, peak_rss_total_mb <= 8000",
    )


def bench_china(out: Path | None) -> dict:
    from nightlight.batch import load_config, run_batch
    from nightlight.batch.cluster import ClusterSpec, connect

    cfg = load_config("docs/examples/batch-china.toml")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nightlight-bench-china-") as tmp:
        with connect(ClusterSpec()) as client:
            result = run_batch(cfg, out or Path(tmp) / "out", client=client)
    wall = time.perf_counter() - t0
    return _record(
        result,
        wall,
        13713 * 11072 * len(cfg.years),
        case="national China VIIRS-like series (docs/examples/batch-china.toml)",
        years=cfg.years,
        natural_cities=len(result.cities),
        shrinking={str(y): int(r["shrinking"].sum()) for y, r in result.pairs.items()},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", choices=["global", "china"])
    ap.add_argument("--chunks", type=int, default=2048, help="chunk edge of the global run, px")
    ap.add_argument(
        "--patterns",
        action="store_true",
        help="global: also classify shrinkage patterns (not in issue 12's stage list; a per-city pass in the driver)",
    )
    ap.add_argument("--out", type=Path, default=None, help="china: keep the outputs here")
    args = ap.parse_args()
    if args.case == "china" and not Path("../shared/data/china-viirslike-15s").is_dir():
        sys.exit("../shared/data/china-viirslike-15s is absent: run from the repo root on a machine with the data")
    rec = bench_global(args.chunks, args.patterns) if args.case == "global" else bench_china(args.out)
    print(json.dumps(rec, indent=2))


if __name__ == "__main__":
    main()
