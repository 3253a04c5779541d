"""The STAC Item written beside manifest.json lists the same files, sizes and checksums."""

from __future__ import annotations

import hashlib
import json

import pystac
import pytest

from nightlight.outputs.folder import MANIFEST_NAME, OutputFolder


def test_item_lists_the_published_set(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, run={"command": "detect", "before": "a:2013", "after": "a:2016"}) as folder:
        (folder.staging / "summary.csv").write_text("city_id,decline\n1,0.2\n")
        (folder.staging / "map.png").write_bytes(b"\x89PNG fake")
        (folder.staging / "map.html").write_text("<html></html>")
        (folder.staging / "cities.gpkg").write_bytes(b"SQLite format 3\x00")
        folder.publish()
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    item = pystac.Item.from_file(str(out / "item.json"))
    assert item.id == manifest["run_id"] and item.geometry is None
    assert item.properties["nightlight:before"] == "a:2013"
    assert set(item.assets) == {"summary.csv", "map.png", "map.html", "cities.gpkg"}
    csv = item.assets["summary.csv"]
    data = (out / "summary.csv").read_bytes()
    assert csv.roles == ["data"] and csv.media_type == "text/csv"
    assert csv.extra_fields["file:size"] == len(data)
    assert csv.extra_fields["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()  # sha2-256 multihash
    assert item.assets["map.png"].roles == ["overview"]
    assert item.assets["map.html"].roles == ["overview"] and item.assets["map.html"].media_type == "text/html"
    assert item.assets["cities.gpkg"].media_type == "application/geopackage+sqlite3"
    assert (out / csv.href).resolve() == (out / "summary.csv").resolve()
    # a second run with fewer files: the item follows the new manifest
    with OutputFolder(out) as folder:
        (folder.staging / "summary.csv").write_text("city_id,decline\n")
        folder.publish()
    assert set(pystac.Item.from_file(str(out / "item.json")).assets) == {"summary.csv"}


@pytest.mark.slow
def test_a_detect_item_carries_the_footprint_and_the_data_period(tmp_path):
    """Old: geometry null and the run's time as its datetime."""
    from nightlight.pipeline import run_detect
    from nightlight.synthetic import make_world

    world = make_world(seed=3, bounds=(12.0, 45.0, 13.0, 46.0))
    files = world.write_geotiffs(tmp_path / "w")
    first, last = world.years[0], world.years[-1]
    run_detect(str(files[first]), str(files[last]), tmp_path / "o", lit_threshold=world.lit_threshold)
    item = pystac.Item.from_file(str(tmp_path / "o" / "item.json"))
    w, s, e, n = item.bbox
    assert abs(w - 12.0) < 1e-6 and abs(s - 45.0) < 1e-6 and abs(e - 13.0) < 1e-6 and abs(n - 46.0) < 1e-6
    assert item.geometry["type"] == "Polygon"
    assert item.datetime is None
    assert item.properties["start_datetime"].startswith(f"{first}-01-01")
    assert item.properties["end_datetime"].startswith(f"{last}-12-31")
    assert "nightlight:finished" in item.properties
