"""The study configurations in ``catalog/studies/``, run by the batch engine.

A study is a batch configuration (:mod:`nightlight.batch.config`) whose inputs are
catalog names; ``nightlight replicate`` runs it with :func:`run_study` (optionally
cropped to a window or with a parameter changed, e.g. the calibrated lit level) and
the report builder reads what the batch run wrote and returned.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from nightlight._resources import catalog_path
from nightlight.batch.config import BatchConfig, load_config
from nightlight.batch.run import BatchResult, run_batch
from nightlight.errors import ParameterError


def load_study(name: str) -> BatchConfig:
    """The study configuration ``catalog/studies/<name>.toml``, validated."""
    path = Path(str(catalog_path("studies", f"{name}.toml")))
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.toml"))
        raise ParameterError(f"{path}: no such study configuration; the catalog has {', '.join(known)}.")
    return load_config(path)


def variant(config: BatchConfig, *, trend: bool = True, **params: Any) -> BatchConfig:
    """``config`` with some :class:`~nightlight.pipeline.DetectParams` fields replaced (and no trend)."""
    new = dataclasses.replace(config.params, **params) if params else config.params
    return dataclasses.replace(config, params=new, trend_years=config.trend_years if trend else ())


def run_study(config: BatchConfig, work: Path, name: str) -> tuple[BatchResult, dict[str, float]]:
    """Run ``config`` into ``work/name`` (resumable: a rerun loads its checkpoints); its stages' seconds."""
    t0 = time.perf_counter()
    result = run_batch(config, work / name, overwrite=True)
    seconds = {r["stage"]: float(r["seconds"]) for r in result.stages}
    seconds["total"] = round(time.perf_counter() - t0, 2)
    return result, seconds
