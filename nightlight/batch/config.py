"""The batch configuration: one TOML file, validated before any work, errors naming the key and its line.

A configuration (``docs/examples/batch-china.toml`` is a complete one)::

    [inputs]                 # one mosaic per year: paths, URLs or catalog names NAME:KEY
    template = "../shared/data/china-viirslike-15s/{year}_8bit.tif"   # or a [inputs.files] table
    nodata = "none"          # "file" (as declared), "none", or a number
    units = "nW/cm2/sr"      # or "DN"; default: from the files
    align = "average"        # years off the base grid by more than 0.05 px are resampled so

    [preprocess]
    steps = "negatives_to_zero"   # nightlight.preprocess step names, as for `detect --preprocess`

    [region]
    bbox = "all"             # or [west, south, east, north] in degrees

    [cities]                 # natural cities of the base year
    threshold_lit = "headtail"
    min_area_km2 = 5.0
    connectivity = 8
    area = "exact"

    [decline]
    base = 2013
    compare = [2014, 2015, 2016]
    threshold = 0.10         # also min_valid_share, dark_floor, negative_radiance, allow_blank,
                             # allow_common_shift, patterns (shrinkage patterns: true)

    [trend]                  # optional
    years = "2012-2022"      # or a list
    alpha = 0.05

    [run]
    chunks = 2048            # dask chunk edge, px: memory per worker ≈ threads × a few chunks (README)

    [outputs]
    folder = "batch-china"   # `--out` overrides it

Relative paths are taken from the directory the command runs in (the README runs the
example from the repository root).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightlight.change.inputs import NEGATIVE_POLICIES, check_fraction
from nightlight.cities.threshold import check_threshold
from nightlight.errors import NightlightError, ParameterError
from nightlight.io.align import ALIGN_METHODS
from nightlight.pipeline import DetectParams
from nightlight.preprocess.steps import parse_steps


class ConfigError(ParameterError):
    """The batch configuration is invalid: the message names the file, the key and its line."""


#: Every key a configuration may hold, per table (``None``: a table of free keys, the years).
SCHEMA: dict[str, dict[str, Any]] = {
    "inputs": {"template": str, "files": None, "nodata": (str, int, float), "units": str, "align": str},
    "preprocess": {"steps": (str, list)},
    "region": {"bbox": (str, list)},
    "cities": {"threshold_lit": (str, int, float), "min_area_km2": (int, float), "connectivity": int, "area": str},
    "decline": {
        "base": int,
        "compare": list,
        "threshold": (int, float),
        "min_valid_share": (int, float),
        "dark_floor": (int, float),
        "negative_radiance": str,
        "allow_blank": bool,
        "allow_common_shift": bool,
        "patterns": bool,
    },
    "trend": {"years": (str, list), "alpha": (int, float)},
    "run": {"chunks": int},
    "outputs": {"folder": str},
}
REQUIRED = {"inputs": (), "decline": ("base", "compare")}


@dataclass(frozen=True)
class BatchConfig:
    """A validated batch configuration.

    Attributes
    ----------
    path : Path
        The TOML file.
    inputs : dict
        Year → source (path, URL or catalog name) of every year the run reads.
    base, compare : int, tuple of int
        The base year (its natural cities) and the years compared with it.
    trend_years : tuple of int
        Years of the trend test (empty: no trend test).
    alpha : float
        Significance level of the Mann–Kendall test.
    params : DetectParams
        Everything else, as ``nightlight detect`` takes it (the same pipeline runs).
    out : Path or None
        Output folder of the file (``--out`` overrides it).
    text : str
        The file as read (written beside the outputs).
    """

    path: Path
    inputs: dict[int, str]
    base: int
    compare: tuple[int, ...]
    trend_years: tuple[int, ...]
    alpha: float
    params: DetectParams
    out: Path | None
    text: str = field(repr=False)

    @property
    def years(self) -> list[int]:
        """Every year the run reads, base first."""
        rest = sorted({*self.compare, *self.trend_years} - {self.base})
        return [self.base, *rest]

    def record(self) -> dict[str, Any]:
        """What the run computes, JSON-able (the output folder is not part of it)."""
        from dataclasses import asdict

        return {
            "inputs": {str(y): s for y, s in sorted(self.inputs.items())},
            "base": self.base,
            "compare": list(self.compare),
            "trend_years": list(self.trend_years),
            "alpha": self.alpha,
            "params": asdict(self.params),
        }


class _Lines:
    """Line numbers of the keys of a TOML text (tomllib gives values only)."""

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        table = ""
        for n, line in enumerate(text.splitlines(), start=1):
            s = line.split("#", 1)[0].strip() if not line.lstrip().startswith(("'", '"')) else line.strip()
            if m := re.match(r"^\[([^\]]+)\]$", s):
                table = m.group(1).strip()
                self.lines.setdefault(table, n)
            elif m := re.match(r"^([A-Za-z0-9_\-\"']+)\s*=", s):
                key = m.group(1).strip("\"'")
                self.lines.setdefault(f"{table}.{key}" if table else key, n)

    def at(self, key: str) -> str:
        n = self.lines.get(key) or self.lines.get(key.rsplit(".", 1)[0])
        return f"line {n}" if n else "not in the file"


def load_config(path: str | os.PathLike) -> BatchConfig:
    """Read and validate a batch configuration (:class:`ConfigError` names the key and its line)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror or exc}).") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the syntax at that line.") from None
    lines = _Lines(text)

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{path}, {lines.at(key)}: [{key}] {problem}")

    _check_keys(raw, fail)
    inp, dec, cit, tr = (raw.get(t, {}) for t in ("inputs", "decline", "cities", "trend"))
    base = dec["base"]
    compare = tuple(_years(dec["compare"], "decline.compare", fail))
    if not compare:
        raise fail("decline.compare", "is empty: list the years to compare with the base year, e.g. [2014, 2016].")
    if base in compare:
        raise fail("decline.compare", f"holds the base year {base}: a year compared with itself.")
    trend = tuple(_years(tr.get("years", []), "trend.years", fail)) if "trend" in raw else ()
    if trend and len(trend) < 4:
        raise fail("trend.years", f"{list(trend)}: the Mann–Kendall test needs at least 4 years.")
    if trend and base not in trend:
        raise fail("trend.years", f"{list(trend)} does not hold the base year {base}.")
    needed = sorted({base, *compare, *trend})
    inputs = _inputs(inp, needed, fail)
    params = _params(raw, inp, cit, dec, fail)
    alpha = _fraction(tr.get("alpha", 0.05), "trend.alpha", fail)
    folder = raw.get("outputs", {}).get("folder")
    return BatchConfig(
        path=path,
        inputs=inputs,
        base=base,
        compare=compare,
        trend_years=trend,
        alpha=alpha,
        params=params,
        out=Path(folder) if folder else None,
        text=text,
    )


def _check_keys(raw: dict, fail: Any) -> None:
    for table, value in raw.items():
        if table not in SCHEMA:
            raise fail(table, f"unknown table; the configuration has {', '.join(f'[{t}]' for t in SCHEMA)}.")
        if not isinstance(value, dict):
            raise fail(table, "must be a table ([name] followed by keys).")
        for key, v in value.items():
            spec = SCHEMA[table]
            if key not in spec:
                raise fail(f"{table}.{key}", f"unknown key; [{table}] takes {', '.join(spec)}.")
            kind = spec[key]
            if kind is None:
                if not isinstance(v, dict):
                    raise fail(f"{table}.{key}", "must be a table of year = source.")
            elif not isinstance(v, kind) or (isinstance(v, bool) and kind in (int, (int, float))):
                want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                raise fail(f"{table}.{key}", f"= {v!r}: expected {want}.")
    for table, keys in REQUIRED.items():
        if table not in raw:
            raise fail(table, f"is missing; add a [{table}] table.")
        for key in keys:
            if key not in raw[table]:
                raise fail(f"{table}.{key}", "is missing.")


def _years(value: Any, key: str, fail: Any) -> list[int]:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{4})\s*-\s*(\d{4})\s*", value)
        if not m or int(m.group(1)) > int(m.group(2)):
            raise fail(key, f"= {value!r}: write a span as 'YYYY-YYYY' (e.g. '2012-2022') or a list of years.")
        return list(range(int(m.group(1)), int(m.group(2)) + 1))
    if not all(isinstance(y, int) and not isinstance(y, bool) for y in value):
        raise fail(key, f"= {value!r}: years must be integers.")
    if len(set(value)) != len(value):
        raise fail(key, f"= {value!r}: a year is listed twice.")
    return sorted(value)


def _inputs(inp: dict, needed: list[int], fail: Any) -> dict[int, str]:
    files = inp.get("files", {})
    template = inp.get("template")
    if bool(files) == bool(template):
        raise fail("inputs", "give either template = '…{year}…' or an [inputs.files] table of year = source.")
    if template is not None and "{year}" not in template:
        raise fail("inputs.template", f"= {template!r} has no {{year}} placeholder.")
    out: dict[int, str] = {}
    for key in files:
        if not re.fullmatch(r"\d{4}", key) or not isinstance(files[key], str):
            raise fail(f"inputs.files.{key}", "keys are years (2013 = 'path/or/url.tif').")
    for y in needed:
        src = template.format(year=y) if template else files.get(str(y))
        if src is None:
            raise fail("inputs.files", f"has no input for {y}, which [decline]/[trend] use. Add {y} = '…'.")
        if not _remote_or_catalog(src) and not Path(src).exists():
            key = "inputs.template" if template else f"inputs.files.{y}"
            raise fail(key, f"the input of {y}, {src}, does not exist (relative paths are from {os.getcwd()}).")
        out[y] = src
    return out


def _remote_or_catalog(src: str) -> bool:
    return "://" in src or src.startswith("/vsi") or bool(re.fullmatch(r"[A-Za-z][\w.\-]*:[\w.\-]+", src))


def _fraction(value: Any, key: str, fail: Any, *, closed: bool = False) -> float:
    try:
        return check_fraction(key, value, example="0.10", closed=closed)
    except ParameterError as exc:
        raise fail(key, str(exc)) from None


def _params(raw: dict, inp: dict, cit: dict, dec: dict, fail: Any) -> DetectParams:
    kw: dict[str, Any] = {}
    try:
        kw["threshold_lit"] = check_threshold(cit.get("threshold_lit", "headtail"))
    except NightlightError as exc:
        raise fail("cities.threshold_lit", str(exc)) from None
    if (a := cit.get("min_area_km2", 5.0)) <= 0:
        raise fail("cities.min_area_km2", f"= {a}: must be > 0 km².")
    kw["min_area_km2"] = float(a)
    if (c := cit.get("connectivity", 8)) not in (4, 8):
        raise fail("cities.connectivity", f"= {c}: use 4 or 8.")
    kw["connectivity"] = c
    if (area := cit.get("area", "exact")) not in ("exact", "pyproj", "nominal"):
        raise fail("cities.area", f"= {area!r}: use 'exact', 'pyproj' or 'nominal'.")
    kw["area"] = area
    kw["decline"] = _fraction(dec.get("threshold", 0.10), "decline.threshold", fail)
    kw["min_valid_share"] = _fraction(dec.get("min_valid_share", 0.8), "decline.min_valid_share", fail, closed=True)
    if "dark_floor" in dec:
        kw["dark_floor"] = float(dec["dark_floor"])
    if (neg := dec.get("negative_radiance", "keep")) not in NEGATIVE_POLICIES:
        raise fail("decline.negative_radiance", f"= {neg!r}: use one of {', '.join(NEGATIVE_POLICIES)}.")
    kw["negative_radiance"] = neg
    kw["allow_blank"] = dec.get("allow_blank", False)
    kw["allow_common_shift"] = dec.get("allow_common_shift", False)
    kw["patterns"] = dec.get("patterns", True)
    nodata = inp.get("nodata", "file")
    if isinstance(nodata, str) and nodata not in ("file", "none"):
        raise fail("inputs.nodata", f"= {nodata!r}: 'file', 'none' or a number such as -999.")
    kw["nodata"] = None if nodata == "none" else nodata
    if (units := inp.get("units")) is not None and units not in ("nW/cm2/sr", "DN"):
        raise fail("inputs.units", f"= {units!r}: 'nW/cm2/sr' or 'DN'.")
    kw["units"] = units
    if (align := inp.get("align")) is not None and align not in ALIGN_METHODS:
        raise fail("inputs.align", f"= {align!r}: one of {', '.join(ALIGN_METHODS)}.")
    kw["align"] = align
    steps = raw.get("preprocess", {}).get("steps")
    if steps:
        steps = ",".join(steps) if isinstance(steps, list) else steps
        try:
            parse_steps(steps)
        except NightlightError as exc:
            raise fail("preprocess.steps", str(exc)) from None
        kw["preprocess"] = steps
    bbox = raw.get("region", {}).get("bbox", "all")
    if bbox != "all":
        ok = isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)
        if not ok or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            raise fail("region.bbox", f"= {bbox!r}: 'all' or [west, south, east, north] in degrees, west < east.")
        kw["region"] = tuple(float(v) for v in bbox)
    chunks = raw.get("run", {}).get("chunks", DetectParams().chunks)
    if chunks < 64:
        raise fail("run.chunks", f"= {chunks}: at least 64 px (1024–4096 suit most machines).")
    kw["chunks"] = chunks
    return DetectParams(**kw)
