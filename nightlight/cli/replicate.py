"""``nightlight replicate``: the study configurations of ``catalog/studies/`` on the real data, and the report."""

from __future__ import annotations

import time
from pathlib import Path

import click

from nightlight.cli.group import FOLDER, as_cli_errors, console, main, scheduler_client, scheduler_options
from nightlight.progress import peak_rss_mb


@main.command()
@click.option(
    "--out",
    "out",
    default="docs/replication",
    show_default=True,
    type=FOLDER,
    help="Folder for tables and figures; the report is written beside it as <out>.md.",
)
@click.option(
    "--data-dir",
    default="../shared/data",
    show_default=True,
    type=FOLDER,
    help="The shared real-data folder (vector data: provinces, census, Shanghai; the mosaics come from the catalog).",
)
@click.option(
    "--window",
    default=None,
    help="Crop the China runs (DMSP-like and national) to a named lon/lat box (e.g. 'northeast').",
)
@click.option("--no-sensitivity", is_flag=True, help="Skip the sensitivity runs.")
@click.option(
    "--work-dir",
    default=None,
    type=FOLDER,
    help="Keep the batch runs of the study configurations here (a rerun resumes them); default: a temporary folder.",
)
@click.option(
    "--national/--no-national",
    default=True,
    show_default=True,
    help="The VIIRS-like 2013-2016 run over all of China, its 2012-2022 series and the census check.",
)
@scheduler_options()
def replicate(out, data_dir, window, no_sensitivity, work_dir, national, scheduler, scheduler_timeout):
    """Replicate the shrinking-cities finding on the real data (China VIIRS-like 2013-2016 and census, China
    DMSP-like 2018-2021, Shanghai 2013-2016)."""
    from nightlight.replication import WINDOWS, run_replication

    if window is not None and window not in WINDOWS:
        raise click.BadParameter(f"{window!r}: known windows are {', '.join(WINDOWS)}.", param_hint="--window")
    t0 = time.perf_counter()
    cmd = (
        f"nightlight replicate --out {out}"
        + (f" --window {window}" if window else "")
        + (" --no-sensitivity" if no_sensitivity else "")
        + ("" if national else " --no-national")
    )
    with as_cli_errors(), scheduler_client(scheduler, scheduler_timeout):
        res = run_replication(
            out,
            data_dir=data_dir,
            window=window,
            sensitivity=not no_sensitivity,
            national=national,
            command=cmd,
            work_dir=work_dir,
        )
    if "national" in res:
        n = res["national"]["study"]
        h = n["corrected"] if n["headline"] == "corrected" else n["raw"]
        click.echo(
            f"China VIIRS-like 2013->2016: {h['shrinking']} of {h['classified']} natural cities shrank "
            f"({h['share']:.1%}, {n['headline']}; {n['raw']['shrinking']} uncorrected)"
        )
    for pair, r in res["china"].items():
        click.echo(
            f"China DMSP-like {pair}: {r['shrinking']} of {r['classified']} natural cities shrank ({r['share']:.1%})"
        )
    if "shanghai" in res:
        sh = res["shanghai"]
        click.echo(
            f"Shanghai VIIRS-like 2013->2016: {sh['light']['shrinking']} of {sh['light']['classified']} "
            f"lit natural cities, {sh['mgup']['shrinking']} of {sh['mgup']['classified']} MGUP natural cities shrank"
        )
    console.print(
        f"wrote {Path(out)}.md and {out}/ in {time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_mb():.0f} MB"
    )
