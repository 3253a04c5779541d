"""What a batch job did, as it did it: a JSON-lines run log, stage lines on the console, a stage bar.

Every line of ``run.jsonl`` (beside the outputs; appended by every run, so a killed
run's stages stay on record) is one JSON object with ``time`` (UTC, ISO 8601),
``run_id`` and ``event``:

* ``start`` / ``finish`` / ``failed``: the run (config hash, client, error);
* ``stage``: ``stage`` name, ``seconds``, ``blocks_computed`` / ``blocks_loaded``
  (block tasks of the checkpointed map passes run now, or loaded from an earlier
  run), ``blocks_rejected`` (checkpoint files found unusable and redone), ``tasks``
  (dask tasks the scheduler finished during the stage, counted by a scheduler plugin;
  null without a distributed client), and ``peak_rss_mb``: the peak
  resident memory of the driver and of every worker process so far
  (``resource.getrusage``, MB).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from rich.console import Console
from rich.progress import Progress, TaskID

from nightlight.checkpoint import CheckpointStore
from nightlight.progress import peak_rss_mb, progress_bar

PLUGIN = "nightlight-task-counter"


class TaskCounter(SchedulerPlugin):
    """A dask scheduler plugin counting tasks that finished (processing → memory)."""

    name = PLUGIN

    def __init__(self) -> None:
        self.done = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "processing" and finish == "memory":
            self.done += 1


def _tasks_done(dask_scheduler: Any) -> int | None:
    plugin = dask_scheduler.plugins.get(PLUGIN)
    return None if plugin is None else int(plugin.done)


def _pid_and_peak() -> tuple[int, float]:
    return os.getpid(), peak_rss_mb()


class RunLog:
    """Append events to ``path`` and show stages on ``console`` (a bar when it is a terminal)."""

    def __init__(self, path: Path, *, run_id: str, n_stages: int, client: Any = None, console: Console | None = None):
        self.path = Path(path)
        self.run_id = run_id
        self.client = client
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.stages: list[dict] = []
        self._bar: Progress | None = progress_bar(self.console) if sys.stderr.isatty() else None
        self._task: TaskID | None = None
        self._n_stages = n_stages

    def tasks_done(self) -> int | None:
        """Tasks the cluster's scheduler finished since the plugin was added (None without one)."""
        if self.client is None:
            return None
        try:
            done = self.client.run_on_scheduler(_tasks_done)
            if done is None:  # first call: add the plugin (the scheduler must import nightlight, as workers do)
                self.client.register_plugin(TaskCounter())
                done = self.client.run_on_scheduler(_tasks_done)
            return None if done is None else int(done)
        except Exception:  # a scheduler that cannot take the plugin: the log says null, the job goes on
            return None

    def __enter__(self) -> RunLog:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("batch", total=self._n_stages)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def event(self, event: str, **fields: Any) -> dict:
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run_id": self.run_id, "event": event}
        rec.update(fields)
        with open(self.path, "a") as f:
            f.write(json.dumps(rec, default=str) + "\n")
        return rec

    def memory(self) -> dict[str, float]:
        """Peak RSS (MB) of the driver and of every worker process of the client (not of in-process workers)."""
        out = {"driver": round(peak_rss_mb(), 1)}
        if self.client is not None:
            try:
                for addr, (pid, mb) in self.client.run(_pid_and_peak).items():
                    if pid != os.getpid():  # an in-process worker is the driver's memory
                        out[str(addr)] = round(float(mb), 1)
            except Exception as exc:  # a worker lost mid-call: the log says so, the job goes on
                out["workers_error"] = str(exc)  # type: ignore[assignment]
        return out

    @contextmanager
    def _stage_bar(self, name: str, tasks0: int | None) -> Iterator[None]:
        """On a terminal with a cluster: the stage's finished tasks, counted live (polled twice a second)."""
        if self._bar is None or tasks0 is None:
            yield
            return
        task = self._bar.add_task(f"  {name}: tasks", total=None)
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.5):
                done = self.tasks_done()
                if done is not None and self._bar is not None:
                    self._bar.update(task, completed=done - tasks0)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._bar.remove_task(task)

    @contextmanager
    def stage(self, name: str, store: CheckpointStore | None = None) -> Iterator[dict]:
        """Time a stage; on success log it with its block counts and memory."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=name)
        before = store.counts() if store is not None else {"loaded": 0, "computed": 0, "rejected": 0}
        tasks0 = self.tasks_done()
        t0 = time.perf_counter()
        extra: dict = {}
        with self._stage_bar(name, tasks0):
            yield extra
        seconds = time.perf_counter() - t0
        after = store.counts() if store is not None else before
        tasks1 = self.tasks_done()
        rec = self.event(
            "stage",
            stage=name,
            seconds=round(seconds, 2),
            blocks_computed=after["computed"] - before["computed"],
            blocks_loaded=after["loaded"] - before["loaded"],
            blocks_rejected=after["rejected"] - before["rejected"],
            tasks=None if tasks0 is None or tasks1 is None else tasks1 - tasks0,
            peak_rss_mb=self.memory(),
            **extra,
        )
        self.stages.append(rec)
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
        loaded = f", {rec['blocks_loaded']} blocks from checkpoints" if rec["blocks_loaded"] else ""
        if rec["blocks_rejected"]:
            loaded += f", {rec['blocks_rejected']} unusable checkpoints redone"
        self.console.print(f"  {name}: {seconds:.1f} s ({rec['blocks_computed']} blocks computed{loaded})")
