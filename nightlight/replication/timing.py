"""Wall time per named phase, peak RSS and machine load of a part of the replication run.

The peak resident memory of *one part* is measured by resetting the kernel's
high-water mark at the part's start (``/proc/self/clear_refs``, Linux ≥ 4.0) and
reading ``VmHWM`` at its end; where that is not possible the process's
``ru_maxrss`` (a peak since the process started) is reported and said so.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The highest process peak seen before a reset of the kernel's high-water mark (MiB).
_PEAK_BEFORE_RESETS = [0.0]


def process_peak_rss_mb() -> float:
    """Peak RSS of the process since it started, MiB: ``ru_maxrss``, and the peaks seen before any reset."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, _PEAK_BEFORE_RESETS[0])


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024.0
    except (OSError, StopIteration):
        return None


def _reset_peak() -> bool:
    _PEAK_BEFORE_RESETS[0] = process_peak_rss_mb()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak RSS := current RSS
        return True
    except OSError:
        return False


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


class Phases:
    """Time named phases of one part of the run; its own peak RSS; the load before and after.

    ``with phases("cities"): ...`` adds the phase's wall seconds (phases may repeat:
    seconds add up). :meth:`record` returns what the report quotes.
    """

    def __init__(self, *, own_peak: bool = True) -> None:
        #: the process peak before this part (the reset below lowers what ru_maxrss reports later)
        self.process_peak_before_mb = process_peak_rss_mb()
        self.own_peak = _reset_peak() if own_peak else False
        self.seconds: dict[str, float] = {}
        self.load_start = _load()
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t

    def record(self) -> dict[str, Any]:
        """Phases (s), wall (s), CPU (s, all threads), peak RSS (MiB) and how it was measured, load averages."""
        hwm = _vm_hwm_mb() if self.own_peak else None
        return {
            "phases_s": {k: round(v, 2) for k, v in self.seconds.items()},
            "wall_s": round(time.perf_counter() - self._t0, 2),
            "cpu_s": round(time.process_time() - self._cpu0, 2),
            "peak_rss_mb": round(hwm if hwm is not None else process_peak_rss_mb()),
            "peak_rss_scope": "this part" if hwm is not None else "process since start",
            "load_start": self.load_start,
            "load_end": _load(),
            "cpu_count": os.cpu_count(),
            "process_peak_before_mb": round(self.process_peak_before_mb),
        }
