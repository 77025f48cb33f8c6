"""The life of one run in its output folder, in one place: lock, manifest states, outputs, cleanup.

``train``, ``validate``/``infer``, ``export`` and ``verify`` each run inside a :class:`RunSession`,
so these hold for all of them, once:

* **One run per folder.** The folder is locked for the session (:mod:`runner.workflow.lock`).
* **The manifest moves running -> completed | failed | preempted | interrupted** and is never left
  at ``running`` by a run that ended: an exception that leaves the session marks it failed, Ctrl-C
  (KeyboardInterrupt) interrupted. ``preempted`` (SIGTERM) and ``interrupted`` (Ctrl-C) runs wrote a
  resume checkpoint when they could, and the same command continues either. A failed
  manifest is written even on a full disk: a small reserve file, made when the session starts, is
  given up for it, and if that is not enough a shorter manifest is tried, then one written over
  the running manifest's own blocks.
* **Bad input leaves nothing behind.** When a run ends with exit 2 (a problem found after it
  started: a broken BYOC contract at the first iteration, a refused resume), every file it created
  is removed, and no manifest is written: the folder is as it was, earlier runs' files included
  (the manifest and the files written beside it, such as ``data_files.json``, are put back).
* **Earlier runs' manifests are kept.** The manifest a run replaces is first copied to
  ``history/<stem>.<its started_at>.json``, so a failed run never loses the record of a good one,
  and a checkpoint's bytes can be traced to the run that wrote them (:mod:`runner.workflow.provenance`).
* **A failed run leaves no empty TensorBoard event files** (:mod:`runner.workflow.event_files`).
* **Whole-file writes are atomic**, the runner's own and those of handlers inside the run
  (:mod:`runner.workflow.atomic_open`); a full or read-only disk is reported as such (exit 1).

Only the main process (rank 0) owns the folder; other ranks get a session that does nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from runner.errors import BAD_INPUT_EXIT, MmarRunnerError, OutputWriteError, PreemptedError, first_line
from runner.jsonio import write_atomic, write_json_atomic
from runner.manifest import MANIFEST_VERSION
from runner.workflow.atomic_open import atomic_writes_under
from runner.workflow.event_files import remove_empty_event_files
from runner.workflow.lock import LOCK_NAME, FolderLock
from runner.workflow.provenance import HISTORY_DIR

logger = logging.getLogger(__name__)

RESERVE_NAME = ".mmar-reserve"
RESERVE_BYTES = 256 * 1024  # a failed manifest is a few kB; this leaves room for a long error and warnings
Signature = tuple[int, int, int]
HOUSEKEEPING = (LOCK_NAME, RESERVE_NAME)
StopStatus = Literal["preempted", "interrupted"]
SHARED_CACHES = ".cache"  # the image's HOME is /out: torch's and the data digest's caches belong to no one run


def file_signature(path: Path) -> Signature:
    """(inode, mtime ns, size): tells whether a run rewrote a file that existed before it.

    Not a clock comparison: coarse or skewed file-system clocks (NFS, cluster volumes) would lie.
    """
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class RunSession:
    """``with RunSession(folder, "run_manifest.json", "train") as session:`` around one run.

    Call :meth:`start` with the facts known before the run (the manifest's base), then exactly one
    of :meth:`complete`, :meth:`fail` or :meth:`stop`; or let an exception leave the block.
    """

    def __init__(self, folder: Path, manifest_name: str | None, command: str, *, is_main: bool = True, lock: bool = True,
                 lock_wait_s: float = 0.0) -> None:
        self.tracking: Any = None  # a RunTracking (runner.tracking.training), told how the run ended
        self.folder = folder
        self.manifest_path = folder / manifest_name if manifest_name else None  # None: a command with no manifest (export)
        self.command = command
        self.is_main = is_main
        self.status = "new"
        self.base: dict[str, Any] = {}
        self._lock = FolderLock(folder, command, lock_wait_s) if lock and is_main else None
        self._created = False
        self._before: dict[Path, Signature] = {}
        self._previous_manifest: bytes | None = None
        self._previous_beside: dict[Path, bytes | None] = {}  # files written with the manifest, as they were before
        self._stack = ExitStack()

    # ---- the session's life -----------------------------------------------------------------
    def __enter__(self) -> RunSession:
        if not self.is_main:
            return self
        self._created = not self.folder.exists()
        self._before = self._signatures()
        with ExitStack() as stack:
            if self._lock is not None:
                self._lock.acquire()
                stack.callback(self._lock.release)
            self._make_reserve()
            stack.enter_context(atomic_writes_under(self.folder))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is not None and self.is_main:
                self._after_exception(exc)
        finally:
            self._drop_reserve()
            self._stack.close()
            if self._created and self.folder.is_dir() and not any(p.name not in HOUSEKEEPING for p in self.folder.iterdir()):
                shutil.rmtree(self.folder, ignore_errors=True)  # made for a run that left nothing in it

    def _after_exception(self, exc: BaseException) -> None:
        if self.status not in ("new", "running"):
            return  # already said how it ended (preempted, failed)
        if isinstance(exc, PreemptedError):
            return
        if isinstance(exc, KeyboardInterrupt) and self.status == "running":
            self.stop("interrupted", {"resume_checkpoint": None})  # Ctrl-C outside the steps that can checkpoint
            return
        bad_input = isinstance(exc, MmarRunnerError) and exc.exit_code == BAD_INPUT_EXIT
        if bad_input or self.status == "new":
            self.discard()
        else:
            message = exc.message if isinstance(exc, MmarRunnerError) else f"{type(exc).__name__}: {first_line(exc)}"
            self.fail(message)

    # ---- manifest states --------------------------------------------------------------------
    def start(self, base: Mapping[str, Any], beside: Mapping[str, Any] | None = None) -> None:
        """The run has begun: the manifest says ``running`` with what is known so far.

        ``beside``: JSON files (name -> value) that belong with the manifest, such as the per-file
        data list; written first, atomically, and put back as they were if the run is discarded.
        """
        self.base = dict(base)
        self.status = "running"
        if not self.is_main or self.manifest_path is None:
            return
        for name, value in (beside or {}).items():
            path = self.folder / name
            self._previous_beside[path] = path.read_bytes() if path.is_file() else None
            write_json_atomic(path, value)
        if self.manifest_path.is_file():
            self._previous_manifest = self.manifest_path.read_bytes()  # put back if the run turns out to be bad input
            try:
                self._keep_in_history(self._previous_manifest)
            except (OSError, OutputWriteError) as exc:  # a full disk: the run says so at its first real write
                logger.warning("could not keep the previous manifest in %s: %s", self.folder / HISTORY_DIR, first_line(exc))
        self._write({**self.base, "status": "running"})

    def complete(self, fields: Mapping[str, Any]) -> Path | None:
        self.status = "completed"
        if self.is_main:
            manifest = {**self.base, "status": "completed", **fields}
            self._write(manifest)
            self._tell_tracking(manifest)
        return self.manifest_path

    def preempt(self, fields: Mapping[str, Any]) -> None:
        self.stop("preempted", fields)

    def stop(self, status: StopStatus, fields: Mapping[str, Any]) -> None:
        """The run stopped on a signal and can continue: ``preempted`` (SIGTERM) or ``interrupted`` (Ctrl-C)."""
        self.status = status
        if self.is_main:
            manifest = {**self.base, "status": status, **fields}
            self._write(manifest)
            self._tell_tracking(manifest)

    def _tell_tracking(self, manifest: Mapping[str, Any]) -> None:
        if self.tracking is not None:
            self.tracking.ended(self.status, manifest, self.manifest_path if self.status != "discarded" else None, self.folder)

    def fail(self, error: str, fields: Mapping[str, Any] | None = None) -> None:
        """Say the run failed, also on a full disk (reserve freed first, then shorter manifests)."""
        self.status = "failed"
        if not self.is_main:
            return
        self._drop_reserve()
        remove_empty_event_files(self.written())
        full = {**self.base, "status": "failed", "error": error, **(fields or {})}
        short = {key: self.base[key] for key in ("command", "started_at", "mmar_root", "config_digest") if key in self.base}
        try:
            for manifest in (full, {**short, "status": "failed", "error": error}):
                try:
                    self._write(manifest)
                    return
                except (OSError, OutputWriteError) as exc:
                    logger.debug("writing the failed manifest: %s", first_line(exc))
            self._overwrite_in_place({"manifest_version": MANIFEST_VERSION, "status": "failed", "error": error[:500]})
        finally:
            self._tell_tracking(full)

    def discard(self) -> None:
        """Remove every file this run created and put the previous manifest back (bad input): the folder is as it was."""
        self.status = "discarded"
        self._tell_tracking({**self.base, "status": "discarded"})
        if self._lock is None or not self.folder.exists():
            return  # without the lock, new files may be another run's (export beside a training run)
        previous = dict(self._previous_beside)
        if self._previous_manifest is not None and self.manifest_path is not None:
            previous[self.manifest_path] = self._previous_manifest
        for path, content in previous.items():
            if content is None:
                continue  # created by this run: removed below with its other files
            write_atomic(path, lambda tmp, content=content: tmp.write_bytes(content))
            if path in self._before:
                mtime = self._before[path][1]
                os.utime(path, ns=(mtime, mtime))
        for path in sorted(self.folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path in self._before or self._housekeeping(path):
                continue
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)

    # ---- outputs ----------------------------------------------------------------------------
    def written(self) -> list[Path]:
        """Files this run created or rewrote, in path order (the manifest's own and housekeeping excluded)."""
        if not self.folder.exists():
            return []
        found = []
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            if path == self.manifest_path or path in self._previous_beside or self._housekeeping(path):
                continue
            if path.parent == self.folder / HISTORY_DIR:
                continue  # earlier runs' manifests, not this run's outputs
            if self._before.get(path) != file_signature(path):
                found.append(path)
        return found

    def wrote(self, path: Path) -> bool:
        """Whether this run created or rewrote ``path``."""
        return path.is_file() and self._before.get(path) != file_signature(path)

    # ---- internals --------------------------------------------------------------------------
    def _keep_in_history(self, previous: bytes) -> Path | None:
        """Copy the manifest this run replaces to history/, named by when that run started."""
        if self.manifest_path is None:
            return None
        stamp = _started_stamp(previous) or str(self._before.get(self.manifest_path, (0, 0, 0))[1])
        history = self.folder / HISTORY_DIR
        target = history / f"{self.manifest_path.stem}.{stamp}.json"
        if target.is_file() and target.read_bytes() == previous:
            return target  # kept already (a refused run put it back, and this one replaces it again)
        count = 1
        while target.exists():
            count += 1
            target = history / f"{self.manifest_path.stem}.{stamp}-{count}.json"
        history.mkdir(exist_ok=True)
        write_atomic(target, lambda tmp: tmp.write_bytes(previous))
        return target

    def _housekeeping(self, path: Path) -> bool:
        """The lock, the reserve, and caches shared by runs (``.cache/``): never a run's output, never removed with one."""
        relative = path.relative_to(self.folder).parts
        return (len(relative) == 1 and relative[0] in HOUSEKEEPING) or relative[0] == SHARED_CACHES

    def _write(self, manifest: Mapping[str, Any]) -> None:
        if self.manifest_path is not None:
            write_json_atomic(self.manifest_path, {"manifest_version": MANIFEST_VERSION, **manifest})

    def _signatures(self) -> dict[Path, Signature]:
        if not self.folder.exists():
            return {}
        found: dict[Path, Signature] = {}
        for path in self.folder.rglob("*"):
            try:
                found[path] = file_signature(path)
            except OSError:
                continue
        return found

    def _make_reserve(self) -> None:
        reserve = self.folder / RESERVE_NAME
        try:
            fd = os.open(reserve, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:  # a disk already this full fails at the first write anyway; no reserve then
            logger.debug("no reserve for the failed manifest in %s: %s", self.folder, first_line(exc))
            reserve.unlink(missing_ok=True)

    def _drop_reserve(self) -> None:
        if self.is_main:
            (self.folder / RESERVE_NAME).unlink(missing_ok=True)

    def _overwrite_in_place(self, manifest: Mapping[str, Any]) -> None:
        """Last resort on a full disk: the running manifest's blocks already exist, so write over them."""
        if self.manifest_path is None:
            return
        text = json.dumps(manifest).encode()
        try:
            with open(self.manifest_path, "r+b") as handle:  # noqa: PTH123 - r+ is not a whole-file write
                handle.write(text)
                handle.truncate()
        except OSError as exc:
            logger.error("could not record the failure in %s: %s", self.manifest_path, first_line(exc))


def _started_stamp(manifest: bytes) -> str | None:
    """``started_at`` of a manifest as a file-name part (20261201T044516Z), sorting as time does; None if unreadable."""
    try:
        started = json.loads(manifest).get("started_at")
    except (ValueError, AttributeError):
        return None
    if not isinstance(started, str) or not started:
        return None
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond:06d}Z"
