"""Old flat module names (nightlight ≤ 0.1: ``nightlight.calibrate``, ``nightlight.zonal`` …).

The package was reorganised into one subpackage per pipeline stage. Code written
against the old names keeps working: importing an old name gives the new module
(the same object, so monkeypatching and ``isinstance`` behave) with a
``DeprecationWarning`` that names the new place.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

#: old module → new module (the map in the README, "Old module names").
MOVED = {
    "nightlight.align": "nightlight.io.align",
    "nightlight.vector": "nightlight.io.vector",
    "nightlight.calibrate": "nightlight.preprocess",
    "nightlight.harmonize": "nightlight.preprocess.harmonize",
    "nightlight.denoise": "nightlight.preprocess.denoise",
    "nightlight.composite": "nightlight.preprocess.composite",
    "nightlight.zonal": "nightlight.change.zonal",
    "nightlight.decline": "nightlight.change.decline",
    "nightlight.trend": "nightlight.change.trend",
    "nightlight.shape": "nightlight.change.patterns",
    "nightlight.report": "nightlight.outputs",
    "nightlight.synth": "nightlight.synthetic",
    "nightlight.validate": "nightlight.synthetic.validate",
    "nightlight.replicate": "nightlight.replication",
    "nightlight.kernels.calibrate": "nightlight.kernels.pixel",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; import it from there (the old name will go in nightlight 0.3).",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module is the already-executed new one: running it again would
        # re-create its classes and break isinstance checks. The import system has
        # just stamped the old name's spec on it; give it its own back.
        module.__spec__ = self._spec


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
