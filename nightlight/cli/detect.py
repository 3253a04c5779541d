"""``nightlight detect`` and ``nightlight demo``: the job on two mosaics, and on the synthetic world."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from nightlight.cli.group import (
    FOLDER,
    as_cli_errors,
    console,
    format_option,
    given_params,
    main,
    params_options,
    scheduler_client,
    scheduler_options,
)
from nightlight.params import Params
from nightlight.pipeline import run_detect
from nightlight.progress import peak_rss_mb


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


@main.command()
@click.argument("before")
@click.argument("after")
@click.option("--out", "out", required=True, type=FOLDER, help="Output folder.")
@params_options()
@scheduler_options()
@click.option("--overwrite", is_flag=True, help="Write into a non-empty folder that holds no nightlight run.")
@format_option()
def detect(
    before: str,
    after: str,
    out: Path,
    overwrite: bool,
    formats: tuple[str, ...],
    scheduler: str | None,
    scheduler_timeout: float,
    **options: Any,
) -> None:
    """Natural cities of BEFORE, and which of them shrank by AFTER (paths, URLs or catalog names NAME:KEY)."""
    t0 = time.perf_counter()
    with as_cli_errors():
        params = Params(**given_params(options))
        with scheduler_client(scheduler, scheduler_timeout):
            result, _, paths = run_detect(before, after, out, params=params, overwrite=overwrite, formats=formats)
    click.echo(_shrink_line(result, params.min_decline))
    if (change := result.attrs.get("nightlight", {}).get("mosaic_change")) is not None:
        console.print(
            f"whole-mosaic total light changed by {change:+.1%} between the two years (on the pixels valid in both)"
        )
    console.print(f"wrote {', '.join(str(p) for p in paths.values())} in {time.perf_counter() - t0:.1f} s")


@main.command()
@click.option("--out", "out", default="nightlight-demo", show_default=True, type=FOLDER)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic world.")
@click.option("--sensor", default="viirs", show_default=True, type=click.Choice(["viirs", "dmsp"]))
@click.option(
    "--min-decline",
    default=Params().min_decline,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Relative decline that counts as shrinking.",
)
def demo(out, seed, sensor, min_decline):
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
    with as_cli_errors(), scheduler_client(None):
        result, cities, _ = run_detect(
            str(files[first]),
            str(files[last]),
            Path(out),
            lit_threshold=world.lit_threshold,
            min_decline=min_decline,
            overwrite=True,  # the folder holds the demo's own mosaics (mosaics/) beside the run
        )
    score = score_against_truth(result, world.truth, decline=min_decline)
    click.echo(_shrink_line(result, min_decline))
    click.echo(
        f"precision {score['precision']:.3f}, recall {score['recall']:.3f} "
        f"(planted shrinking: {score['truth_shrinking']}, detected: {score['detected_shrinking']}, "
        f"true positives: {score['true_positives']}; "
        f"planted cities matched: {score['matched']} of {score['in_scope']} in scope)"
    )
    (Path(out) / "score.json").write_text(json.dumps(score, indent=2))
    console.print(f"outputs in {out}/ — wall {time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_mb():.0f} MB")
