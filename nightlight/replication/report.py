"""The replication report: ``catalog/studies/report.md.j2`` (Jinja2) rendered from ``results.json``.

The template is study data beside the study configurations: its prose, its tables (a
``table(rows, spec)`` macro over the records of the results) and the words that depend
on the numbers. This module registers the number formats it uses as filters
(:data:`FILTERS`) and renders it. A key missing from the results is an error naming
its path (``national.study.correction.r2_test``), never a blank or a ``None``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import jinja2

from nightlight._resources import catalog_path
from nightlight.change.patterns import PATTERNS
from nightlight.outputs.write import json_default
from nightlight.replication.params import FIXED, M_PER_DEG_EQUATOR, WINDOWS

#: Blocks of the page included only when their result is in ``results.json``.
OPTIONAL = "national kenya shanghai sensitivity_china sensitivity_shanghai largest provinces_2018_2021 window".split()
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _dash(f: Callable[[Any], str]) -> Callable[[Any], str]:
    """``f``, or ``–`` for a missing value."""
    return lambda v: "–" if _missing(v) else f(v)


def fmt(v: Any) -> str:
    """One table cell: yes/no, thousands separators, 3 significant digits, ``–`` for missing."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return "–" if v is None else str(v)


def _about(m: float) -> str:
    """~ one significant digit: 463 m → ``~500 m``."""
    return f"~{round(m, -int(math.floor(math.log10(abs(m))))):.0f} m" if m else "~0 m"


#: The template's number formats (also the format names of a table spec).
FILTERS: dict[str, Callable[..., Any]] = {
    "fmt": fmt,
    "f": lambda v, spec: None if v is None else format(v, spec),  # a format spec: ``x|f(",.0f")``
    "whole": lambda x: f"{x:,.0f}",  # a count or an area: 53,275
    "pct": lambda x: "–" if _missing(x) or not math.isfinite(x) else f"{100 * x:.1f} %",  # a share: 24.6 %
    "signed_pct": _dash(lambda v: f"{100 * v:+.1f} %"),  # a change: +6.6 %
    "signed_tight": lambda x: f"{100 * x:+.1f}%",
    "pct0": lambda x: f"{100 * x:.0f} %",
    "pctg": lambda x: f"{100 * x:g} %",
    "p": _dash(lambda x: f"{x:.3g}" if x > 0 else "< 1e-300"),  # a p-value
    "odds": _dash(lambda x: "∞" if math.isinf(x) else f"{x:.2f}"),  # ∞: a cell of the 2 × 2 table is empty
    # two decimals: near the −10 % line one decimal would show −10.0 % for −9.99 %
    "change2": _dash(lambda v: f"{100 * v:+.2f} %"),
    "trend": _dash(lambda v: f"{100 * v:+.1f} %/yr"),
    "num": _dash(lambda v: fmt(float(v))),
    "yes": _dash(lambda v: fmt(bool(v))),
    "arrow": lambda s: s.replace("–", "→"),
    "minus": lambda s: s.replace("-", "−"),
    "word": lambda n: _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else f"{n:,}",
    "span": lambda n: FILTERS["word"](n) + " year" + ("" if n == 1 else "s"),
    "distance": lambda m: f"{m / 1000:g} km" if m >= 1000 else f"{m:.0f} m",
    "about": _about,
}


def _get(row: Any, path: str) -> Any:
    """``row[a][b]…`` for ``path`` ``a.b…`` (list items by index); ``None`` when a key is missing."""
    for k in path.split("."):
        if isinstance(row, (list, tuple)):
            row = row[int(k)]
        elif k not in row:
            return None
        else:
            row = row[k]
    return row


def cell(row: Any, key: str, form: str = "") -> str:
    """The table cell ``key`` of ``row`` in ``form`` (a name in :data:`FILTERS` or a format spec)."""
    v = _get(row, key)
    if form in FILTERS:
        v = FILTERS[form](v)
    elif form and v is not None:
        v = format(v, form)
    return fmt(v)


def columns(spec: str | list[str], forms: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """``"header=key|format; …"`` (or a list of keys) → ``(header, key, format)`` per column.

    ``key`` defaults to the header; a column without a format takes it from ``forms``.
    """
    out = []
    for col in spec.split(";") if isinstance(spec, str) else spec:
        head, _, rest = col.strip().partition("=")
        key, _, form = (rest or head).partition("|")
        out.append((key if not rest and "|" in head else head, key, form or (forms or {}).get(key, "")))
    return out


class _Rec(dict):
    """A record of the results that knows where it is (``national.study``), for the error."""

    path = ""


class _Undefined(jinja2.StrictUndefined):
    def __init__(
        self, hint: str | None = None, obj: Any = jinja2.utils.missing, name: str | None = None, exc: Any = None
    ):
        path = getattr(obj, "path", None)
        if name is not None and path is not None:  # a key of a record: name its whole path
            hint = f"report template: {(f'{path}.' if path else '') + name!r} is not in the results"
        elif name is not None and obj is jinja2.utils.missing:
            hint = f"report template: {name!r} is neither in the results nor set by the template"
        super().__init__(hint, obj, name, jinja2.exceptions.UndefinedError)

    def __format__(self, spec: str) -> str:  # a format filter given a missing key: the same error
        self._fail_with_undefined_error()


def _wrap(v: Any, path: str = "") -> Any:
    if isinstance(v, dict):
        rec = _Rec({k: _wrap(x, f"{path}.{k}" if path else str(k)) for k, x in v.items()})
        rec.path = path
        return rec
    if isinstance(v, list):
        return [_wrap(x, f"{path}.{i}") for i, x in enumerate(v)]
    return v


@cache
def template() -> jinja2.Template:
    """``catalog/studies/report.md.j2`` with the filters registered."""
    env = jinja2.Environment(undefined=_Undefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(FILTERS, cell=cell, cols=columns)
    env.tests["missing"] = _missing
    return env.from_string(catalog_path("studies", "report.md.j2").read_text(encoding="utf-8"))


def render_markdown(
    res: dict, *, fig_prefix: str = "replication", command: str = "nightlight replicate --out docs/replication"
) -> str:
    """The replication report (markdown) rendered from ``res``, every number read from it.

    Parameters
    ----------
    res : dict
        The run's results (as :func:`.run.run_replication` returns them, or read back from
        its ``results.json``: the same page); the blocks named in :data:`OPTIONAL` may be absent.
    fig_prefix : str
        The figures' folder as the page links it.
    command : str
        The command line the page says it was generated by.

    Raises
    ------
    jinja2.UndefinedError
        A key the template reads is not in ``res``; the message names its path.
    """
    head = f"{FIXED['china']['headline_base_year']}→{FIXED['china']['target_year']}"
    if head not in res["china"]:
        head = next(iter(res["china"]))
    # as results.json holds them (year keys as strings, NumPy scalars as numbers, tuples as lists):
    # the page rendered during the run is the page rendered later from the file
    res = json.loads(json.dumps(res, default=json_default))
    ctx = {k: None for k in OPTIONAL} | _wrap(res)
    ctx |= {"head": ctx["china"][head], "head_key": head, "command": command, "prefix": fig_prefix}
    ctx |= {"windows": WINDOWS, "patterns": PATTERNS, "m_per_deg": M_PER_DEG_EQUATOR}
    md = template().render(ctx)
    # an absent block (and the template's logic lines) leaves no gap: at most one blank line
    return re.sub(r"\n{3,}", "\n\n", md).strip("\n") + "\n"
