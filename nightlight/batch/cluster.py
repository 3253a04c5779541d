"""Where a batch job computes: an existing dask.distributed cluster, a SLURM/PBS job cluster, or this machine.

* ``scheduler="tcp://HOST:PORT"``: connect to a running cluster (``dask scheduler`` +
  ``dask worker``s); no answer within ``timeout`` s is one clear error, never a hang;
* ``kind="slurm"|"pbs"``: a ``dask_jobqueue`` cluster of ``workers`` jobs of ``cores``
  cores and ``memory`` each (``pip install 'nightlight[cluster]'``); with ``dry_run``
  its job script is returned and nothing is submitted;
* ``kind="local"`` (default): a ``LocalCluster`` sized to the machine — one worker
  with a thread per core, in this process (the numba kernels release the GIL, so
  threads share the block results without pickling them between processes: on the
  national China series a worker *process* made the stages 2–3× slower), with the
  machine's memory; ``workers > 1`` starts that many worker processes instead.

Memory per worker is bounded by ``threads × (a few chunks)``: size chunks so that
``threads × 8 × chunk² × 8 bytes`` fits the worker's memory (README, "Batch jobs").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nightlight.errors import NightlightError, ParameterError

KINDS = ("local", "slurm", "pbs")


class ClusterError(NightlightError):
    """The cluster cannot be reached or built."""


@dataclass(frozen=True)
class ClusterSpec:
    """How to get workers (see the module docstring)."""

    scheduler: str | None = None
    kind: str = "local"
    workers: int = 1
    cores: int | None = None
    memory: str | None = None
    timeout: float = 10.0
    walltime: str = "04:00:00"
    queue: str | None = None
    account: str | None = None

    def describe(self) -> str:
        if self.scheduler:
            return f"scheduler {self.scheduler}"
        return f"{self.kind} cluster, {self.workers} worker(s) × {self.cores or os.cpu_count()} core(s)"


def _jobqueue(spec: ClusterSpec) -> Any:
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(
            f"--cluster {spec.kind} needs dask-jobqueue: pip install 'nightlight[cluster]' (or dask-jobqueue)."
        ) from None
    if spec.cores is None or spec.memory is None:
        raise ParameterError(
            f"--cluster {spec.kind}: give --cores and --memory of one job (e.g. --cores 8 --memory 32GB)."
        )
    cls = dask_jobqueue.SLURMCluster if spec.kind == "slurm" else dask_jobqueue.PBSCluster
    kwargs: dict[str, Any] = {
        "cores": spec.cores,
        "memory": spec.memory,
        "processes": 1,  # one worker process per job, threads per core: the kernels release the GIL
        "walltime": spec.walltime,
        "scheduler_options": {"dashboard_address": ":8787"},
    }
    if spec.queue:
        kwargs["queue"] = spec.queue
    if spec.account:
        kwargs["account"] = spec.account
    return cls(**kwargs)


def job_script(spec: ClusterSpec) -> str:
    """The job script a SLURM/PBS cluster would submit per worker (nothing is submitted)."""
    if spec.kind not in ("slurm", "pbs"):
        raise ParameterError(f"--dry-run prints a job script for --cluster slurm|pbs, not {spec.kind!r}.")
    cluster = _jobqueue(spec)
    try:
        return str(cluster.job_script())
    finally:
        cluster.close()


@contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``; closes what it started."""
    from dask.distributed import Client, LocalCluster

    if spec.kind not in KINDS:
        raise ParameterError(f"--cluster {spec.kind!r}: use one of {', '.join(KINDS)}.")
    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout=spec.timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"--scheduler {spec.scheduler}: no dask scheduler answered within {spec.timeout:g} s "
                f"({type(exc).__name__}). Check the address and that `dask scheduler` runs there, raise "
                "--scheduler-timeout, or omit --scheduler to run on this machine."
            ) from None
        with client:
            yield client
        return
    if spec.kind == "local":
        threads = spec.cores or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=threads,
            processes=spec.workers > 1,
            memory_limit=spec.memory or "auto",
            dashboard_address=":0",
        )
    else:
        cluster = _jobqueue(spec)
        cluster.scale(jobs=spec.workers)
    with cluster, Client(cluster) as client:
        yield client
