"""``nightlight batch CONFIG.toml``: one configuration over many years, on a dask cluster, resumable."""

from __future__ import annotations

import time
from pathlib import Path

import click

from nightlight.cli.group import FILE, FOLDER, as_cli_errors, console, format_option, main, scheduler_options


@main.command()
@click.argument("config", type=FILE)
@click.option("--out", type=FOLDER, help="Output folder (overrides [outputs] folder).")
@scheduler_options("Address of a running dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option(
    "--cluster",
    "kind",
    default="local",
    show_default=True,
    type=click.Choice(["local", "slurm", "pbs"]),
    help="Without --scheduler: a LocalCluster on this machine, or dask-jobqueue jobs.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes (jobs).")
@click.option("--cores", default=None, type=click.IntRange(min=1), help="Threads per worker (default: all cores).")
@click.option("--memory", default=None, help="Memory per worker, e.g. 16GB (default: the machine's, for local).")
@click.option("--walltime", default="04:00:00", show_default=True, help="SLURM/PBS job wall time.")
@click.option("--queue", default=None, help="SLURM partition / PBS queue.")
@click.option("--account", default=None, help="SLURM/PBS account to charge.")
@click.option("--overwrite", is_flag=True, help="Replace a folder holding another configuration's run.")
@click.option(
    "--dry-run", is_flag=True, help="Validate the configuration and print the plan (and job script); compute nothing."
)
@format_option()
def batch(config, out, scheduler, scheduler_timeout, overwrite, dry_run, formats, **cluster):
    """Natural cities of the base year, their decline to every compared year and their trend, from CONFIG.toml."""
    from nightlight.batch.cluster import ClusterSpec, connect, job_script
    from nightlight.batch.config import load_config
    from nightlight.batch.run import run_batch

    t0 = time.perf_counter()
    # the cluster options (--cluster, --workers, --cores, --memory, --walltime, --queue, --account) are its fields
    spec = ClusterSpec(scheduler=scheduler, timeout=scheduler_timeout, **cluster)
    with as_cli_errors():
        cfg = load_config(config)
        folder = out or cfg.out or Path("nightlight-batch")
        if dry_run:
            click.echo(_plan(cfg, folder, spec))
            if not scheduler and spec.kind in ("slurm", "pbs"):
                click.echo(f"# job script per worker ({spec.kind}):\n{job_script(spec)}")
            return
        console.print(f"batch {config}: {len(cfg.years)} years, base {cfg.base} → {list(cfg.compare)}, into {folder}/")
        with connect(spec) as client:
            if client.dashboard_link:
                console.print(f"dask dashboard: {client.dashboard_link}")
            result = run_batch(cfg, folder, overwrite=overwrite, client=client, formats=formats)
    for y, res in result.pairs.items():
        n, ok = int(res["shrinking"].sum()), int((res["status"] == "ok").sum())
        click.echo(
            f"{cfg.base} → {y}: {n} of {ok} classified natural cities shrank (≥{cfg.params.min_decline:.0%} decline)"
        )
    if result.trend is not None:
        sig = int(result.trend["significant_decline_fdr"].sum())
        click.echo(
            f"trend {cfg.trend_years[0]}–{cfg.trend_years[-1]}: {sig} shrinking cities decline significantly "
            f"(FDR q < {cfg.alpha:g})"
        )
        p, t = cfg.params, result.trend
        sides = (
            f"mean {_span(p.base_years or (cfg.base,))} → mean {_span(p.compare_years or (cfg.compare[-1],))}"
            if p.base_years or p.compare_years
            else f"{cfg.base} → {cfg.compare[-1]}"
        )
        click.echo(
            f"{sides}: {int(t['shrinking'].sum())} of {int((t['status'] == 'ok').sum())} classified cities shrank, "
            f"{int(t['shrinking_significant'].sum())} beyond their own year-to-year scatter "
            f"(change_p, BH q < {cfg.alpha:g})"
        )
    b = result.blocks
    console.print(
        f"wrote {folder}/ in {time.perf_counter() - t0:.1f} s ({b['computed']} blocks computed, {b['loaded']} loaded "
        "from checkpoints)"
    )


def _span(years) -> str:
    return f"{years[0]}–{years[-1]}" if len(years) > 1 else f"{years[0]}"


def _plan(cfg, folder: Path, spec) -> str:
    p = cfg.params
    lines = [
        f"configuration {cfg.path}: valid",
        f"inputs: {', '.join(f'{y}={s}' for y, s in sorted(cfg.inputs.items()))}",
        f"base {cfg.base}; compare {list(cfg.compare)}; trend {list(cfg.trend_years) or 'none'}",
        f"cities: lit_threshold={p.lit_threshold}, min_area_km2={p.min_area_km2}, connectivity={p.connectivity}",
        f"decline: min_decline={p.min_decline}, preprocess={p.preprocess}, align={p.align}, region={p.region or 'all'}",
        f"chunks {p.chunks} px; output folder {folder}/; computing on {spec.describe()}",
    ]
    return "\n".join(lines)
