"""Stage 3: natural cities — contiguous lit (or built-up) patches over 5 km², at any scale.

- :mod:`.threshold` — the lit threshold (a number in the mosaic's units or head/tail breaks);
- :mod:`.label` — block labeling + border merge (:func:`label_components`, statistics only);
- :mod:`.components` — :class:`Components`, the result, and its blocks for later passes;
- :mod:`.polygons` — per-block vectorisation dissolved by city id;
- :mod:`.natural` — :func:`extract_natural_cities`, :func:`city_label_raster`.
"""

from nightlight.cities.components import Components
from nightlight.cities.label import CITY_COLUMNS, label_components
from nightlight.cities.natural import city_label_raster, extract_natural_cities
from nightlight.cities.polygons import city_polygons
from nightlight.cities.threshold import Threshold, headtail_breaks

__all__ = [
    "CITY_COLUMNS",
    "Components",
    "Threshold",
    "city_label_raster",
    "city_polygons",
    "extract_natural_cities",
    "headtail_breaks",
    "label_components",
]
