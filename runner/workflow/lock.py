"""One run per output folder: an exclusive lock that the kernel drops when its process dies.

Two runs in one folder would resume from each other's checkpoints and overwrite each other's
models. The lock is ``flock`` on ``<folder>/.mmar-run.lock``, which holds who took it (host, pid,
command, start time) for the message the second run gets. ``flock`` locks belong to the open file,
so a process killed with SIGKILL, or a lost container, frees the folder with no stale lock file to
clean up; the file itself stays (deleting a lock file races with the next process that opens it).

A second run waits up to ``wait_s`` seconds (a Kubernetes pod that replaces one still
terminating), then stops with exit 2 naming the holder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path

from runner.errors import RunLockedError
from runner.write_failures import as_write_failure

logger = logging.getLogger(__name__)

LOCK_NAME = ".mmar-run.lock"
POLL_S = 0.5


class FolderLock:
    """``with FolderLock(folder, "train"):`` holds the folder for one run."""

    def __init__(self, folder: Path, command: str, wait_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = folder / LOCK_NAME
        self.command = command
        self.wait_s = wait_s
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s``; RunLockedError (exit 2) naming the holder if it stays taken."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise as_write_failure(exc, self.path) or exc from exc
        deadline = self._clock() + self.wait_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            holder = _holder(fd)
            if self._clock() >= deadline:
                os.close(fd)
                waited = f" (waited {self.wait_s:g} s)" if self.wait_s else ""
                raise RunLockedError(f"{self.path.parent} is in use by another run{waited}: {holder}",
                                     hint="wait for it to finish, stop it, or give this run another output folder "
                                          "(--set MMAR_CKPT_DIR=... / MMAR_EVAL_OUTPUT_PATH=...); "
                                          "--lock-wait SECONDS waits for the folder")
            if not announced:
                logger.warning("%s is in use by %s; waiting up to %g s", self.path.parent, holder, self.wait_s)
                announced = True
            self._sleep(POLL_S)
        self._fd = fd
        record = {"host": socket.gethostname(), "pid": os.getpid(), "command": self.command,
                  "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except OSError:
            logger.debug("could not record the lock holder in %s", self.path)  # the lock holds regardless

    def release(self) -> None:
        if self._fd is None:
            return
        with suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote: ``mmar train (pid 4242 on node-1, since 2026-...)``."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return "a run that is just starting"
    return (f"mmar {record.get('command', '?')} (pid {record.get('pid', '?')} on {record.get('host', '?')}, "
            f"since {record.get('started_at', '?')})")
