"""The ``nightlight`` command group and its error handling: one line ``Error: …``, exit 2 or 1, ``--debug``."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from nightlight._version import __version__
from nightlight.errors import NightlightError, ParameterError

console = Console(stderr=True, highlight=False, soft_wrap=True)  # no line breaks inside a message (logs, pipes)
#: The click types of a folder and of a file argument or option, as :class:`pathlib.Path`.
FOLDER = click.Path(file_okay=False, path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)


#: The commands: name → (module that defines it, one-line help). A command's module is
#: imported only when that command runs (or shows its own help), so ``nightlight --help``
#: does not import xarray, dask or geopandas.
COMMANDS: dict[str, tuple[str, str]] = {
    "detect": ("nightlight.cli.detect", "Natural cities of BEFORE, and which of them shrank by AFTER."),
    "demo": ("nightlight.cli.detect", "Run detect on the built-in synthetic world and score it."),
    "batch": ("nightlight.cli.batch", "Many years from a TOML configuration, on a dask cluster, resumable."),
    "catalog": ("nightlight.cli.catalog", "The night-light products nightlight knows (list, show, stac)."),
    "replicate": ("nightlight.cli.replicate", "The shrinking-cities study on the real data; writes its report."),
    "bench": ("nightlight.cli.bench", "Speed and peak memory against the peers, measured in the same run."),
    "map": ("nightlight.cli.map", "The interactive map.html (and map.png) of an existing result."),
}


class NightlightGroup(click.Group):
    """A click group whose errors are one line, whose tracebacks need ``--debug``, and whose
    commands load on first use (:data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            importlib.import_module(COMMANDS[cmd_name][0])  # its decorators register it on this group
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args: Any = None, prog_name: str | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        shown = warnings.showwarning
        warnings.showwarning = _one_line_warning
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
        finally:
            warnings.showwarning = shown


def _one_line_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A warning on the command line: one line ``Warning: …``, without the source file and line."""
    if logging.getLogger("nightlight").isEnabledFor(logging.WARNING):
        click.echo(f"Warning: {message}", err=True)


class DataError(click.ClickException):
    """A failure of the inputs (exit code 1), as opposed to a usage error (exit code 2)."""

    exit_code = 1


@contextmanager
def as_cli_errors() -> Iterator[None]:
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


def scheduler_client(address: str | None, timeout: float = 10.0) -> Any:
    """A dask.distributed client for ``--scheduler`` (an address, or 'local'); else the threaded
    scheduler with a progress bar on terminals."""
    if not address:
        from nightlight.progress import RichDaskProgress

        quiet = not logging.getLogger("nightlight").isEnabledFor(logging.WARNING)
        return RichDaskProgress("nightlight", enabled=False if quiet else None)
    from nightlight.batch.cluster import ClusterSpec, connect

    # 'local': batch's LocalCluster of one in-process worker, closed after the run. ClusterError is a
    # NightlightError: the caller's as_cli_errors makes it one line
    return connect(ClusterSpec(scheduler=None if address == "local" else address, timeout=timeout))


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
@click.option("-v", "--verbose", is_flag=True, help="Say what each stage does and how long it takes.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors: no warnings, no progress bar.")
def main(debug: bool, verbose: bool, quiet: bool) -> None:
    """nightlight: find shrinking cities in night-light mosaics (DMSP-OLS, VIIRS)."""
    logger = logging.getLogger("nightlight")
    logger.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    if verbose and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)


def params_options(exclude: tuple[str, ...] = ()) -> Any:
    """One click option per :class:`nightlight.params.Params` field (``lit_threshold`` → ``--lit-threshold``).

    The options are generated, so the CLI has the library's names, defaults and checks:
    a value is checked by the field's own check as it is parsed (a bad one is a usage
    error naming the option); an option not given keeps the field's default.
    """
    from dataclasses import MISSING, fields

    from nightlight.params import Params, check_param, from_text

    def checked(name: str) -> Any:
        def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
            if value is None:
                return None
            value = from_text(value)
            try:
                check_param(name, value)  # checked as it is parsed; Params converts it ('none' → None)
            except ParameterError as exc:
                raise click.BadParameter(str(exc)) from None
            return value

        return callback

    def decorate(f: Any) -> Any:
        for fld in reversed(fields(Params)):
            if fld.name in exclude:
                continue
            flag, default = "--" + fld.name.replace("_", "-"), fld.default
            text = fld.metadata["help"]
            if isinstance(default, bool):
                if default:
                    f = click.option(f"{flag}/--no-{flag[2:]}", fld.name, default=None, help=text)(f)
                else:
                    f = click.option(flag, fld.name, is_flag=True, default=False, help=text)(f)
                continue
            shown = "" if default in (None, MISSING) else f" [default: {'none' if default is None else default}]"
            f = click.option(flag, fld.name, default=None, callback=checked(fld.name), help=text + shown)(f)
        return f

    return decorate


def given_params(options: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~nightlight.params.Params` fields among a command's options that were given (others: defaults)."""
    from nightlight.params import PARAM_NAMES

    return {k: options.pop(k) for k in list(options) if k in PARAM_NAMES and options[k] is not None}
