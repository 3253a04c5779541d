"""The one input boundary: paths, URLs, catalog names or arrays → mosaics on one grid, units known.

Every way in — ``nightlight detect``, ``nightlight batch``, ``nightlight replicate``,
:func:`nightlight.detect_shrinking` and :func:`nightlight.extract_natural_cities` given
paths — goes through :func:`prepare_inputs`, in this order:

1. **open** each source lazily (:func:`nightlight.open_mosaic`; a catalog product's
   local file opened by its path takes the catalog's units and nodata meaning, so the
   same file gives the same numbers by either name);
2. **units**: every mosaic in the same units; one side known and the other not is a
   :class:`~nightlight.errors.UnitsError` unless ``units=`` says what both are;
3. **preprocess**: the same named calibration steps on every mosaic, recorded;
4. **grid**: every mosaic on the first one's grid. Within
   :data:`nightlight.grid.GRID_TOLERANCE_PX` it is *snapped* — the base mosaic's own
   coordinate arrays are assigned, bit for bit, and the offset is recorded; beyond it,
   it is resampled with ``align`` (the one meaning of ``align``: resample only what
   cannot be snapped), lazily or written once to ``aligned_dir``; without ``align``
   it is a :class:`~nightlight.errors.GridMismatchError` naming both files.

The stages below (cities, change) take the arrays this returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from nightlight.errors import GridMismatchError, ParameterError, UnitsError
from nightlight.grid import Grid, snap_to_grid
from nightlight.hashing import fingerprint
from nightlight.io.align import align_to, materialise
from nightlight.io.raster import DEFAULT_CHUNK, open_mosaic, source_identity, source_label
from nightlight.params import check_param
from nightlight.preprocess.steps import apply_steps, parse_steps
from nightlight.units import UNKNOWN


@dataclass
class Inputs:
    """The mosaics of one run, on one grid: ``mosaics[k]`` was opened from ``sources[k]``.

    Attributes
    ----------
    grid : Grid
        The base mosaic's grid (the first source).
    keys : list
        What the caller called each mosaic (``"before"``, a year …).
    names : list of str
        How each mosaic is named in messages and metadata (its path, URL or catalog name).
    mosaics : list of DataArray
        Lazy, preprocessed, on ``grid``; a source given twice (the same object, or the
        same path) is opened once and appears twice.
    units : str
        The common units (``"unknown"`` when no file says and none was given).
    records : list
        Preprocess records per mosaic (None without steps).
    snapped : dict
        name → (dx, dy) origin offset in pixels that snapping re-labelled away.
    resampled : dict
        name → GDAL method, for mosaics resampled onto the grid.
    """

    grid: Grid
    keys: list[Any]
    names: list[str]
    mosaics: list[xr.DataArray]
    units: str
    records: list[Any] = field(default_factory=list)
    snapped: dict[str, tuple[float, float]] = field(default_factory=dict)
    resampled: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: Any) -> xr.DataArray:
        return self.mosaics[self.keys.index(key)]

    def distinct(self) -> list[tuple[str, xr.DataArray]]:
        """(name, mosaic) once per distinct mosaic (a series may reuse before/after)."""
        seen: dict[int, tuple[str, xr.DataArray]] = {}
        for name, da in zip(self.names, self.mosaics):
            seen.setdefault(id(da), (name, da))
        return list(seen.values())

    def record(self) -> dict[str, Any]:
        """What the run metadata keeps of the inputs: names, units, snapped offsets, resampling."""
        return {
            "sources": {str(k): n for k, n in zip(self.keys, self.names)},
            "units": self.units,
            "grid_snapped_px": {k: [round(v[0], 6), round(v[1], 6)] for k, v in self.snapped.items()},
            "resampled": dict(self.resampled),
        }


def prepare_inputs(
    sources: Sequence[Any] | Mapping[Any, Any],
    *,
    nodata: float | str | None = "file",
    units: str | None = None,
    band: int | None = None,
    region: tuple[float, float, float, float] | None = None,
    align: str | None = None,
    preprocess: str | Sequence[Any] | None = None,
    chunks: Any = DEFAULT_CHUNK,
    aligned_dir: str | os.PathLike | None = None,
    allow_repeats: bool = False,
    same_units: bool = True,
) -> Inputs:
    """Open, check units, preprocess and put on one grid every mosaic of a run (see the module docstring).

    Parameters
    ----------
    sources : sequence or mapping
        Paths, URLs, catalog names ``NAME:KEY`` or DataArrays; a mapping keys them
        (e.g. by year). The first is the base: its grid is the run's grid.
    nodata, units, band, region, align, preprocess, chunks
        As in :class:`nightlight.params.Params` (the same names and checks).
    aligned_dir : path, optional
        Write resampled mosaics here once (GeoTIFF, named by a fingerprint of what they
        were resampled from) and read them back, instead of resampling lazily in every pass.
    allow_repeats : bool
        Accept the same source under two keys (a series that repeats before/after);
        otherwise it is a :class:`ParameterError` — comparing a year with itself.
    same_units : bool
        Require one unit for every mosaic (False: a 0/1 built-up mask beside a light mosaic).

    Returns
    -------
    Inputs

    Raises
    ------
    ParameterError
        A source given twice, an unusable option, fewer than one source.
    UnitsError
        Mosaics in different units, or known for some and unknown for others.
    GridMismatchError
        A mosaic off the base grid by more than the tolerance and no ``align``.
    """
    items = list(sources.items()) if isinstance(sources, Mapping) else list(enumerate(sources))
    if not items:
        raise ParameterError("prepare_inputs: no mosaic given; pass at least one path, catalog name or DataArray.")
    # the parameters' own checks, and their normal forms ('none' → None, "W,S,E,N" → a tuple)
    nodata, units, band = check_param("nodata", nodata), check_param("units", units), check_param("band", band)
    region, align = check_param("region", region), check_param("align", align)
    steps = parse_steps(preprocess) if isinstance(preprocess, str) else (list(preprocess) if preprocess else None)
    opened: dict[Any, tuple[str, xr.DataArray]] = {}
    keys, names, mosaics = [], [], []
    for key, src in items:
        ident = source_identity(src)
        label = source_label(src, str(key))
        if ident in opened:
            if not allow_repeats:
                first = next(k for k, s in items if source_identity(s) == ident)
                raise ParameterError(
                    f"{label} is given twice ({first!r} and {key!r}): the run would compare a mosaic with itself. "
                    "Pass a different file for each year."
                )
            label, da = opened[ident]
        else:
            da = open_mosaic(src, chunks=chunks, nodata=nodata, units=units, band=band, region=region)
            opened[ident] = (label, da)
        keys.append(key)
        names.append(label)
        mosaics.append(da)
    common_units = _common_units(names, mosaics, given=units) if same_units else str(units or UNKNOWN)
    records: list[Any] = [None] * len(mosaics)
    if steps:
        done: dict[int, tuple[xr.DataArray, Any]] = {}
        for k, da in enumerate(mosaics):
            if id(da) not in done:
                done[id(da)] = apply_steps(da, steps)
            mosaics[k], records[k] = done[id(da)]
    inputs = Inputs(Grid.of(mosaics[0], name=names[0]), keys, names, mosaics, common_units, records)

    def uncropped(k: int) -> xr.DataArray:
        # a year to be resampled is read beyond the region, so the edge pixels get their whole footprint
        da = open_mosaic(items[k][1], chunks=chunks, nodata=nodata, units=units, band=band)
        return apply_steps(da, steps)[0] if steps else da

    _on_base_grid(inputs, align, aligned_dir, uncropped if region is not None else None)
    return inputs


def _common_units(names: list[str], mosaics: list[xr.DataArray], *, given: str | None) -> str:
    units = [str(da.attrs.get("units", UNKNOWN)) for da in mosaics]
    known = sorted({u for u in units if u != UNKNOWN})
    listing = "; ".join(f"{n}: {u}" for n, u in dict(zip(names, units)).items())
    if len(known) > 1:
        raise UnitsError(
            f"the mosaics are in different units ({listing}). A DN-vs-radiance comparison reads as a huge decline "
            "or growth. Harmonize them first (nightlight.preprocess.harmonize, steps 'intercalibrate', "
            "'calibration'), or compare years of one sensor; if a file's units are mislabelled, pass units=."
        )
    if known and UNKNOWN in units and given is None:
        raise UnitsError(
            f"the units of some mosaics are unknown ({listing}): a value of one could not be compared with a value "
            f"of the other. If every mosaic is in {known[0]}, say so: units={known[0]!r} (CLI --units {known[0]})."
        )
    return known[0] if known else UNKNOWN


def _on_base_grid(
    inputs: Inputs, align: str | None, aligned_dir: str | os.PathLike | None, uncropped: Any = None
) -> None:
    base = inputs.mosaics[0]
    done: dict[int, xr.DataArray] = {id(base): base}
    for k in range(1, len(inputs.mosaics)):
        da, name = inputs.mosaics[k], inputs.names[k]
        if id(da) in done:
            inputs.mosaics[k] = done[id(da)]
            continue
        try:
            moved, off = snap_to_grid(da, base, names=(inputs.names[0], name))
            if off is not None:
                inputs.snapped[name] = (off.dx_px, off.dy_px)
        except GridMismatchError:
            if not align:
                raise
            moved = align_to(uncropped(k) if uncropped else da, base, resampling=align)
            if aligned_dir is not None:
                moved = _written_once(moved, Path(aligned_dir), name, align, base, inputs.units)
            inputs.resampled[name] = align
        done[id(da)] = inputs.mosaics[k] = moved


def _written_once(
    moved: xr.DataArray, folder: Path, name: str, align: str, base: xr.DataArray, units: str
) -> xr.DataArray:
    """``moved`` written once into ``folder`` and opened from there (named by what it was made from)."""
    folder.mkdir(parents=True, exist_ok=True)
    stat = os.stat(name) if os.path.isfile(name) else None  # an edited file is another source
    made_from = {"source": getattr(moved.data, "name", name), "file": stat and [stat.st_size, stat.st_mtime_ns]}
    key = fingerprint({**made_from, "align": align, "grid": Grid.of(base).describe()})
    path = folder / f"{Path(name).stem.replace(':', '_')}_{align}_{key[:16]}.tif"
    if not path.exists():  # else written whole by an earlier run (materialise renames atomically)
        materialise(moved, path)
    out = open_mosaic(
        str(path), chunks=(base.chunks[0][0], base.chunks[1][0]) if base.chunks else None, nodata="file", units=units
    )
    out, _ = snap_to_grid(out, base)  # bit-identical coordinates with the base
    return out


def open_series(
    source: str | Sequence[Any] | Mapping[Any, Any],
    years: Sequence[int] | None = None,
    *,
    base: int | None = None,
    **options: Any,
) -> xr.DataArray:
    """A lazy ``(time, y, x)`` stack of yearly mosaics on one grid, through :func:`prepare_inputs`.

    Parameters
    ----------
    source : str, sequence or mapping
        A catalog product name (``"china-viirslike-8bit"``, with ``years``), a path or
        name template with ``{year}`` (``"VNL_{year}.tif"``), a list of sources (with
        ``years``) or a mapping ``{year: source}``.
    years : sequence of int, optional
        The years (required for a product name, a template or a list).
    base : int, optional
        The year whose grid the others are put on (default: the first year).
    **options
        ``nodata``, ``units``, ``band``, ``region``, ``align``, ``preprocess``, ``chunks``
        as in :class:`nightlight.params.Params`, and ``aligned_dir``.

    Returns
    -------
    xarray.DataArray
        ``(time, y, x)``, ``time`` the years, sorted; ``attrs["inputs"]`` what
        :meth:`Inputs.record` says (sources, units, snapped offsets, resampling).
        :func:`nightlight.detect_shrinking` takes it as a series, and its
        ``.nightlight`` accessor runs the stages on it (:mod:`nightlight.accessor`).
    """
    if isinstance(source, Mapping):
        items = dict(source)
    else:
        if years is None:
            raise ParameterError("open_series: pass years=[…] with a product name, a template or a list of sources.")
        if isinstance(source, str):
            template = source if "{year}" in source else f"{source}:{{year}}"
            items = {int(y): template.format(year=y) for y in years}
        else:
            if len(source) != len(years):
                raise ParameterError(f"open_series: {len(source)} sources but {len(years)} years; give one per year.")
            items = dict(zip(years, source))
    if len(items) < 1:
        raise ParameterError("open_series: no year given.")
    first = base if base is not None else sorted(items)[0]
    if first not in items:
        raise ParameterError(f"open_series: base={base!r} is not one of the years {sorted(items)}.")
    ordered = {first: items[first], **{y: items[y] for y in sorted(items) if y != first}}
    inputs = prepare_inputs(ordered, **options)
    stack = xr.concat([inputs[y] for y in sorted(items)], dim="time", coords="minimal", compat="override")
    stack = stack.assign_coords(time=sorted(items))
    stack.attrs = {k: v for k, v in inputs[first].attrs.items() if k in ("units", "_FillValue")}
    stack.attrs["inputs"] = inputs.record()
    stack.name = "light"
    return inputs.grid.georeference(stack)
