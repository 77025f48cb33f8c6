"""Atomic writes for code we do not own: MONAI's handlers, the user's, any library they call.

mmar's own outputs are written to a temporary name and renamed (:func:`runner.jsonio.write_atomic`),
but MONAI's MetricsSaver opens ``metrics.csv`` with ``open(path, "w")``, and so do many handlers a
config may name. A full disk then leaves a half-written file where a good one was. While a run is
inside :func:`atomic_writes_under`, a file opened for *writing* (modes ``w`` and ``x``) under one
of its output folders is written to ``.<name>.<random>.tmp`` beside it and renamed over ``name``
when it is closed without error; a failed write or close removes the temporary file and leaves the
previous file as it was. Reads, appends (``a``, as TensorBoard's event files and MONAI's CSVSaver
use: append-only logs whose readers skip a cut-short last record) and files elsewhere are opened
as usual. A file kept open for writing for a whole run appears when it is closed.

``builtins.open`` and ``io.open`` (what ``pathlib`` calls) are replaced for the duration; nesting
is allowed, and the originals are back when the last context ends.
"""

from __future__ import annotations

import builtins
import io
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from runner.write_failures import as_write_failure

_ORIGINAL_OPEN = builtins.open
_FOLDERS: list[str] = []  # real paths of the output folders of the runs in progress (a stack)


@contextmanager
def atomic_writes_under(*folders: Path) -> Iterator[None]:
    """Make whole-file writes under ``folders`` atomic while the context lasts."""
    added = [os.path.realpath(folder) for folder in folders]
    if not _FOLDERS:
        builtins.open = io.open = _open  # type: ignore[assignment]
    _FOLDERS.extend(added)
    try:
        yield
    finally:
        for folder in added:
            _FOLDERS.remove(folder)
        if not _FOLDERS:
            builtins.open = io.open = _ORIGINAL_OPEN  # type: ignore[assignment]


def _open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    target = _target(file, mode)
    if target is None:
        return _ORIGINAL_OPEN(file, mode, *args, **kwargs)
    if "x" in mode and os.path.lexists(target):
        return _ORIGINAL_OPEN(file, mode, *args, **kwargs)  # raises FileExistsError, as it would have
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
    try:
        raw = _ORIGINAL_OPEN(tmp, mode.replace("x", "w"), *args, **kwargs)
    except OSError as exc:
        raise as_write_failure(exc, Path(target)) or exc from exc
    return AtomicFile(raw, tmp, target)


def _target(file: Any, mode: str) -> str | None:
    """The absolute path to write atomically, or None to open as usual."""
    if not _FOLDERS or not isinstance(mode, str) or not ("w" in mode or "x" in mode) or isinstance(file, int):
        return None
    try:
        path = os.path.abspath(os.fsdecode(file))
    except TypeError:
        return None
    if path.endswith(".tmp"):
        return None  # already a temporary file of an atomic write
    folder = os.path.realpath(os.path.dirname(path))
    if any(folder == root or folder.startswith(root + os.sep) for root in _FOLDERS):
        return os.path.join(folder, os.path.basename(path))
    return None


class AtomicFile:
    """A file object writing to a temporary file that becomes ``target`` on a clean close."""

    def __init__(self, raw: Any, tmp: str, target: str) -> None:
        self._raw = raw
        self._tmp = tmp
        self._target = target
        self._failed = False
        self._done = False

    @property
    def name(self) -> str:
        return self._target

    def write(self, data: Any) -> int:
        try:
            return self._raw.write(data)
        except BaseException:
            self._failed = True
            raise

    def writelines(self, lines: Any) -> None:
        try:
            self._raw.writelines(lines)
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._raw.close()
        except BaseException as exc:
            failure = as_write_failure(exc, Path(self._target), Path(self._tmp)) if isinstance(exc, Exception) else None
            self._discard()
            if failure is not None and failure is not exc:
                raise failure from exc
            raise
        if self._failed:
            self._discard()
            return
        os.replace(self._tmp, self._target)

    def _discard(self) -> None:
        with suppress(OSError):
            os.unlink(self._tmp)

    @property
    def closed(self) -> bool:
        return self._done

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._failed = True
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._raw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            with suppress(Exception):  # nothing to report to from a finalizer
                self.close()
