"""A write that failed because of the disk, said as such: "no space left on /out (tmpfs) writing PATH".

A full or read-only disk shows up in many disguises: ``OSError(ENOSPC)`` from Python's own files,
but from torch's C++ writer a bare ``RuntimeError: unexpected pos 576 vs 534``, and from inside a
MONAI handler wrapped once more. :func:`as_write_failure` sees through them, so the run ends with
exit 1 and a message that names the device and the file, not "unexpected failure".
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from runner.errors import OutputWriteError

DISK_ERRNOS = {
    errno.ENOSPC: "no space left on {device} writing {path}",
    errno.EDQUOT: "disk quota exceeded on {device} writing {path}",
    errno.EFBIG: "file too large for {device} writing {path}",
    errno.EROFS: "{device} is read-only: cannot write {path}",
}
# Below this many free bytes after a failed write, the failure was the disk's, whatever the writer said.
NEARLY_FULL_BYTES = 64 * 1024
HINT = "free space there (or point MMAR_CKPT_DIR / MMAR_EVAL_OUTPUT_PATH elsewhere); outputs written before are intact"


def as_write_failure(exc: BaseException, path: Path | None = None, partial: Path | None = None) -> OutputWriteError | None:
    """``exc`` (or an exception it was raised from) as an OutputWriteError when the disk caused it; else None.

    ``path`` is the file being written, when the caller knows it; checked for a full disk when the
    exception itself carries no errno (torch's writer), and ``partial`` (the temporary file written
    so far) against the process's file-size limit. Call it before removing that temporary file,
    whose blocks would make the disk look less full than it was.
    """
    for link in _chain(exc):
        if isinstance(link, OutputWriteError):
            return link
        if isinstance(link, OSError) and link.errno in DISK_ERRNOS:
            target = Path(link.filename) if isinstance(link.filename, (str, os.PathLike)) else path
            return _error(link.errno, target)
    if path is None:
        return None
    free = _free_bytes(path.parent)
    if free is not None and free < NEARLY_FULL_BYTES:
        return _error(errno.ENOSPC, path)
    if partial is not None and _at_file_size_limit(partial):
        return _error(errno.EFBIG, path)
    return None


def describe_device(path: Path) -> str:
    """The mount point that holds ``path``, with its file-system type: ``/out (tmpfs)``."""
    target = os.path.realpath(path)
    best, kind = "/", ""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return str(path.parent)
    return f"{best} ({kind})" if kind else best


def _error(code: int, path: Path | None) -> OutputWriteError:
    shown = str(path) if path is not None else "an output file"
    device = describe_device(path) if path is not None else "the output folder's disk"
    return OutputWriteError(DISK_ERRNOS[code].format(device=device, path=shown), hint=HINT)


def _free_bytes(folder: Path) -> int | None:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def _at_file_size_limit(partial: Path) -> bool:
    """Whether ``partial`` reached RLIMIT_FSIZE (ulimit -f), where the kernel refuses to write more."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        return soft != resource.RLIM_INFINITY and partial.stat().st_size >= soft
    except OSError:
        return False


def _chain(exc: BaseException) -> list[BaseException]:
    found, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found.append(current)
        current = current.__cause__ or current.__context__
    return found
