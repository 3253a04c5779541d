"""Command line: a thin layer over the library (``nightlight --help``).

``nightlight detect BEFORE AFTER --out DIR`` extracts natural cities from BEFORE,
tests each for decline, and writes ``cities.parquet``, ``summary.csv`` and
``map.png``; ``nightlight demo`` does the same on the built-in synthetic world and
scores the result against the planted truth.

Errors: every failure is one line ``Error: …`` naming the option or file, the
problem and the fix — exit code 2 for usage errors (a bad option), 1 for data errors
(a file, a grid, a blank year); ``nightlight --debug …`` shows the traceback.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from nightlight._version import __version__
from nightlight.errors import NightlightError, ParameterError
from nightlight.pipeline import DetectParams, run_detect

console = Console(stderr=True, highlight=False)

#: GDAL resampling methods ``--align`` accepts (rasterio.enums.Resampling names that make sense here).
ALIGN_METHODS = ("nearest", "bilinear", "cubic", "average", "mode", "max", "min", "med", "sum")
#: Chunks smaller than this make more dask tasks than they save (overhead ~1 ms a task).
MIN_CHUNK = 64
#: The job's defaults, one place (nightlight.pipeline.DetectParams).
DEFAULTS = DetectParams()


class NightlightGroup(click.Group):
    """A click group whose errors are one line and whose tracebacks need ``--debug``."""

    def main(self, args: Any = None, prog_name: str | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        try:
            return super().main(args=argv, prog_name=prog_name, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:  # usage errors (2) and our data errors (1)
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted.", err=True)
            sys.exit(1)
        except Exception as exc:  # a bug or an unforeseen failure: say so in one line
            if debug:
                raise
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} (run `nightlight --debug …` for the traceback "
                "and report it)",
                err=True,
            )
            sys.exit(1)


class DataError(click.ClickException):
    """A failure of the inputs (exit code 1), as opposed to a usage error (exit code 2)."""

    exit_code = 1


@contextmanager
def _as_cli_errors() -> Iterator[None]:
    """Library errors become one-line CLI errors: parameter errors exit 2, data errors exit 1."""
    debug = click.get_current_context().find_root().params.get("debug", False)
    try:
        yield
    except ParameterError as exc:
        if debug:
            raise
        raise click.UsageError(str(exc)) from exc
    except NightlightError as exc:
        if debug:
            raise
        raise DataError(str(exc)) from exc


def _threshold(ctx: click.Context, param: click.Parameter, value: str) -> float | str:
    if value == "headtail":
        return value
    try:
        v = float(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: a number in the mosaic's units (DN or nW/cm²/sr) or 'headtail'."
        ) from None
    if not v > 0:  # also refuses NaN
        raise click.BadParameter(
            f"{value!r}: a lit threshold must be > 0 (at ≤ 0 every pixel is lit and the whole mosaic is one city)."
        )
    return v


def _scheduler(address: str | None, timeout: float = 10.0) -> Any:
    """A dask.distributed client for ``--scheduler`` (an address, or 'local'); else the threaded
    scheduler with a progress bar on terminals."""
    if not address:
        from nightlight.progress import RichDaskProgress

        return RichDaskProgress("nightlight")
    from dask.distributed import Client, LocalCluster

    if address == "local":
        return Client(LocalCluster(processes=False))
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise DataError(
            f"--scheduler {address}: no dask scheduler answered within {timeout:g} s ({type(exc).__name__}). "
            "Check the address and that the scheduler runs (`dask scheduler`), raise --scheduler-timeout, "
            "or omit --scheduler to run on this machine."
        ) from None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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


@click.group(cls=NightlightGroup)
@click.version_option(__version__)
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error.")
def main(debug: bool) -> None:
    """nightlight: find shrinking cities in night-light mosaics (DMSP-OLS, VIIRS)."""


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
@click.option("--scheduler", default=None, help="dask.distributed scheduler address, or 'local' for a LocalCluster.")
@click.option(
    "--scheduler-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for --scheduler to answer.",
)
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
@click.option("--allow-blank", is_flag=True, help="Accept a mosaic without any light (else an error).")
@click.option(
    "--allow-common-shift",
    is_flag=True,
    help="Accept nearly all cities moving together beyond --decline (else an error: a product change).",
)
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
            result, _, paths = run_detect(before, after, out, **options)
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
@click.option("--decline", default=0.10, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True))
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
    console.print(f"outputs in {out}/ — wall {time.perf_counter() - t0:.1f} s, peak RSS {_peak_rss_mb():.0f} MB")


@main.command()
@click.option(
    "--out",
    "out",
    default="docs/replication",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for tables and figures; the report is written beside it as <out>.md.",
)
@click.option(
    "--data-dir",
    default="../shared/data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The shared real-data folder.",
)
@click.option(
    "--window",
    default=None,
    help="Crop the China runs (DMSP-like and national) to a named lon/lat box (e.g. 'northeast').",
)
@click.option("--no-sensitivity", is_flag=True, help="Skip the sensitivity runs.")
@click.option(
    "--national/--no-national",
    default=True,
    show_default=True,
    help="The VIIRS-like 2013-2016 run over all of China, its 2012-2022 series and the census check.",
)
@click.option("--scheduler", default=None, help="dask.distributed scheduler address, or 'local' for a LocalCluster.")
def replicate(out, data_dir, window, no_sensitivity, national, scheduler):
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
    with _as_cli_errors(), _scheduler(scheduler):
        res = run_replication(
            out, data_dir=data_dir, window=window, sensitivity=not no_sensitivity, national=national, command=cmd
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
        f"wrote {Path(out)}.md and {out}/ in {time.perf_counter() - t0:.1f} s, peak RSS {_peak_rss_mb():.0f} MB"
    )


# --------------------------------------------------------------------------- catalog: name a product, get the data
@main.group()
def catalog() -> None:
    """The night-light products nightlight knows by name (NAME:KEY in detect and open_mosaic)."""


@catalog.command("list")
def catalog_list() -> None:
    """One line per product: name, kind, units, years, access."""
    from rich.table import Table

    from nightlight.io.catalog import load_catalog
    from nightlight.io.catalog_text import LIST_COLUMNS, list_rows

    with _as_cli_errors():
        products = load_catalog()
    table = Table(title=f"{len(products)} products (use NAME:KEY, e.g. viirs-vnl-v2.1:2016)")
    for col in LIST_COLUMNS:
        table.add_column(col, overflow="fold")
    for row in list_rows(products):
        table.add_row(*row)
    Console(highlight=False, width=max(Console().width, 160)).print(table)


@catalog.command("show")
@click.argument("name")
def catalog_show(name: str) -> None:
    """Everything the catalog says about NAME (or NAME:KEY: also where its file is)."""
    from nightlight.io.catalog import get_product, parse_request
    from nightlight.io.catalog_text import describe
    from nightlight.io.resolve import ProductNotFoundError, resolve

    with _as_cli_errors():
        product = get_product(name.partition(":")[0])
        req = parse_request(name) if ":" in name else None
    out = Console(highlight=False)
    out.print(f"[bold]{product.name}[/bold] — {product.title}")
    rows = describe(product)
    for key, value in rows.items():
        if value:
            out.print(f"  {key:15s} {value}")
    if req is not None:
        try:
            found = resolve(name, fetch=False)
            out.print(f"  {'file':15s} {found.path} ({found.found})")
        except ProductNotFoundError as exc:
            out.print(f"  {'file':15s} not local: {exc}")


@catalog.command("stac")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def catalog_stac(out_dir: Path) -> None:
    """Write the product catalog as a STAC catalog (one collection per product) into OUT_DIR."""
    from nightlight.io.stac import write_stac

    with _as_cli_errors():
        path = write_stac(out_dir)
    click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
