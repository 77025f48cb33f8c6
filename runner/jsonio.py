"""Strict JSON reading and atomic JSON writing.

Config files are read with duplicate-key detection (Python's json silently keeps the last one,
which hides typos) and decode errors are reported with line and column. Outputs are written to a
temporary file in the same folder and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.errors import MmarLayoutError


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def load_json(path: Path, display_name: str | None = None) -> Any:
    """Read a JSON file, raising ``MmarLayoutError`` that names the file, line and column."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MmarLayoutError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MmarLayoutError(f"{name}: cannot read file: {exc}") from exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise MmarLayoutError(
            f"{name}: duplicate key {exc.args[0]!r}", hint="each key may appear once per object"
        ) from None
    except json.JSONDecodeError as exc:
        raise MmarLayoutError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def canonical_json(value: Any) -> str:
    """Stable text for hashing: sorted keys, no whitespace, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a unique temporary file beside ``path``, then rename it into place.

    A crash or exception leaves either the old file or the new one, never half of one, and no
    temporary file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file should read like any other the user writes
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to ``path`` atomically (see :func:`write_atomic`)."""

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")

    write_atomic(path, write)
