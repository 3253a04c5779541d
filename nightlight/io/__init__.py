"""Stage 1, in: open mosaics lazily on one grid, read polygons, align grids explicitly.

- :mod:`.raster` — :func:`open_mosaic` (GeoTIFF/COG, local or remote → dask-chunked
  DataArray, nodata → NaN);
- :mod:`.zones` — the pixels of zones (pixel-traced or by pixel centre) and their values;
- :mod:`.blocks` — one read task per chunk (nodata, plausibility check, errors naming file and block);
- :mod:`.remote` — GDAL HTTP timeouts and retries; URLs → GDAL virtual paths;
- :mod:`.vector` — :func:`read_polygons` (any OGR format or a CSV with WKT, validated, ids checked);
- :mod:`.align` — :func:`align_to` (lazy block-wise reprojection, never implicit);
- :mod:`.catalog`, :mod:`.resolve`, :mod:`.download`, :mod:`.stac` — product names
  (``"NAME:YEAR"``) → local files, remote COGs or a verified download cache; listings; STAC.
"""

# the names used from the package (the rest: from their modules)
from nightlight.io.raster import verify_readable

__all__ = ["verify_readable"]
