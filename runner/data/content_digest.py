"""A digest of the data itself: every file the run's datalists name, by path, size and sha256 of its bytes.

The manifest's ``datalist_digests`` hash only the datalist JSON: an image file rewritten in place
changes nothing there. :func:`digest_files` hashes the files themselves and returns a
:class:`DataDigest`: one ``sha256:`` digest over the sorted (path, size, sha256) of every file,
with paths relative to DATA_ROOT (moving the data folder keeps the digest; a file outside
DATA_ROOT is named by its absolute path). A folder a datalist names (a DICOM series) counts as
every regular file under it. Each file is counted once, however many entries name it; which
section or entry names it is the datalist's business (``datalist_digests``), not the data's.

Bytes are streamed in 1 MiB chunks, by a few threads (hashlib and file reads release the GIL). A
:class:`runner.data.digest_cache.DigestCache` makes a second run over unchanged files cost one
``stat`` each. :func:`compare` says what differs between two digests, for resume, verify and diff.

Nothing here imports MONAI or torch; which files a config's datalists name is
:mod:`runner.data.named_files`' business.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat as stat_kind
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.data.digest_cache import DigestCache, FileStat
from runner.errors import ConfigError, ConfigIssue, first_line

logger = logging.getLogger(__name__)

DATA_FILES_NAME = "data_files.json"  # the full per-file list, beside run_manifest.json
RECORD_VERSION = 1
CHUNK = 1 << 20
DEFAULT_WORKERS = 4
READ_ATTEMPTS = 3  # a file that changes while it is read is read again, this many times in all
MAX_ISSUES_SHOWN = 20
STORE_BATCH = 256  # cache rows written per transaction while hashing, so an interrupted first run keeps its work
_DIGEST_HEADER = b"mmar-data-digest v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")

Progress = Callable[[int, int], None]  # (bytes hashed so far, bytes to hash); called from worker threads, one at a time


@dataclass(frozen=True)
class NamedFile:
    """A file (or folder) a datalist entry names, and where, for messages: ``dataset.json``, ``training[3].image``."""

    path: str  # as the loaded entry holds it: joined with the base folder
    datalist: str = ""
    where: str = ""


@dataclass(frozen=True)
class FileEntry:
    """One hashed file: path relative to DATA_ROOT (POSIX separators) or absolute outside it, size, sha256 hex."""

    path: str
    size: int
    sha256: str

    def line(self) -> bytes:
        return json.dumps([self.path, self.size, self.sha256], ensure_ascii=True).encode() + b"\n"


@dataclass(frozen=True)
class DigestStats:
    """How the digest was obtained: not part of it, for logs and benchmarks."""

    hashed_files: int = 0
    hashed_bytes: int = 0
    cached_files: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class DataDigest:
    """The data of a run: the overall digest and every file's entry, sorted by path."""

    digest: str
    entries: tuple[FileEntry, ...]
    stats: DigestStats = field(default=DigestStats(), compare=False)

    @property
    def files(self) -> int:
        return len(self.entries)

    @property
    def bytes(self) -> int:
        return sum(entry.size for entry in self.entries)

    def summary(self) -> dict[str, Any]:
        """What the manifest and the resume key hold: ``{"digest", "files", "bytes"}``."""
        return {"digest": self.digest, "files": self.files, "bytes": self.bytes}

    def to_json(self) -> dict[str, Any]:
        """The full record (``data_files.json``): the summary, a version and every file."""
        return {"version": RECORD_VERSION, **self.summary(),
                "entries": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.entries]}

    @classmethod
    def from_entries(cls, entries: Iterable[FileEntry], stats: DigestStats = DigestStats()) -> DataDigest:
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        digest = hashlib.sha256(_DIGEST_HEADER)
        for entry in ordered:
            digest.update(entry.line())
        return cls("sha256:" + digest.hexdigest(), ordered, stats)

    @classmethod
    def from_json(cls, data: Any, source: str = DATA_FILES_NAME) -> DataDigest:
        """Read a full record back; it is data (an output folder's file): every field is checked, nothing else done.

        Raises ConfigError naming ``source`` and the JSON path when the shape is wrong or the stored
        digest is not the digest of the stored entries (the list was edited).
        """
        def bad(path: str, message: str) -> ConfigError:
            return ConfigError([ConfigIssue(source, path, message)])

        if not isinstance(data, Mapping) or data.get("version") != RECORD_VERSION:
            raise bad("version", f"not a data file list of version {RECORD_VERSION}")
        raw = data.get("entries")
        if not isinstance(raw, list):
            raise bad("entries", "must be a list")
        entries = []
        for index, item in enumerate(raw):
            ok = (isinstance(item, Mapping) and isinstance(item.get("path"), str) and type(item.get("size")) is int
                  and item["size"] >= 0 and isinstance(item.get("sha256"), str) and _HEX64.fullmatch(item["sha256"]))
            if not ok:
                raise bad(f"entries[{index}]", 'must be {"path": text, "size": whole number, "sha256": 64 hex digits}')
            entries.append(FileEntry(item["path"], item["size"], item["sha256"]))
        record = cls.from_entries(entries)
        if data.get("digest") != record.digest:
            raise bad("digest", f"{data.get('digest')!r} is not the digest of the entries listed ({record.digest})")
        return record


def compare(old: DataDigest | Mapping[str, Any], new: DataDigest | Mapping[str, Any]) -> str | None:
    """None when the data is the same, else e.g. ``the data changed: 3 files, first imagesTr/a.nii.gz (1 changed, 1 added, 1 removed)``.

    Either side may be a :class:`DataDigest`, its full JSON record or only its summary; with a
    summary the files that differ cannot be named, and the message gives the two digests instead.
    """
    old_digest, new_digest = _digest_of(old), _digest_of(new)
    if old_digest == new_digest:
        return None
    old_files, new_files = _entries_of(old), _entries_of(new)
    if old_files is None or new_files is None:
        return f"the data changed: digest {old_digest} before, {new_digest} now"
    changed = sorted(p for p in old_files.keys() & new_files.keys() if old_files[p] != new_files[p])
    added = sorted(new_files.keys() - old_files.keys())
    removed = sorted(old_files.keys() - new_files.keys())
    differing = sorted([*changed, *added, *removed])
    if not differing:  # same files, digest differs: one side's digest was not made by this version
        return f"the data changed: digest {old_digest} before, {new_digest} now"
    parts = [f"{len(group)} {name}" for group, name in ((changed, "changed"), (added, "added"), (removed, "removed")) if group]
    count = len(differing)
    return f"the data changed: {count} file{'s' if count != 1 else ''}, first {differing[0]} ({', '.join(parts)})"


def _digest_of(record: DataDigest | Mapping[str, Any]) -> Any:
    return record.digest if isinstance(record, DataDigest) else record.get("digest")


def _entries_of(record: DataDigest | Mapping[str, Any]) -> dict[str, tuple[int, str]] | None:
    if isinstance(record, DataDigest):
        return {e.path: (e.size, e.sha256) for e in record.entries}
    raw = record.get("entries")
    if not isinstance(raw, list):
        return None
    return {str(item.get("path")): (item.get("size"), item.get("sha256")) for item in raw if isinstance(item, Mapping)}


# ---- hashing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    absolute: str  # the cache's key: one machine's path
    recorded: str  # the record's path: relative to the data root when under it
    named: NamedFile
    info: FileStat


def digest_files(files: Iterable[NamedFile | str | os.PathLike[str]], root: str | os.PathLike[str] | None,
                 cache: DigestCache | None = None, workers: int = DEFAULT_WORKERS, progress: Progress | None = None,
                 clock: Callable[[], int] = time.time_ns) -> DataDigest:
    """Hash every file (folders: every file under them) and return the digest; see the module docstring.

    ``root`` is DATA_ROOT (None: every path absolute). ``cache`` must be entered already (``with
    DigestCache(path) as cache``); None hashes every file. ``clock`` gives wall-clock nanoseconds,
    comparable with file timestamps (a test may move it). Raises ConfigError naming the datalist
    and entry of every file that is missing, not a regular file, or unreadable.
    """
    started = time.perf_counter()
    issues: list[ConfigIssue] = []
    targets = _targets([f if isinstance(f, NamedFile) else NamedFile(os.fspath(f)) for f in files], root, issues)
    entries: list[FileEntry] = []
    misses: list[_Target] = []
    for target in targets:
        known = cache.lookup(target.absolute, target.info) if cache is not None else None
        if known is None:
            misses.append(target)
        else:
            entries.append(FileEntry(target.recorded, target.info.size, known))
    hashed_bytes = _hash_all(misses, cache, workers, progress, clock, entries, issues)
    if issues:
        raise ConfigError(_capped(issues))
    stats = DigestStats(len(misses), hashed_bytes, len(targets) - len(misses), time.perf_counter() - started)
    return DataDigest.from_entries(entries, stats)


def _targets(named: list[NamedFile], root: str | os.PathLike[str] | None, issues: list[ConfigIssue]) -> list[_Target]:
    """Named files made absolute, folders expanded, duplicates dropped; problems become issues."""
    base = os.path.abspath(root) if root is not None else None
    seen: set[str] = set()
    found: list[_Target] = []
    for item in named:
        absolute = os.path.abspath(item.path)
        if absolute in seen:
            continue
        seen.add(absolute)
        try:
            info = os.stat(absolute)
        except OSError as exc:
            issues.append(_issue(item, _why(exc)))
            continue
        if stat_kind.S_ISDIR(info.st_mode):
            found += _folder(item, absolute, base, seen, issues)
        elif stat_kind.S_ISREG(info.st_mode):
            found.append(_Target(absolute, _recorded(absolute, base), item, FileStat.of(info)))
        else:
            issues.append(_issue(item, "not a regular file (a pipe, socket or device is not data that can be hashed)"))
    return found


def _folder(item: NamedFile, folder: str, base: str | None, seen: set[str], issues: list[ConfigIssue]) -> list[_Target]:
    found = []
    for parent, dirs, names in os.walk(folder, onerror=lambda exc: issues.append(_issue(item, _why(exc)))):
        dirs.sort()
        for name in sorted(names):
            absolute = os.path.join(parent, name)
            if absolute in seen:
                continue
            seen.add(absolute)
            try:
                info = os.stat(absolute)
            except OSError as exc:
                issues.append(_issue(item, f"{absolute}: {_why(exc)}"))
                continue
            if stat_kind.S_ISREG(info.st_mode):
                found.append(_Target(absolute, _recorded(absolute, base), item, FileStat.of(info)))
    return found


def _recorded(absolute: str, base: str | None) -> str:
    """The path the record holds: relative to the data root (POSIX separators) when under it, else absolute.

    Under it as written, or once links are resolved (a DATA_ROOT that is a link to where the entries point).
    """
    if base is None:
        return absolute
    relative = _under(absolute, base)
    if relative is None:
        relative = _under(os.path.realpath(absolute), os.path.realpath(base))  # only then: it costs an lstat per folder
    return absolute if relative is None else relative


def _under(path: str, folder: str) -> str | None:
    prefix = folder.rstrip(os.sep) + os.sep  # both are normalised: a prefix is the common case, and cheap
    if path.startswith(prefix) and len(path) > len(prefix):
        relative = path[len(prefix):]
        return relative if os.sep == "/" else Path(relative).as_posix()
    relative = os.path.relpath(path, folder)
    if relative in (os.curdir, os.pardir) or relative.startswith(os.pardir + os.sep):
        return None
    return Path(relative).as_posix()


class _Reporter:
    """Progress from worker threads, one call at a time."""

    def __init__(self, callback: Progress | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0
        self.lock = threading.Lock()

    def advance(self, count: int) -> None:
        if self.callback is None:
            return
        with self.lock:
            self.done += count
            self.callback(self.done, self.total)


def _hash_all(misses: list[_Target], cache: DigestCache | None, workers: int, progress: Progress | None,
              clock: Callable[[], int], entries: list[FileEntry], issues: list[ConfigIssue]) -> int:
    """Hash the files the cache did not know; store the trusted results in batches. Returns the bytes read."""
    reporter = _Reporter(progress, sum(t.info.size for t in misses))
    pending: list[tuple[str, FileStat, str]] = []
    hashed = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="data-digest") as pool:
        for target, outcome in zip(misses, pool.map(lambda t: _hash_target(t, reporter, clock), misses), strict=True):
            if isinstance(outcome, str):
                issues.append(_issue(target.named, outcome if target.absolute == os.path.abspath(target.named.path)
                                     else f"{target.absolute}: {outcome}"))
                continue
            sha, info, trusted = outcome
            hashed += info.size
            entries.append(FileEntry(target.recorded, info.size, sha))
            if trusted:
                pending.append((target.absolute, info, sha))
            if cache is not None and len(pending) >= STORE_BATCH:
                cache.store(pending)
                pending = []
    if cache is not None:
        cache.store(pending)
    return hashed


def _hash_target(target: _Target, reporter: _Reporter, clock: Callable[[], int]) -> tuple[str, FileStat, bool] | str:
    """(sha256 hex, the stat of the bytes read, whether they may be cached), or why the file cannot be read."""
    try:
        for _ in range(READ_ATTEMPTS):
            with open(target.absolute, "rb", buffering=0) as stream:  # noqa: PTH123 - a raw stream for readinto
                before = FileStat.of(os.fstat(stream.fileno()))
                read_from = clock()
                sha, size = _stream_sha256(stream, reporter)
                after = FileStat.of(os.fstat(stream.fileno()))
            if before == after and size == after.size:
                return sha, after, after.trusted_at(read_from)
            reporter.advance(-size)
        return f"changed while being read, {READ_ATTEMPTS} times: is something still writing it?"
    except OSError as exc:
        return f"cannot be read: {_why(exc)}"


def _stream_sha256(stream: Any, reporter: _Reporter) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    while True:
        count = stream.readinto(buffer)
        if not count:
            return digest.hexdigest(), size
        digest.update(view[:count])
        size += count
        reporter.advance(count)


def _issue(item: NamedFile, problem: str) -> ConfigIssue:
    """``DATALIST: key[index].field: FILE: problem``, as ``mmar check --data`` reports; a bare path: ``FILE: problem``."""
    if not item.datalist:
        return ConfigIssue(item.path, "", problem)
    return ConfigIssue(item.datalist, item.where, f"{item.path}: {problem}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "not found"
    return f"{type(exc).__name__}: {first_line(exc)}"


def _capped(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    if len(issues) <= MAX_ISSUES_SHOWN:
        return issues
    rest = len(issues) - MAX_ISSUES_SHOWN
    return [*issues[:MAX_ISSUES_SHOWN], ConfigIssue(issues[0].file, "", f"and {rest} more files that cannot be hashed")]
