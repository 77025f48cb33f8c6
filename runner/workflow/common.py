"""What every workflow command (train, validate, infer) does the same way around its engine."""

from __future__ import annotations

import logging
import os
from typing import Any

from runner import collector
from runner.components.build import Builder
from runner.config.load import LoadedConfig
from runner.determinism import DeterminismSettings, derive_seed, seed_randomizables
from runner.errors import DataMismatchError, MmarRunnerError, RunFailedError
from runner.manifest import file_digest
from runner.workflow.diagnose import ConfigTrace, failure_line
from runner.write_failures import as_write_failure

logger = logging.getLogger(__name__)


def settings_for(loaded: LoadedConfig) -> DeterminismSettings:
    model = loaded.model
    return DeterminismSettings(
        seed=loaded.seed, cudnn_benchmark=model.cudnn_benchmark, tf32=model.tf32, deterministic_algorithms=model.deterministic_algorithms
    )


def pick_device(use_gpu: bool) -> Any:
    import torch

    return torch.device("cuda:0" if use_gpu and torch.cuda.is_available() else "cpu")


def is_engine(trainer: Any) -> bool:
    from ignite.engine import Engine

    return isinstance(trainer, Engine)


def call_user(run: Any, trace: ConfigTrace | None = None) -> None:
    """Run training; a failure in it is one line: the innermost transform and error, the user's file and line.

    With the config's ``trace``, a failure a rule explains names the setting to change and is bad
    input (:class:`DataMismatchError`, exit 2); any other is a :class:`RunFailedError` (exit 1).
    Start-up ends here: the collector runs normally during the loop (:mod:`runner.collector`).
    """
    collector.startup_done()
    try:
        run()
    except MmarRunnerError:
        raise
    except Exception as exc:
        disk = as_write_failure(exc)  # a full or read-only disk, however deep in a handler it surfaced
        if disk is not None:
            raise disk from exc
        message, diagnosis = failure_line(exc, trace)
        raise (DataMismatchError(message) if diagnosis else RunFailedError(message)) from exc


def seed_datasets(builder: Builder, seed: int) -> None:
    for section in ("train", "validate"):
        dataset = builder.built(section, "dataset")
        if dataset is not None:
            count = seed_randomizables(dataset, derive_seed(seed, builder.rank_label(f"{section}.dataset.transforms")))
            logger.debug("%s.dataset: %d random transforms seeded", section, count)


def datalist_digests(builder: Builder) -> dict[str, str]:
    found = {}
    for section in ("train", "validate"):
        spec = builder.spec(section, "dataset")
        if spec is not None and spec.data_list_file_path:
            file, _, _ = builder.datalist_source(section)
            if file.is_file():
                found[section] = file_digest(file)
    return found


def cpus_available() -> int:
    """CPUs this process may run on (its affinity: a container's or taskset's limit), as torch counts them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def note_worker_count(builder: Builder, is_main: bool = True) -> None:
    """Say once when the DataLoaders ask for more workers than there are CPUs (torch would say it per loader).

    The count is the config's: workers decide which random draws each batch gets, so capping them here
    would make the same config train differently on another machine.
    """
    asked = {section: getattr(builder.built(section, "dataloader"), "num_workers", 0) or 0 for section in ("train", "validate")}
    most = max(asked.values())
    cpus = cpus_available()
    if is_main and most > cpus:
        logger.warning("num_workers %d is more than the %d CPU(s) this process may use: data loading may be slow "
                       "(--set num_workers=%d; the count is part of the run, so it is not changed for you)", most, cpus, cpus)
