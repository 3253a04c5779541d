"""Every case of ``nightlight bench``, by name (the order of the table)."""

from __future__ import annotations

import importlib

from nightlight.bench import e2e, label, nogil, pixel, zonal
from nightlight.bench.harness import Case

CASES: dict[str, Case] = {c.name: c for c in (*label.CASES, *zonal.CASES, *pixel.CASES, *e2e.CASES, *nogil.CASES)}


def get_case(name: str) -> Case:
    """A case by name, or ``package.module:attribute`` for a case defined elsewhere (tests, your own)."""
    if ":" in name:
        mod, _, attr = name.partition(":")
        case = getattr(importlib.import_module(mod), attr)
        if not isinstance(case, Case):
            raise TypeError(f"{name}: is a {type(case).__name__}, not a nightlight.bench.harness.Case")
        return case
    try:
        return CASES[name]
    except KeyError:
        raise KeyError(f"no benchmark case {name!r}; the cases are {', '.join(CASES)}") from None


def runs_in(case: Case, mode: str) -> bool:
    """Whether a case is part of a mode's suite: ``full`` is the default suite plus its own cases."""
    return mode in case.sizes or (mode == "full" and "default" in case.sizes)


def select(mode: str, only: list[str] | tuple[str, ...] | None = None) -> list[Case]:
    """The cases of a mode; ``only``: names or name prefixes (``calib`` selects every ``calib-*``), any mode."""
    if not only:
        return [c for c in CASES.values() if runs_in(c, mode)]
    picked = []
    for key in only:
        hits = [c for c in CASES.values() if c.name == key or c.name.startswith(key)]
        if not hits and ":" in key:
            hits = [get_case(key)]
        if not hits:
            raise KeyError(f"--only {key}: no such case; the cases are {', '.join(CASES)}")
        picked += [c for c in hits if c not in picked]
    return picked
