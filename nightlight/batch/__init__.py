"""Batch jobs: one TOML configuration over many years, on a dask cluster, resumable (``nightlight batch``).

* :mod:`.config`: the configuration file, validated (errors name the key and its line);
* :mod:`.cluster`: where it computes (an existing scheduler, SLURM/PBS, this machine);
* :mod:`.state`: whose output folder it is (config hash, input checksums, versions);
* :mod:`.runlog`: the JSON-lines run log and the stage bar;
* :mod:`.run`: the job, phase by phase, on :mod:`nightlight.pipeline`.
"""

from nightlight.batch.config import BatchConfig, ConfigError, load_config
from nightlight.batch.run import BatchResult, run_batch

__all__ = ["BatchConfig", "BatchResult", "ConfigError", "load_config", "run_batch"]
