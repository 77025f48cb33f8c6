"""MONAI's CheckpointSaver, made safe for a full disk and for runs that end on bad input.

MONAI builds its savers with ``atomic=False`` (to keep group read permission), so ``model.pt`` is
written in place: a full disk leaves a 0-byte or cut-short model where a good one was. Each of the
saver's files is written through :func:`runner.jsonio.write_atomic` instead (the file's mode is
that of any other file the user writes), and a full disk is reported as such. And on an exception
the saver writes a "final" model; on bad input (exit 2: a broken datalist entry, a BYOC contract)
it does not, so the run leaves the folder as it found it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import BAD_INPUT_EXIT, MmarRunnerError
from runner.jsonio import write_atomic

SAVER_PARTS = ("_key_metric_checkpoint", "_final_checkpoint", "_interval_checkpoint")


def atomic_checkpoint_saver(saver: Any) -> Any:
    """``saver`` (a monai.handlers.CheckpointSaver) writing every file atomically; returned for the build table."""
    for part in SAVER_PARTS:
        handler = getattr(getattr(saver, part, None), "save_handler", None)
        if handler is not None and hasattr(handler, "_save_func"):
            handler._save_func = _atomic_save_func(handler)
    saver.exception_raised = _no_final_model_for_bad_input(saver.exception_raised)
    return saver


def _atomic_save_func(handler: Any) -> Any:
    """ignite's ``DiskSaver._save_func(checkpoint, path, save)`` writing to a temporary file first."""

    def save(checkpoint: Any, path: Any, func: Any) -> None:
        write_atomic(Path(path), lambda tmp: func(checkpoint, tmp, **getattr(handler, "kwargs", {})))

    return save


def _no_final_model_for_bad_input(exception_raised: Any) -> Any:
    def guarded(engine: Any, error: BaseException) -> None:
        if isinstance(error, MmarRunnerError) and error.exit_code == BAD_INPUT_EXIT:
            raise error  # as MONAI's handler ends: re-raised, but without saving a model
        exception_raised(engine, error)

    return guarded
