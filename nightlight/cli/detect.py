"""``nightlight detect`` and ``nightlight demo``: the job on two mosaics, and on the synthetic world."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from nightlight.change.inputs import NEGATIVE_POLICIES
from nightlight.cities.threshold import check_threshold
from nightlight.cli.group import _as_cli_errors, _scheduler, console, format_option, main, scheduler_options
from nightlight.errors import ParameterError
from nightlight.io.align import ALIGN_METHODS
from nightlight.pipeline import DetectParams, run_detect
from nightlight.progress import peak_rss_mb

#: Chunks smaller than this make more dask tasks than they save (overhead ~1 ms a task).
MIN_CHUNK = 64
#: The job's defaults, one place (nightlight.pipeline.DetectParams).
DEFAULTS = DetectParams()


def _threshold(ctx: click.Context, param: click.Parameter, value: str) -> float | str:
    number: float | str = value
    try:
        number = float(value)
    except ValueError:
        pass  # 'headtail', or a word check_threshold refuses
    try:
        return check_threshold(number)
    except ParameterError as exc:  # the library's one check and message
        raise click.BadParameter(str(exc)) from None


def _nodata(value: str) -> float | str | None:
    if value in ("file", "none"):
        return None if value == "none" else value
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: 'file', 'none' or a number such as -999.") from None


def _region(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        w, s, e, n = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: four numbers WEST,SOUTH,EAST,NORTH in degrees, e.g. 120.8,30.6,122.2,31.9."
        ) from None
    if not (w < e and s < n):
        raise click.BadParameter(f"{value!r}: WEST must be < EAST and SOUTH < NORTH.")
    return w, s, e, n


def _shrink_line(result, decline: float) -> str:
    """The headline: shrinking among the *classified* cities, and how many were not classified."""
    n = int(result["shrinking"].sum())
    status = result["status"].value_counts()
    classified = int(status.get("ok", 0))
    if classified == len(result):
        return f"{n} of {len(result)} natural cities shrank (≥{decline:.0%} decline)"
    others = ", ".join(f"{k} {v}" for k, v in status.items() if k != "ok")
    return (
        f"{n} of {classified} classified natural cities shrank (≥{decline:.0%} decline); "
        f"{len(result) - classified} of {len(result)} not classified ({others})"
    )


def _mosaic_line(result) -> str | None:
    change = result.attrs.get("nightlight", {}).get("mosaic_change")
    return None if change is None else f"whole-mosaic total light changed by {change:+.1%} between the two years"


@main.command()
@click.argument("before")
@click.argument("after")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option(
    "--threshold-lit",
    default=str(DEFAULTS.threshold_lit),
    show_default=True,
    callback=_threshold,
    help="Lit level in the mosaic's units (DN or nW/cm²/sr, > 0), or 'headtail' (Jiang's head/tail breaks).",
)
@click.option(
    "--min-area-km2",
    default=DEFAULTS.min_area_km2,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Natural cities are larger than this (km², > 0).",
)
@click.option(
    "--decline",
    default=DEFAULTS.decline,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Relative decline that counts as shrinking, in (0, 1).",
)
@click.option(
    "--connectivity",
    default=str(DEFAULTS.connectivity),
    show_default=True,
    type=click.Choice(["4", "8"]),
    help="Pixel connectivity.",
)
@click.option(
    "--chunks",
    default=DEFAULTS.chunks,
    show_default=True,
    type=click.IntRange(min=MIN_CHUNK),
    help=f"Dask chunk edge in pixels (≥ {MIN_CHUNK}; 1024–4096 suit most machines).",
)
@click.option(
    "--align",
    default=None,
    type=click.Choice(ALIGN_METHODS),
    help="Resample AFTER onto BEFORE's grid first with this method ('average' keeps totals, 'nearest' keeps DN).",
)
@click.option("--preprocess", default=None, help="Calibration steps, e.g. 'negatives_to_zero,noise_floor=0.6'.")
@scheduler_options()
@click.option(
    "--min-valid-share",
    default=DEFAULTS.min_valid_share,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Least share of a city's pixels valid in both years; below it status=partial_data.",
)
@click.option(
    "--area",
    default=DEFAULTS.area,
    show_default=True,
    type=click.Choice(["exact", "pyproj", "nominal"]),
    help="Ground area rule: exact ellipsoid (geographic/equal-area grids), pyproj scale factor, or nominal pixel size.",
)
@click.option(
    "--nodata",
    default=str(DEFAULTS.nodata),
    show_default=True,
    callback=lambda ctx, param, v: _nodata(v),
    help="Nodata value of both mosaics: 'file' (as declared), 'none' (every value is data), or a number (e.g. -999).",
)
@click.option(
    "--units",
    default=None,
    type=click.Choice(["nW/cm2/sr", "DN"]),
    help="Units of both mosaics (default: from the files, else inferred with a warning).",
)
@click.option(
    "--dark-floor",
    default=None,
    type=click.FloatRange(min=0),
    help="Cities whose mean base-year value is below this are too_dark (default by units: 0.5 nW/cm²/sr, 7 DN).",
)
@click.option(
    "--negative-radiance",
    default=DEFAULTS.negative_radiance,
    show_default=True,
    type=click.Choice(NEGATIVE_POLICIES),
    help="Negative values: summed as they are, set to 0, or dropped from every year.",
)
@click.option(
    "--region",
    default=None,
    callback=lambda ctx, param, v: _region(v),
    help="Crop both mosaics to WEST,SOUTH,EAST,NORTH in degrees (also names tiled products, e.g. Black Marble).",
)
@click.option("--allow-blank", is_flag=True, help="Accept a mosaic without any light (else an error).")
@click.option(
    "--allow-common-shift",
    is_flag=True,
    help="Accept nearly all cities moving together beyond --decline (else an error: a product change).",
)
@format_option()
def detect(before: str, after: str, out: Path, scheduler: str | None, scheduler_timeout: float, **options: Any) -> None:
    """Natural cities of BEFORE, and which of them shrank by AFTER."""
    t0 = time.perf_counter()
    options["connectivity"] = int(options["connectivity"])
    with _as_cli_errors():
        if options["preprocess"]:
            from nightlight.errors import CatalogError
            from nightlight.preprocess.steps import parse_steps

            try:
                parse_steps(options["preprocess"])  # a bad step name fails here, before any work
            except CatalogError as exc:
                raise click.BadParameter(str(exc), param_hint="--preprocess") from None
        with _scheduler(scheduler, scheduler_timeout):
            result, _, paths = run_detect(before, after, out, formats=options.pop("formats"), **options)
    click.echo(_shrink_line(result, options["decline"]))
    if line := _mosaic_line(result):
        console.print(line)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())} in {time.perf_counter() - t0:.1f} s")


@main.command()
@click.option(
    "--out", "out", default="nightlight-demo", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic world.")
@click.option("--sensor", default="viirs", show_default=True, type=click.Choice(["viirs", "dmsp"]))
@click.option(
    "--decline", default=DEFAULTS.decline, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True)
)
def demo(out, seed, sensor, decline):
    """Run `detect` on the built-in synthetic world and score it against the planted truth."""
    from nightlight.synthetic import make_world
    from nightlight.synthetic.validate import score_against_truth

    t0 = time.perf_counter()
    world = make_world(seed=seed, sensor=sensor)
    files = world.write_geotiffs(Path(out) / "mosaics")
    first, last = world.years[0], world.years[-1]
    console.print(
        f"synthetic {sensor} world, seed {seed}: {world.grid.shape[0]} x {world.grid.shape[1]} px, "
        f"{len(world.truth)} planted lights, years {first} -> {last}"
    )
    with _as_cli_errors(), _scheduler(None):
        result, cities, _ = run_detect(
            str(files[first]), str(files[last]), Path(out), threshold_lit=world.lit_threshold, decline=decline
        )
    score = score_against_truth(result, world.truth, decline=decline)
    click.echo(_shrink_line(result, decline))
    click.echo(
        f"precision {score['precision']:.3f}, recall {score['recall']:.3f} "
        f"(planted shrinking: {score['truth_shrinking']}, detected: {score['detected_shrinking']}, "
        f"true positives: {score['true_positives']}; "
        f"planted cities matched: {score['matched']} of {score['in_scope']} in scope)"
    )
    (Path(out) / "score.json").write_text(json.dumps(score, indent=2))
    console.print(f"outputs in {out}/ — wall {time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_mb():.0f} MB")
