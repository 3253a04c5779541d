"""A STAC Item describing one run's output folder, written beside ``manifest.json`` (``item.json``).

The item's id is the run id; its geometry the mosaics' lon/lat footprint; its time the
period of the data (``start_datetime``/``end_datetime``: 1 January of the first year to
31 December of the last), or the time the run finished when the years are not known
(``nightlight:finished`` holds that time either way). Each published file is an asset
(href relative to the folder, ``file:size`` and ``file:checksum`` as a SHA-256 multihash,
a role from its extension); the command, inputs and parameters are ``nightlight:*``
properties.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from nightlight.io.stac import box_geometry, year_span

ITEM_NAME = "item.json"
STAC_FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
#: extension → (media type, role) of an asset; other files are "data" of no declared type.
_KINDS = {
    ".parquet": ("application/vnd.apache.parquet", "data"),
    ".gpkg": ("application/geopackage+sqlite3", "data"),
    ".csv": ("text/csv", "data"),
    ".png": ("image/png", "overview"),
    ".html": ("text/html", "overview"),
    ".json": ("application/json", "metadata"),
    ".md": ("text/markdown", "metadata"),
}


def run_item(manifest: dict[str, Any]) -> dict[str, Any]:
    """The STAC Item (as a dict, validated by building it with pystac) of a run's manifest."""
    import pystac

    finished = manifest.get("finished")
    try:
        when = dt.datetime.strptime(str(finished), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        when = dt.datetime.now(dt.UTC)
    props = {
        f"nightlight:{k}": manifest[k]
        for k in ("command", "before", "after", "parameters", "nightlight_version", "status_counts")
        if k in manifest
    }
    props["nightlight:finished"] = when.isoformat()
    box = manifest.get("footprint")
    period = manifest.get("period")
    times: dict[str, Any] = {"datetime": when}
    if period:
        start, end = year_span(*period)
        times = {"datetime": None, "start_datetime": start, "end_datetime": end}
    item = pystac.Item(
        id=str(manifest.get("run_id", "run")),
        geometry=box_geometry(*box) if box else None,
        bbox=list(box) if box else None,
        properties=json.loads(json.dumps(props, default=str)),
        stac_extensions=[STAC_FILE],
        **times,
    )
    for name, info in sorted(manifest.get("files", {}).items()):
        media_type, role = _KINDS.get(Path(name).suffix.lower(), (None, "data"))
        item.add_asset(
            name,
            pystac.Asset(
                href=f"./{name}",
                media_type=media_type,
                roles=[role],
                extra_fields={"file:size": info.get("bytes"), "file:checksum": "1220" + str(info.get("sha256"))},
            ),
        )
    return item.to_dict(include_self_link=False, transform_hrefs=False)
