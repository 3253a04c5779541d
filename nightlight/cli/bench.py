"""``nightlight bench``: nightlight against every peer at its best, on this machine, in one table."""

from __future__ import annotations

import click

from nightlight.cli.group import FILE, FOLDER, DataError, console, main


@main.command()
@click.option("--quick", "mode", flag_value="quick", help="Small sizes: under 2 minutes on 2 cores.")
@click.option("--default", "mode", flag_value="default", default=True, hidden=True)
@click.option("--full", "mode", flag_value="full", help="The default cases plus the global 2.9 Gpx runs.")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this case (a name or prefix; repeatable).")
@click.option("--json", "json_out", type=FILE, help="Write the record as JSON.")
@click.option("--markdown", "md_out", type=FILE, help="Write the table as markdown.")
@click.option(
    "--workdir",
    type=FOLDER,
    default=None,
    help="Cached inputs and results (default: <tmp>/nightlight-bench; reused between runs).",
)
@click.option("--timeout", type=float, default=1800.0, show_default=True, help="Seconds before one measurement stops.")
@click.option("--list", "list_cases", is_flag=True, help="List the cases and exit.")
def bench(mode, only, json_out, md_out, workdir, timeout, list_cases):
    """Time nightlight against scipy, scikit-image, dask-image, exactextract, rasterstats, xarray-spatial and
    the read-only floor, each measurement in its own process; one table, ratios peer / nightlight."""
    from nightlight.bench.registry import CASES, select
    from nightlight.bench.report import print_table, write_json, write_markdown
    from nightlight.bench.suite import run_suite

    if list_cases:
        for c in CASES.values():
            peers = ", ".join(t.name for t in c.tools[1:])
            click.echo(f"{c.name:<22} {'/'.join(c.sizes):<20} {c.task} (vs {peers})")
        return
    try:
        select(mode, list(only))
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--only") from None
    record = run_suite(
        mode, only=list(only), workdir=workdir, timeout=timeout, on_event=lambda m: console.print(f"[dim]{m}[/dim]")
    )
    print_table(record)
    if json_out:
        console.print(f"wrote {write_json(record, json_out)}")
    if md_out:
        console.print(f"wrote {write_markdown(record, md_out)}")
    failed = [c["case"] for c in record["cases"] if c["status"] not in ("ok", "unavailable")]
    if failed:
        raise DataError(f"{len(failed)} case(s) failed or disagree: {', '.join(failed)} (see the table).")
