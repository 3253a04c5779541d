"""A rich progress bar for dask computations on the local scheduler (stderr, terminals only).

Long jobs (a global mosaic) should show that they move; batch logs (CI, SLURM) should
not fill with bar redraws, so the bar is shown only when stderr is a terminal. On a
``dask.distributed`` cluster use the dashboard instead: callbacks do not see its tasks.
"""

from __future__ import annotations

import resource
import sys
import threading

from dask.callbacks import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


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
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
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
            self._task = self._progress.add_task(self.description, total=total)

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
