"""One parameter set for every way in: the library, ``nightlight detect`` and the batch TOML.

:class:`Params` is the only place a run parameter is named, defaulted and validated.
The CLI options are generated from its fields (:func:`nightlight.cli.params.params_options`:
``lit_threshold`` → ``--lit-threshold``) and a batch configuration's keys are its field
names, grouped in the TOML tables its fields declare (``[cities] lit_threshold``). The
library functions take the same keyword names and call the same checks
(:func:`check_param`), so ``--dark-floor nan``, ``dark_floor = nan`` and
``detect_shrinking(dark_floor=float("nan"))`` fail with one message.

Renamed in 0.1 (no aliases: never released): ``threshold_lit``/``extract_natural_cities(threshold=)``
→ ``lit_threshold``; ``decline``/``detect_shrinking(threshold=)``/TOML ``[decline] threshold`` →
``min_decline``; ``detect_shrinking(shapes=)`` → ``patterns``; TOML ``[preprocess] steps`` →
``[inputs] preprocess``; ``[region] bbox`` → ``[inputs] region``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from nightlight.area import AREA_MODES
from nightlight.errors import NightlightError, ParameterError
from nightlight.io.align import ALIGN_METHODS
from nightlight.io.raster import DEFAULT_CHUNK
from nightlight.preprocess.steps import parse_steps
from nightlight.units import DN, RADIANCE

#: Chunks smaller than this make more dask tasks than they save (overhead ~1 ms a task).
MIN_CHUNK = 64
#: What the decline test does with negative values (VIIRS radiance noise around darkness).
NEGATIVE_POLICIES = ("keep", "zero", "nan")
UNITS = (RADIANCE, DN)
#: 0.8: a fifth of a city missing in some year leaves the change measured on a part
#: that need not represent the whole (an edge lost to a swath gap is not random).
MIN_VALID_SHARE = 0.8

Threshold = float | Literal["headtail"] | None
Region = tuple[float, float, float, float]


def _fail(name: str, value: Any, problem: str) -> ParameterError:
    return ParameterError(f"{name}={value!r}: {problem}")


def _number(name: str, value: Any, example: str, *, text: bool = False) -> float:
    """``value`` as a finite float (text only where ``text``); else :class:`ParameterError`."""
    if isinstance(value, bool) or value is None or (isinstance(value, (str, bytes)) and not text):
        raise _fail(name, value, f"must be a number, e.g. {example}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _fail(name, value, f"must be a number, e.g. {example}.") from None
    if not math.isfinite(v):
        raise _fail(name, value, f"must be a finite number, e.g. {example}.")
    return v


def check_fraction(name: str, value: Any, *, example: str, closed: bool = False) -> float:
    """``value`` as a float in (0, 1) (``[0, 1]`` when ``closed``), else :class:`ParameterError`."""
    if isinstance(value, (str, bytes)):
        raise _fail(name, value, f"must be a number (not text), e.g. {example}.")
    v = _number(name, value, example)
    if not (0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0):
        raise _fail(name, value, f"must be {'between' if closed else 'strictly between'} 0 and 1, e.g. {example}.")
    return v


def check_lit_threshold(value: Any, name: str = "lit_threshold") -> float | Literal["headtail"]:
    """``"headtail"`` (Jiang's head/tail breaks), or a lit level > 0 in the mosaic's units."""
    if value == "headtail":
        return "headtail"
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise _fail(name, value, "use a number (DN or nW/cm²/sr) or 'headtail'.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _fail(name, value, "use a number (DN or nW/cm²/sr) or 'headtail'.") from None
    if not v > 0 or not math.isfinite(v):  # also NaN
        raise _fail(
            name,
            value,
            "a lit threshold must be a finite number > 0 in the mosaic's units — at ≤ 0 every pixel is lit and "
            "the whole mosaic becomes one city; NaN lights nothing. For a built-up mask pass mask=.",
        )
    return v


def _choice(options: tuple[Any, ...]) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in options:
            raise _fail(name, value, f"use one of {', '.join(map(str, options))}.")
        return value

    return check


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else check(name, value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, value, "must be true or false.")
    return value


def _nodata(name: str, value: Any) -> float | str | None:
    if value in ("file", None):
        return value
    if value == "none":
        return None
    return _number(name, value, "'file' (as declared), 'none' (every value is data) or -999")


def _region(name: str, value: Any) -> Region | None:
    if value is None or value == "all":
        return None
    parts = value.split(",") if isinstance(value, str) else value
    hint = "four numbers WEST,SOUTH,EAST,NORTH in degrees, e.g. 120.8,30.6,122.2,31.9"
    try:
        w, s, e, n = (_number(name, v, hint, text=True) for v in parts)
    except (TypeError, ValueError):
        raise _fail(name, value, hint + ".") from None
    if not (w < e and s < n):
        raise _fail(name, value, "WEST must be < EAST and SOUTH < NORTH (degrees).")
    return w, s, e, n


def _preprocess(name: str, value: Any) -> str | None:
    if value is None or value == "" or value == []:
        return None
    text = ",".join(value) if isinstance(value, (list, tuple)) else value
    if not isinstance(text, str):
        raise _fail(name, value, "name calibration steps, e.g. 'negatives_to_zero,noise_floor=0.6'.")
    try:
        parse_steps(text)  # a bad step name fails here, before any work
    except NightlightError as exc:
        raise _fail(name, value, str(exc)) from None
    return text


def _int_at_least(lowest: int, example: str) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        v = _number(name, value, example)
        if not v.is_integer() or v < lowest:
            raise _fail(name, value, f"must be a whole number ≥ {lowest}, e.g. {example}.")
        return int(v)

    return check


def _above_zero(example: str, *, or_zero: bool = False) -> Callable[[str, Any], float]:
    """A number > 0 (≥ 0 with ``or_zero``)."""

    def check(name: str, value: Any) -> float:
        v = _number(name, value, example)
        if v < 0 or (v == 0 and not or_zero):
            raise _fail(name, value, f"must be {'≥' if or_zero else '>'} 0, e.g. {example}.")
        return v

    return check


def check_years(name: str, value: Any) -> tuple[int, ...] | None:
    """Distinct whole years, sorted: a list, or text ``"2012,2013"`` / ``"2012-2013"`` (a range)."""
    if value is None or value == "" or value == []:
        return None
    hint = "years like [2012, 2013] (TOML), '2012,2013' or '2012-2013' (CLI)"
    if isinstance(value, str) and "-" in value.strip("-"):
        first, _, last = value.partition("-")
        lo, hi = (_number(name, v, hint, text=True) for v in (first, last))
        if not (lo.is_integer() and hi.is_integer() and lo <= hi):
            raise _fail(name, value, f"a range FIRST-LAST of whole years, FIRST ≤ LAST, e.g. {hint}.")
        return tuple(range(int(lo), int(hi) + 1))
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    years = [_number(name, v, hint, text=True) for v in parts]
    if not all(y.is_integer() for y in years) or len(set(years)) != len(years):
        raise _fail(name, value, f"distinct whole years, e.g. {hint}.")
    return tuple(sorted(int(y) for y in years))


def _param(section: str, check: Callable[[str, Any], Any], help: str, default: Any) -> Any:
    return field(default=default, metadata={"section": section, "check": check, "help": help})


@dataclass(frozen=True)
class Params:
    """Every parameter of a run, validated when made (:class:`~nightlight.errors.ParameterError`).

    ``section`` (in each field's metadata) is the batch TOML table that holds the key.

    Attributes
    ----------
    nodata : float, "file" or None
        Which value means "no data": ``"file"`` as declared, None (CLI/TOML ``none``)
        every value is data, or a number.
    units : {"nW/cm2/sr", "DN"} or None
        Units of every mosaic (default: from the files or the catalog).
    band : int or None
        1-based band of every file (None: band 1, with a warning when a file has several).
    region : (west, south, east, north) or None
        Crop to this lon/lat box, degrees (None/``"all"``: the whole mosaic).
    align : str or None
        GDAL method that resamples a year onto the base grid when it is more than
        :data:`nightlight.grid.GRID_TOLERANCE_PX` off it (within it, the year is snapped).
        None: such a year is an error.
    preprocess : str or None
        Calibration steps applied to every year (:func:`nightlight.preprocess.parse_steps`).
    chunks : int
        Dask chunk edge, pixels.
    lit_threshold : float or "headtail"
        Lit level in the mosaic's units, or Jiang's head/tail breaks.
    min_area_km2 : float
        Natural cities are larger than this true (ellipsoidal) area, km² (Jiang et al. 2020: 5).
    connectivity : {8, 4}
    area : {"exact", "pyproj", "nominal"}
        Ground-area rule (:mod:`nightlight.area`).
    min_decline : float in (0, 1)
        Relative decline of total light that counts as shrinking (0.10 = 10 %).
    min_valid_share : float in [0, 1]
        Least share of a city's pixels valid in every year; below it ``partial_data``.
    dark_floor : float or None
        Mean base-year value below which a city is ``too_dark`` (default by units).
    negative_radiance : {"keep", "zero", "nan"}
    allow_blank, allow_common_shift : bool
        Accept a blank mosaic; accept nearly all cities moving together.
    patterns : bool
        Classify the shrinkage pattern of shrinking cities.
    base_years, compare_years : tuple of int or None
        With a yearly series (a batch's ``[trend] years``): compare the mean light of these
        years instead of two single years (:mod:`nightlight.change.significance`). The
        natural cities still come from the batch's ``[decline] base`` year, which may lie
        outside both periods (an extent not selected on the base years' own noise).
    """

    nodata: float | str | None = _param(
        "inputs", _nodata, "Nodata value: 'file' (as declared), 'none' (every value is data), or a number.", "file"
    )
    units: str | None = _param(
        "inputs", _optional(_choice(UNITS)), "Units of every mosaic (default: from the files or the catalog).", None
    )
    band: int | None = _param(
        "inputs",
        _optional(_int_at_least(1, "1")),
        "Band of every file (1-based; default 1, said when there are more).",
        None,
    )
    region: Region | None = _param(
        "inputs", _region, "Crop to WEST,SOUTH,EAST,NORTH in degrees (also picks tiles of tiled products).", None
    )
    align: str | None = _param(
        "inputs",
        _optional(_choice(ALIGN_METHODS)),
        "Resample a year that is more than 0.05 px off the base grid with this method ('average' keeps totals).",
        None,
    )
    preprocess: str | None = _param(
        "inputs", _preprocess, "Calibration steps for every year, e.g. 'negatives_to_zero,noise_floor=0.6'.", None
    )
    chunks: int = _param(
        "run", _int_at_least(MIN_CHUNK, "2048"), f"Dask chunk edge in pixels (≥ {MIN_CHUNK}).", DEFAULT_CHUNK
    )
    lit_threshold: float | Literal["headtail"] = _param(
        "cities",
        lambda name, v: check_lit_threshold(v, name),
        "Lit level in the mosaic's units (> 0), or 'headtail' (Jiang's head/tail breaks).",
        "headtail",
    )
    min_area_km2: float = _param("cities", _above_zero("5"), "Natural cities are larger than this (km², > 0).", 5.0)
    connectivity: int = _param(
        "cities", lambda n, v: _choice((4, 8))(n, _int_at_least(4, "8")(n, v)), "Pixel connectivity: 8 or 4.", 8
    )
    area: Literal["exact", "pyproj", "nominal"] = _param(
        "cities", _choice(AREA_MODES), "Ground-area rule: exact, pyproj or nominal.", "exact"
    )
    min_decline: float = _param(
        "decline",
        lambda n, v: check_fraction(n, v, example="0.10 for the 10 % rule of Jiang et al. 2020"),
        "Relative decline of total light that counts as shrinking, in (0, 1).",
        0.10,
    )
    min_valid_share: float = _param(
        "decline",
        lambda n, v: check_fraction(n, v, example="0.8", closed=True),
        "Least share of a city's area inside the raster and valid in every year; below it status=partial_data.",
        MIN_VALID_SHARE,
    )
    dark_floor: float | None = _param(
        "decline",
        _optional(_above_zero("1e-6 (any light at all) or 0.5 nW/cm²/sr", or_zero=True)),
        "Cities whose mean base-year value is below this are too_dark (default by units: 0.5 nW/cm²/sr, 7 DN).",
        None,
    )
    negative_radiance: str = _param(
        "decline",
        _choice(NEGATIVE_POLICIES),
        "Negative values: summed as they are (keep), set to 0 (zero), or dropped from every year (nan).",
        "keep",
    )
    allow_blank: bool = _param("decline", _flag, "Accept a mosaic without any light (else an error).", False)
    allow_common_shift: bool = _param(
        "decline", _flag, "Accept nearly all cities moving together beyond min_decline (else an error).", False
    )
    patterns: bool = _param("decline", _flag, "Classify the shrinkage pattern of shrinking cities.", True)
    base_years: tuple[int, ...] | None = _param(
        "decline",
        check_years,
        "With a yearly series: compare the mean light of these years (e.g. 2012,2013) instead of the base year.",
        None,
    )
    compare_years: tuple[int, ...] | None = _param(
        "decline",
        check_years,
        "With a yearly series: the years whose mean light is compared with base_years' (e.g. 2016,2017).",
        None,
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, f.metadata["check"](f.name, getattr(self, f.name)))

    def replace(self, **changes: Any) -> Params:
        """A copy with ``changes``, validated (unknown names are a :class:`ParameterError`)."""
        unknown = sorted(set(changes) - set(PARAM_NAMES))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {unknown}; the parameters are {', '.join(PARAM_NAMES)}.")
        return replace(self, **changes)

    def options(self, *sections: str) -> dict[str, Any]:
        """The fields of these TOML tables by name: the keywords of the phase that takes them
        (``"inputs", "run"``: :func:`~nightlight.preprocess.inputs.prepare_inputs`; ``"cities"``:
        :func:`~nightlight.cities.natural.extract_natural_cities`; ``"decline"``: ``detect_shrinking``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["section"] in sections}


PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Params))


def from_text(value: str) -> Any:
    """A command-line value as the parameters take it: a number where the text is one, else the text."""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def check_param(name: str, value: Any) -> Any:
    """``value`` checked (and normalised) as the parameter ``name`` is — for library keyword arguments."""
    return next(f for f in fields(Params) if f.name == name).metadata["check"](name, value)


def param_sections() -> dict[str, tuple[str, ...]]:
    """TOML table → the parameter names it holds."""
    out: dict[str, list[str]] = {}
    for f in fields(Params):
        out.setdefault(f.metadata["section"], []).append(f.name)
    return {k: tuple(v) for k, v in out.items()}
