"""A per-file cache of content hashes, so a run over unchanged data pays only ``stat`` calls.

A row says: the file at ``path`` whose stat was (device, inode, size, mtime_ns, ctime_ns) had these
bytes' sha256. A lookup hits only when all six match the file as it is now. ``ctime`` is in the key
on purpose: a program can set ``mtime`` back (``os.utime``, ``touch -d``, ``rsync -t``) after
changing bytes, but not ``ctime``, which the kernel sets to the time of that very change. The limit
that remains, by design: a change that keeps path, device, inode, size, mtime *and* ctime (a clock
set back, a filesystem that records no ctime) is not seen; hash with no cache to rule that out.

Rows are only stored for files last changed well before they were read (see
:data:`TRUST_WINDOW_NS`), because a timestamp has a granularity: on Linux a write lands in a
clock tick of a few milliseconds (seconds on some filesystems), so a file written again within the
tick it was read in keeps the same mtime and ctime. Such a file is hashed again next time.

Why SQLite: it is data only (integers and text; nothing is ever unpickled or evaluated), it
survives concurrent runs (its own locking, a busy timeout instead of failing), a half-written
update never shows (transactions), and lookups by path need no loading of the whole cache. The
file lives in the user's cache folder (:func:`default_cache_path`), never in a run's output folder:
what is there describes the user's own files and is written by the user's own runs. A file that
is not a readable cache of this version is moved aside and rebuilt; when no cache can be opened,
the digest is computed without one (every file hashed), never refused.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TRUST_WINDOW_NS = 2_000_000_000  # a row is stored only if the file was last changed this long before it was read
DEFAULT_MAX_ENTRIES = 500_000  # about 100 MB of SQLite at most; the least recently used rows go first
PRUNE_TO = 0.9  # when over the bound, prune down to this share of it, so pruning is rare
TOUCH_AFTER_S = 86_400  # a hit refreshes its row's last-use time at most once a day: a cached run stays read-only
BUSY_TIMEOUT_S = 30.0
CACHE_FILE = "data-digests.sqlite"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileStat:
    """What a cache row is keyed by besides the path: the file's identity and last change."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, result: os.stat_result) -> FileStat:
        return cls(result.st_dev, result.st_ino, result.st_size, result.st_mtime_ns, result.st_ctime_ns)

    def trusted_at(self, read_started_ns: int) -> bool:
        """Whether a hash of bytes read from ``read_started_ns`` on may be cached (see the module docstring)."""
        return read_started_ns - max(self.mtime_ns, self.ctime_ns) >= TRUST_WINDOW_NS


def default_cache_path(environ: Mapping[str, str], home: Path) -> Path:
    """``$XDG_CACHE_HOME/mmar-runner/data-digests.sqlite``, else ``~/.cache/...``; the caller reads the environment."""
    base = environ.get("XDG_CACHE_HOME") or ""
    folder = Path(base) if os.path.isabs(base) else home / ".cache"  # the XDG spec ignores a relative value
    return folder / "mmar-runner" / CACHE_FILE


class DigestCache:
    """The SQLite cache at ``path``; use as a context manager. Every failure of the cache degrades to a miss."""

    def __init__(self, path: Path, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self._db: sqlite3.Connection | None = None
        self._touched: list[str] = []

    def __enter__(self) -> DigestCache:
        self._db = self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._record_use()
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def usable(self) -> bool:
        return self._db is not None

    def lookup(self, path: str, stat: FileStat) -> str | None:
        """The stored sha256 (hex) of ``path`` if its row matches ``stat`` exactly, else None."""
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT device, inode, size, mtime_ns, ctime_ns, sha256, used_at FROM files WHERE path = ?", (path,)
            ).fetchone()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return None
        if row is None or tuple(row[:5]) != (stat.device, stat.inode, stat.size, stat.mtime_ns, stat.ctime_ns):
            return None
        sha = row[5]
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            return None  # not what this module writes: treated as absent, and replaced on the next store
        if not isinstance(row[6], int) or time.time() - row[6] > TOUCH_AFTER_S:
            self._touched.append(path)  # written in one transaction on exit
        return sha

    def store(self, rows: Iterable[tuple[str, FileStat, str]]) -> None:
        """Insert or replace (path, stat, sha256 hex) rows in one transaction, then keep the cache bounded."""
        if self._db is None:
            return
        now = int(time.time())
        values = [(p, s.device, s.inode, s.size, s.mtime_ns, s.ctime_ns, sha, now) for p, s, sha in rows]
        if not values:
            return
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
                self._prune()
        except sqlite3.Error as exc:
            self._give_up(exc)

    def __len__(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    # ---- internals ------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection | None:
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level="DEFERRED")
            except (OSError, sqlite3.Error) as exc:
                logger.warning("data digest cache %s cannot be opened (%s); hashing every file", self.path, exc)
                return None
            try:
                self._prepare(db)
                return db
            except sqlite3.DatabaseError as exc:
                db.close()
                if attempt == 0 and _is_damaged(exc):
                    self._set_aside(exc)
                    continue
                logger.warning("data digest cache %s is not usable (%s); hashing every file", self.path, exc)
                return None
        return None

    @staticmethod
    def _prepare(db: sqlite3.Connection) -> None:
        """Check the tables are this version's, creating them when not; another version's cache is dropped and rebuilt.

        An existing cache of this version is only read here: opening it writes nothing (no fsync).
        """
        if _schema(db) != SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")  # one run creates the tables; another waits (busy timeout), then finds them
            try:
                if _schema(db) != SCHEMA_VERSION:
                    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
                    db.execute("DROP TABLE IF EXISTS files")
                    db.execute(
                        "CREATE TABLE files (path TEXT PRIMARY KEY, device INTEGER NOT NULL, inode INTEGER NOT NULL, "
                        "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, "
                        "used_at INTEGER NOT NULL)"
                    )
                    db.execute("CREATE INDEX files_used_at ON files (used_at)")
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                db.commit()
            except BaseException:
                db.rollback()
                raise
        db.execute("SELECT path, device, inode, size, mtime_ns, ctime_ns, sha256, used_at FROM files LIMIT 1").fetchall()

    def _set_aside(self, exc: BaseException) -> None:
        aside = self.path.with_name(self.path.name + ".damaged")
        logger.warning("data digest cache %s is damaged (%s): moved to %s and rebuilt", self.path, exc, aside.name)
        with suppress(OSError):  # another run may have moved it already: then there is nothing to move
            os.replace(self.path, aside)
        for suffix in ("-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _prune(self) -> None:
        assert self._db is not None
        count = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        if count > self.max_entries:
            excess = count - int(self.max_entries * PRUNE_TO)
            self._db.execute("DELETE FROM files WHERE path IN (SELECT path FROM files ORDER BY used_at, path LIMIT ?)", (excess,))

    def _record_use(self) -> None:
        touched, self._touched = self._touched, []
        if self._db is None or not touched:
            return
        now = int(time.time())
        try:
            with self._db:
                self._db.executemany("UPDATE files SET used_at = ? WHERE path = ?", [(now, path) for path in touched])
        except sqlite3.Error as exc:
            logger.debug("data digest cache: last use of %d files not recorded: %s", len(touched), exc)

    def _give_up(self, exc: sqlite3.Error) -> None:
        logger.warning("data digest cache %s failed (%s); hashing the remaining files without it", self.path, exc)
        if self._db is not None:
            self._db.close()
        self._db = None


def _schema(db: sqlite3.Connection) -> object:
    """The cache's schema version, or None for a new (empty) file or one without it."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return None if row is None else row[0]


def _is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """A file that is not SQLite, or a damaged one; a locked or read-only cache is not damaged."""
    text = str(exc).lower()
    return not isinstance(exc, sqlite3.OperationalError) or "malformed" in text or "not a database" in text or "no such column" in text
