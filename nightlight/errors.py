"""Exception hierarchy: every error names the file or argument, the problem and the fix.

Modelled on rioxarray (``RioXarrayError`` → ``MissingCRS`` …): callers can catch
:class:`NightlightError` for anything this library raises on purpose, or a specific
subclass. Each subclass also derives from the built-in it refines (``ValueError``,
``OSError``) so generic handlers keep working.
"""

from __future__ import annotations


class NightlightError(Exception):
    """Base class of every error nightlight raises on purpose."""


class MissingCRSError(NightlightError, ValueError):
    """A raster or a vector layer has no coordinate reference system."""


class GridMismatchError(NightlightError, ValueError):
    """Two rasters that must share one pixel grid do not (CRS, transform or shape)."""


class InvalidRasterError(NightlightError, OSError):
    """A file cannot be read as a raster (not a raster, truncated, corrupt)."""


class InvalidVectorError(NightlightError, ValueError):
    """A vector input is empty, unreadable or has unusable geometries."""


class UnsupportedCRSError(NightlightError, ValueError):
    """A CRS on which ground area cannot be computed the way the caller asked."""


class UnitsError(NightlightError, ValueError):
    """Values that do not look like the unit the caller claims (DN vs radiance)."""


class CatalogError(NightlightError, KeyError):
    """An unknown product, satellite-year or model; the message lists what exists."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class FitError(NightlightError, ValueError):
    """A calibration fit cannot be made (too few valid pixels, no convergence)."""


class ParameterError(NightlightError, ValueError):
    """A parameter is out of range or of the wrong type; raised before any work is done."""


class BlankMosaicError(NightlightError, ValueError):
    """A mosaic holds no light at all (all zero or all nodata): a broken or blank year, not darkness."""


class ProductChangeError(NightlightError, ValueError):
    """Nearly all cities moved together by more than the decline threshold: a product change, not shrinking."""


class ImplausibleValueError(NightlightError, ValueError):
    """A mosaic holds values no night-light product produces (undeclared nodata, wrong units)."""
