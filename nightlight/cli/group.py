"""The ``nightlight`` command group and its error handling: one line ``Error: …``, exit 2 or 1, ``--debug``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console

from nightlight._version import __version__
from nightlight.errors import NightlightError, ParameterError

console = Console(stderr=True, highlight=False)


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


def _scheduler(address: str | None, timeout: float = 10.0) -> Any:
    """A dask.distributed client for ``--scheduler`` (an address, or 'local'); else the threaded
    scheduler with a progress bar on terminals."""
    if not address:
        from nightlight.progress import RichDaskProgress

        return RichDaskProgress("nightlight")
    from dask.distributed import Client, LocalCluster

    from nightlight.batch.cluster import ClusterSpec, connect

    if address == "local":
        return Client(LocalCluster(processes=False))
    # ClusterError is a NightlightError: the caller's _as_cli_errors makes it one line
    return connect(ClusterSpec(scheduler=address, timeout=timeout))


def scheduler_options(help: str = "dask.distributed scheduler address, or 'local' for a LocalCluster.") -> Any:
    """The ``--scheduler`` and ``--scheduler-timeout`` options, one definition for every command."""

    def decorate(f: Any) -> Any:
        f = click.option(
            "--scheduler-timeout",
            default=10.0,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="Seconds to wait for --scheduler to answer.",
        )(f)
        return click.option("--scheduler", default=None, help=help)(f)

    return decorate


def format_option() -> Any:
    """``--format parquet|gpkg|parquet,gpkg``: table formats of ``cities.*`` (GeoParquet is always written)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
        from nightlight.outputs.bundle import check_formats

        try:
            return check_formats([v.strip() for v in value.split(",") if v.strip()])
        except ParameterError as exc:
            raise click.BadParameter(str(exc)) from None

    return click.option(
        "--format",
        "formats",
        default="parquet",
        show_default=True,
        callback=parse,
        help="Table formats, comma-separated: parquet (always written), gpkg (GeoPackage, for QGIS).",
    )


@click.group(cls=NightlightGroup)
@click.version_option(__version__)
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error.")
def main(debug: bool) -> None:
    """nightlight: find shrinking cities in night-light mosaics (DMSP-OLS, VIIRS)."""
