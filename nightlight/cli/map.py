"""``nightlight map RESULT``: map.html and map.png of an existing result (a run's folder or table)."""

from __future__ import annotations

from pathlib import Path

import click

from nightlight.cli.group import FOLDER, as_cli_errors, console, main


@main.command(name="map")
@click.argument("result", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    default=None,
    type=FOLDER,
    help="Folder for map.html and map.png (default: the result's folder).",
)
@click.option(
    "--outlines",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Country/region polygons (any vector file with a CRS) drawn as outlines on both maps.",
)
@click.option("--title", default=None, help="Title of both maps (default: how many classified cities shrank).")
@click.option("--no-basemap", is_flag=True, help="No OpenStreetMap tiles in map.html (they load only when online).")
def map_command(result: Path, out: Path | None, outlines: str | None, title: str | None, no_basemap: bool) -> None:
    """map.html (interactive, opens offline) and map.png of RESULT: a run's folder, cities.parquet or cities.gpkg."""
    from nightlight.outputs.figures import plot_map
    from nightlight.outputs.webmap import write_webmap
    from nightlight.outputs.write import read_result

    with as_cli_errors():
        table = read_result(result)
        folder = out or (result if result.is_dir() else result.parent)
        folder.mkdir(parents=True, exist_ok=True)
        html = write_webmap(table, folder / "map.html", title=title, outlines=outlines, basemap=not no_basemap)
        png = plot_map(table, folder / "map.png", title=title, outlines=outlines)
    console.print(f"wrote {html} and {png} ({len(table)} cities)")
