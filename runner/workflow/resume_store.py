"""Which resume checkpoint a restarted run continues from, if any, and whether it may.

A checkpoint is continued only by a run with the same inputs: the config (after variables and
``--set``), every file of ``custom/``, each section's datalist, and the bytes of every data file
the datalists name (the data digest). A restart after an edit in custom/ or in the data would
otherwise train on with new inputs and call itself completed; it is refused (exit 2) with what
changed (``the data changed: N files, first PATH``, from the per-file list the interrupted run
left beside its manifest), and ``mmar train --fresh`` starts from the beginning instead. A
checkpoint written before runs recorded a data digest is continued, with a warning that its data
could not be checked.

A checkpoint that cannot be used (cut short by a full disk or a kill, written by something else,
or missing part of what a restore needs) is skipped for the one before it, and the log says
truthfully which one is used, or that training starts from the beginning. A file that holds more
than plain data is refused (exit 2): see :mod:`runner.workflow.resume`.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.data.content_digest import DATA_FILES_NAME, DataDigest, compare
from runner.errors import MmarRunnerError, first_line

logger = logging.getLogger(__name__)

RESUME_DIR = "resume"
# 3: the run's inputs (config, custom/ files, datalists) decide who may continue; 4: the world size too, and
# every rank's RNG states (rank r continues from its own)
FORMAT = "mmar-resume/4"
REQUIRED = ("inputs", "epoch", "iteration", "epoch_length", "position", "model", "optimizer", "lr_scheduler", "scaler",
            "rng_by_rank", "record", "evaluator", "savers")
FRESH_HINT = "mmar train --fresh starts from the beginning (the resume checkpoints are removed); undo the changes to continue"


@dataclass(frozen=True)
class Found:
    path: Path
    payload: dict[str, Any]


@dataclass(frozen=True)
class RunInputs:
    """What a run's numbers come from, as a resume checkpoint records it."""

    config_digest: str
    custom_files: dict[str, str] = field(default_factory=dict)  # path under custom/ -> sha256
    datalists: dict[str, str] = field(default_factory=dict)  # section -> sha256 of its datalist file
    world_size: int = 1  # processes: each rank trains its own share of the data with its own RNGs
    data: DataDigest | None = None  # the data files' digest; the checkpoint keeps its summary, the list stays beside the manifest

    def as_data(self) -> dict[str, Any]:
        return {"config_digest": self.config_digest, "custom_files": dict(self.custom_files), "datalists": dict(self.datalists),
                "world_size": self.world_size,
                "data": {**self.data.summary(), "list": DATA_FILES_NAME} if self.data is not None else None}

    def changes_since(self, stored: Mapping[str, Any], config_file: str, folder: Path | None = None) -> list[str]:
        """What differs from the inputs ``stored`` in a checkpoint, one phrase each; empty when the same.

        ``folder``: where the checkpointed run's per-file data list is, to name the files that changed.
        """
        changes = self._data_change(stored.get("data"), folder)
        if stored.get("config_digest") != self.config_digest:
            changes.append(f"{config_file} (with its variables and --set values) changed")
        before = stored.get("custom_files") or {}
        for name in sorted(set(before) | set(self.custom_files)):
            if name not in self.custom_files:
                changes.append(f"custom/{name} was removed")
            elif name not in before:
                changes.append(f"custom/{name} was added")
            elif before[name] != self.custom_files[name]:
                changes.append(f"custom/{name} changed")
        datalists = stored.get("datalists") or {}
        for section in sorted(set(datalists) | set(self.datalists)):
            if datalists.get(section) != self.datalists.get(section):
                changes.append(f"the {section} datalist changed")
        if stored.get("world_size", 1) != self.world_size:
            changes.append(f"it ran as {stored.get('world_size', 1)} process(es), this run has {self.world_size}")
        return changes

    def _data_change(self, stored: Any, folder: Path | None) -> list[str]:
        if self.data is None or not isinstance(stored, Mapping) or stored.get("digest") == self.data.digest:
            return []  # the same data, or a side that recorded none (find_resume warns about an old checkpoint)
        from runner.workflow.data_record import load_data_list

        before = load_data_list(folder, stored) if folder is not None else None
        return [compare(before if before is not None else stored, self.data) or "the data changed"]


def resume_dir(ckpt_dir: Path) -> Path:
    return ckpt_dir / RESUME_DIR


def find_resume(ckpt_dir: Path, inputs: RunInputs, model_keys: set[str], config_file: str) -> Found | None:
    """The newest usable resume checkpoint, or None (the log says which, or that training starts over).

    Raises:
        MmarRunnerError (exit 2): the newest usable checkpoint was made from other inputs, or a
            file holds more than plain data.
    """
    candidates = sorted(resume_dir(ckpt_dir).glob("ckpt-*.pt"), key=_iteration, reverse=True)
    for index, path in enumerate(candidates):
        payload, problem = _read(path, model_keys)
        if problem is not None:
            following = f"trying {candidates[index + 1].name}" if index + 1 < len(candidates) else "no earlier one: training from the beginning"
            logger.warning("%s %s; %s", path, problem, following)
            continue
        assert payload is not None
        if inputs.data is not None and not isinstance(payload["inputs"].get("data"), Mapping):
            logger.warning("%s records no data digest (written by an earlier mmar): continuing it without checking that "
                           "the data files are the ones it trained on", path)
        changes = inputs.changes_since(payload["inputs"], config_file, ckpt_dir)
        if changes:
            raise MmarRunnerError(f"{path} was written by a run with other inputs: {'; '.join(changes)}. Resuming would "
                                  "continue that run with these inputs", hint=FRESH_HINT)
        return Found(path, payload)
    return None


def refuse_finished(found: Found, max_epochs: int | None) -> None:
    """Refuse (exit 2) a checkpoint written at the end of the run's last epoch.

    Nothing is left to train from it, and ignite starts a finished run over from epoch 1: resuming
    would train the run a second time on top of its own weights and call that completed. Runners
    since this check write none (a SIGTERM in the last epoch lets the run finish); older ones did.
    """
    payload = found.payload
    epoch, position, length = payload["epoch"], payload["position"], payload["epoch_length"]
    if max_epochs is None or epoch < max_epochs or 0 < position < length:
        return
    raise MmarRunnerError(f"{found.path} was written at the end of the last epoch ({epoch} of {max_epochs}): there is "
                          "nothing left to resume, and the run's outputs were not written",
                          hint="mmar train --fresh trains the run again from the beginning (the resume checkpoints are removed)")


def _iteration(path: Path) -> int:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return -1


def _read(path: Path, model_keys: set[str]) -> tuple[dict[str, Any] | None, str | None]:
    """(payload, None) for a usable checkpoint, else (None, why not)."""
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # data: no pickle code path runs
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            return None, f"is unreadable ({first_line(exc)})"
        raise MmarRunnerError(f"{path} holds objects that are not plain data ({_refused_global(exc)}); it was not loaded, "
                              "and nothing in it ran",
                              hint="mmar's resume checkpoints hold only tensors, numbers and strings: remove this file, or "
                                   f"the whole {path.parent} to start afresh") from None
    except Exception as exc:  # noqa: BLE001 - cut short or corrupt: the previous one is used
        return None, f"is incomplete or unreadable ({first_line(exc)})"
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else None
        return None, f"is not a resume checkpoint of this mmar (format {found!r}, expected {FORMAT!r})"
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        return None, f"is incomplete (no {', '.join(missing)})"
    if not isinstance(payload["model"], dict) or set(payload["model"]) != model_keys:
        return None, "does not hold this network's weights"
    return payload, None


def _refused_global(exc: BaseException) -> str:
    """The global the weights-only unpickler refused (``posix.system``), from torch's message."""
    found = re.search(r"(?:GLOBAL|global)\s+([\w.]+)", str(exc))
    return f"it asks for {found.group(1)}" if found else first_line(exc)
