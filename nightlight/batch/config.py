"""The batch configuration: one TOML file, validated before any work, errors naming the key and its line.

A configuration (``docs/examples/batch-china.toml`` is a complete one)::

    [inputs]                 # one mosaic per year: paths, URLs or catalog names NAME:KEY
    template = "china-viirslike-8bit:{year}"   # or a [inputs.files] table of year = source
    nodata = "none"          # "file" (as declared), "none", or a number
    units = "nW/cm2/sr"      # or "DN"; default: from the files or the catalog
    align = "average"        # years off the base grid by more than 0.05 px are resampled so
    region = "all"           # or [west, south, east, north] in degrees
    preprocess = "negatives_to_zero"   # step names, as for `detect --preprocess`

    [cities]                 # natural cities of the base year
    lit_threshold = "headtail"
    min_area_km2 = 5.0
    connectivity = 8
    area = "exact"

    [decline]
    base = 2013
    compare = [2014, 2015, 2016]
    min_decline = 0.10       # also min_valid_share, dark_floor, negative_radiance, allow_blank,
                             # allow_common_shift, patterns (shrinkage patterns: true)

    [trend]                  # optional
    years = "2012-2022"      # or a list
    alpha = 0.05

    [run]
    chunks = 2048            # dask chunk edge, px: memory per worker ≈ threads × a few chunks (README)

    [outputs]
    folder = "batch-china"   # `--out` overrides it

Every key of ``[inputs]`` (but ``template``/``files``), ``[cities]``, ``[decline]`` (but
``base``/``compare``) and ``[run]`` is a field of :class:`nightlight.params.Params` — the
same name as the library's keyword and the CLI's option — checked by its one check.
Relative input paths and ``[outputs] folder`` are taken from the configuration file's
folder; the folder must stay inside it (``--out`` overrides it).
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightlight.errors import NightlightError, ParameterError
from nightlight.params import Params, check_fraction, check_param, check_years, param_sections


class ConfigError(ParameterError):
    """The batch configuration is invalid: the message names the file, the key and its line."""


#: Keys of a configuration that are not run parameters, per table (``None``: a table of free keys, the years).
BATCH_KEYS: dict[str, dict[str, Any]] = {
    "inputs": {"template": str, "files": None},
    "decline": {"base": int, "compare": list},
    "trend": {"years": (str, list), "alpha": (int, float)},
    "outputs": {"folder": str},
}
#: TOML types a parameter's value may have (text only where the parameter takes words).
PARAM_TYPES: dict[str, Any] = {
    "nodata": (str, int, float),
    "units": str,
    "band": int,
    "region": (str, list),
    "align": str,
    "preprocess": (str, list),
    "chunks": int,
    "lit_threshold": (str, int, float),
    "min_area_km2": (int, float),
    "connectivity": int,
    "area": str,
    "min_decline": (int, float),
    "min_valid_share": (int, float),
    "dark_floor": (int, float),
    "negative_radiance": str,
    "allow_blank": bool,
    "allow_common_shift": bool,
    "patterns": bool,
    "base_years": (str, list),
    "compare_years": (str, list),
}


def schema() -> dict[str, dict[str, Any]]:
    """Every key a configuration may hold, per table: the run parameters in their tables, and the batch's own."""
    out: dict[str, dict[str, Any]] = {t: dict(keys) for t, keys in BATCH_KEYS.items()}
    for table, names in param_sections().items():
        out.setdefault(table, {}).update({n: PARAM_TYPES[n] for n in names})
    return out


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
    params : Params
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
    params: Params
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
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the configuration as UTF-8."
        ) from None
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
    inp, dec, tr = (raw.get(t, {}) for t in ("inputs", "decline", "trend"))
    base = dec["base"]
    compare = _checked(fail, "decline.compare", check_years, "compare", dec["compare"]) or ()
    if not compare:
        raise fail("decline.compare", "is empty: list the years to compare with the base year, e.g. [2014, 2016].")
    if base in compare:
        raise fail("decline.compare", f"holds the base year {base}: a year compared with itself.")
    trend = _checked(fail, "trend.years", check_years, "years", tr.get("years")) or ()
    if trend and len(trend) < 4:
        raise fail("trend.years", f"{list(trend)}: the Mann–Kendall test needs at least 4 years.")
    if trend and base not in trend:
        raise fail("trend.years", f"{list(trend)} does not hold the base year {base}.")
    needed = sorted({base, *compare, *trend})
    inputs = _inputs(inp, needed, fail, path.parent)
    params = _params(raw, fail)
    alpha = _checked(fail, "trend.alpha", check_fraction, "alpha", tr.get("alpha", 0.05), example="0.10")
    folder = _folder(raw.get("outputs", {}).get("folder"), path.parent, fail)
    return BatchConfig(
        path=path,
        inputs=inputs,
        base=base,
        compare=compare,
        trend_years=trend,
        alpha=alpha,
        params=params,
        out=folder,
        text=text,
    )


def _check_keys(raw: dict, fail: Any) -> None:
    tables = schema()
    for table, value in raw.items():
        if table not in tables:
            raise fail(table, f"unknown table; the configuration has {', '.join(f'[{t}]' for t in tables)}.")
        if not isinstance(value, dict):
            raise fail(table, "must be a table ([name] followed by keys).")
        for key, v in value.items():
            spec = tables[table]
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


def _inputs(inp: dict, needed: list[int], fail: Any, here: Path) -> dict[int, str]:
    files = inp.get("files", {})
    template = inp.get("template")
    if bool(files) == bool(template):
        raise fail("inputs", "give either template = '…{year}…' or an [inputs.files] table of year = source.")
    if template is not None:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        if fields != {"year"}:
            other = sorted(fields - {"year"})
            problem = f"uses {{{other[0]}}}" if other else "has no {year} placeholder"
            raise fail("inputs.template", f"= {template!r} {problem}; the only placeholder is {{year}}.")
    out: dict[int, str] = {}
    for key in files:
        if not re.fullmatch(r"\d{4}", key) or not isinstance(files[key], str):
            raise fail(f"inputs.files.{key}", "keys are years (2013 = 'path/or/url.tif').")
    for y in needed:
        src = template.format(year=y) if template else files.get(str(y))
        if src is None:
            raise fail("inputs.files", f"has no input for {y}, which [decline]/[trend] use. Add {y} = '…'.")
        if not _remote_or_catalog(src):
            src = _relative_to(src, here)
            if not Path(src).exists():
                key = "inputs.template" if template else f"inputs.files.{y}"
                raise fail(key, f"the input of {y}, {src}, does not exist (relative paths are from {here}).")
        out[y] = src
    same = [y for y in needed if list(out.values()).count(out[y]) > 1]
    if same:
        raise fail(
            "inputs.template" if template else "inputs.files",
            f"years {same} all read {out[same[0]]}: every year needs its own mosaic.",
        )
    return out


def _relative_to(src: str, here: Path) -> str:
    """A relative path as written in the configuration: from the configuration's folder."""
    return src if Path(src).is_absolute() else os.path.normpath(here / src)


def _folder(folder: str | None, here: Path, fail: Any) -> Path | None:
    """``[outputs] folder``, inside the configuration's folder (a config never writes elsewhere)."""
    if not folder:
        return None
    if Path(folder).is_absolute() or ".." in Path(folder).parts:
        raise fail(
            "outputs.folder",
            f"= {folder!r}: must be a folder inside the configuration's folder ({here}); "
            "to write elsewhere, pass --out.",
        )
    return here / folder


def _remote_or_catalog(src: str) -> bool:
    return "://" in src or src.startswith("/vsi") or bool(re.fullmatch(r"[A-Za-z][\w.\-]*:[\w.\-]+", src))


def _checked(fail: Any, key: str, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``check(*args, **kwargs)`` (a check of :mod:`nightlight.params`), its error placed at ``key``'s line."""
    try:
        return check(*args, **kwargs)
    except NightlightError as exc:
        raise fail(key, str(exc)) from None


def _params(raw: dict, fail: Any) -> Params:
    """The run parameters of every table, each checked by :class:`Params`'s own check."""
    kw: dict[str, Any] = {}
    for table, names in param_sections().items():
        for name in names:
            if name in raw.get(table, {}):
                kw[name] = _checked(fail, f"{table}.{name}", check_param, name, raw[table][name])
    return Params(**kw)
