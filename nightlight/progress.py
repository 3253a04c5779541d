"""What a run shows while it works: stage names, a progress bar, peak memory.

Long jobs (a global mosaic) should show that they move; batch logs (CI, SLURM) should
not fill with bar redraws, so the bar is shown only when stderr is a terminal. On a
``dask.distributed`` cluster use the dashboard instead: callbacks do not see its tasks.

:func:`stage` names what the pipeline is doing: the bar is labelled with it, and the
``nightlight`` logger says when it starts and ends (``nightlight -v`` shows them).
"""

from __future__ import annotations

import logging
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dask.callbacks import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

log = logging.getLogger("nightlight")
#: The stage the pipeline is in (a display label; nothing computes differently under it).
_current_stage: list[str] = []


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Label the computations inside with ``name`` (progress bar, INFO log of start and duration)."""
    _current_stage.append(name)
    t0 = time.perf_counter()
    log.info("%s …", name)
    try:
        yield
    finally:
        _current_stage.pop()
        log.info("%s done in %.1f s", name, time.perf_counter() - t0)


def progress_bar(console: Console) -> Progress:
    """The one bar layout of the package: stage label, bar, done/total, elapsed time; erased when stopped."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


class RichDaskProgress(Callback):
    """Counts finished dask tasks of each ``compute`` and draws them as one bar."""

    def __init__(self, description: str = "computing", *, enabled: bool | None = None):
        super().__init__()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.description = description
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self):
        if self.enabled:
            self._progress = progress_bar(Console(stderr=True))
            self._progress.start()
        return super().__enter__()

    def __exit__(self, *args):
        if self._progress is not None:
            self._progress.stop()
        return super().__exit__(*args)

    def _start_state(self, dsk, state):
        if self._progress is None:
            return
        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        with self._lock:
            label = _current_stage[-1] if _current_stage else self.description
            self._task = self._progress.add_task(label, total=total)

    def _posttask(self, key, result, dsk, state, worker_id):
        if self._progress is not None and self._task is not None:
            with self._lock:
                self._progress.advance(self._task)


def peak_rss_mb(*, children: bool = False) -> float:
    """This process's peak resident memory since it started, MiB (``ru_maxrss``; Linux reports KiB).

    Parameters
    ----------
    children
        Also look at the waited-for child processes and return the larger of the two
        peaks (``nightlight bench`` runs peers that may start their own processes).
    """
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if children:
        kib = max(kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return kib / 1024.0
