"""Outputs of a decline run written safely: GeoParquet/GeoPackage/CSV tables and the bundle.

Every file is written to a temporary name in the destination folder and renamed
into place (``os.replace``, atomic on one filesystem), so an interrupted run
leaves either the previous file or the complete new one, never half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from nightlight.checkpoint import write_atomic

#: Key of the run metadata in the GeoParquet file's key-value metadata.
METADATA_KEY = b"nightlight"


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars/arrays and paths (anything else → str)."""
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _plain(result: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Copy with columns every format can store (dicts/lists → JSON text), without ``attrs`` (written apart)."""
    out = result.copy()
    out.attrs = {}
    for c in out.columns:
        if c == out.geometry.name or out[c].dtype != object:
            continue
        if out[c].map(lambda v: isinstance(v, (dict, list, tuple))).any():
            out[c] = out[c].map(
                lambda v: json.dumps(v, default=json_default, ensure_ascii=False) if v is not None else None
            )
    return out


# --------------------------------------------------------------------------- writers
def write_geoparquet(result: gpd.GeoDataFrame, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """GeoParquet with ``metadata`` (default ``result.attrs["nightlight"]``) as JSON under key ``nightlight``,
    and each known column's meaning (:mod:`nightlight.outputs.glossary`) as its field's ``description``."""
    import pyarrow.parquet as pq

    from nightlight.outputs.glossary import column_descriptions

    meta = metadata if metadata is not None else result.attrs.get("nightlight", {})
    data = _plain(result)

    def write(tmp: Path) -> None:
        data.to_parquet(tmp, index=False)
        table = pq.read_table(tmp)
        kv = dict(table.schema.metadata or {})
        kv[METADATA_KEY] = json.dumps(meta, default=json_default, ensure_ascii=False).encode()
        described = column_descriptions(table.schema.names)
        schema = table.schema.with_metadata(kv)
        for i, field in enumerate(schema):
            if field.name in described:  # shown by QGIS, pyarrow and parquet-tools as the column's comment
                extra = {**(field.metadata or {}), b"description": described[field.name].encode()}
                schema = schema.set(i, field.with_metadata(extra))
        pq.write_table(table.cast(schema), tmp)

    return write_atomic(Path(path), write)


def read_result(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """A run's table from its folder (``cities.parquet``), a GeoParquet or a GeoPackage, run metadata in ``attrs``.

    Raises
    ------
    InvalidVectorError
        Nothing readable there, or a table without the decline columns (``change``, ``shrinking``,
        ``status``) — e.g. a batch's merged table, whose pairs are in ``decline_<base>_<year>/``.
    """
    from nightlight.errors import InvalidVectorError

    p = Path(path)
    if p.is_dir():
        p = p / "cities.parquet"
    if not p.is_file():
        raise InvalidVectorError(f"{p}: no such file; pass a run's output folder or its cities.parquet / cities.gpkg.")
    try:
        table = gpd.read_parquet(p) if p.suffix == ".parquet" else gpd.read_file(p, engine="pyogrio")
    except Exception as exc:
        raise InvalidVectorError(f"{p}: not a GeoParquet or GeoPackage table of a run ({exc}).") from None
    missing = [c for c in ("change", "shrinking", "status") if c not in table.columns]
    if missing:
        pairs = sorted(x.name for x in p.parent.glob("decline_*") if x.is_dir())
        hint = f"; map a pair instead: {', '.join(str(p.parent / x) for x in pairs)}" if pairs else ""
        raise InvalidVectorError(f"{p}: not a decline table (no {', '.join(missing)} column){hint}.")
    table.attrs["nightlight"] = read_metadata(p) if p.suffix == ".parquet" else {}
    return table


def read_column_descriptions(path: str | os.PathLike) -> dict[str, str]:
    """The column descriptions stored by :func:`write_geoparquet` (column → text)."""
    import pyarrow.parquet as pq

    return {
        f.name: f.metadata[b"description"].decode()
        for f in pq.read_schema(path)
        if f.metadata and b"description" in f.metadata
    }


def read_metadata(path: str | os.PathLike) -> dict:
    """The run metadata stored by :func:`write_geoparquet`."""
    import pyarrow.parquet as pq

    kv = pq.read_schema(path).metadata or {}
    return json.loads(kv[METADATA_KEY]) if METADATA_KEY in kv else {}


def write_geopackage(result: gpd.GeoDataFrame, path: str | os.PathLike, *, layer: str = "cities") -> Path:
    """GeoPackage (one layer)."""
    data = _plain(result)
    return write_atomic(Path(path), lambda tmp: data.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio"))


def write_csv(result: gpd.GeoDataFrame | pd.DataFrame, path: str | os.PathLike, *, geometry: bool = False) -> Path:
    """CSV without geometry (or with WKT when ``geometry=True``)."""
    data = pd.DataFrame(_plain(result) if isinstance(result, gpd.GeoDataFrame) else result)
    if isinstance(result, gpd.GeoDataFrame):
        gname = result.geometry.name
        if geometry:
            data[gname] = result.geometry.to_wkt()
        else:
            data = data.drop(columns=gname)
    return write_atomic(Path(path), lambda tmp: data.to_csv(tmp, index=False))
