"""Strict JSON reading and atomic JSON writing.

Config files and datalists are read strictly (:func:`load_json`): a problem is reported with the
file, the JSON path and the line. Outputs are written to a
temporary file in the same folder and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.errors import MmarLayoutError
from runner.json_locate import find_duplicate_key, find_non_finite, join
from runner.write_failures import as_write_failure

TEMP_SUFFIX = ".tmp"  # temporary files of atomic writes: .<name>.<random>.tmp beside the target


MAX_DEPTH = 64  # no config or datalist nests deeper; a deeper one would exhaust recursion further on
TOO_DEEP_HINT = "no config or datalist needs that; the file is probably generated wrongly"


class _DuplicateKey(ValueError):
    pass


class _NonFinite(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise _NonFinite(name)


def load_json(path: Path, display_name: str | None = None) -> Any:
    """Read a JSON file strictly, raising ``MmarLayoutError`` that names the file and where in it.

    Refused, beyond syntax errors (line and column): a key repeated in one object (Python's json
    keeps the last one silently, which hides typos), ``NaN`` and ``Infinity`` (not JSON; other
    tools reject them), and nesting deeper than MAX_DEPTH levels; each with its JSON path and line.
    """
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MmarLayoutError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MmarLayoutError(f"{name}: cannot read file: {exc}") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        where = find_duplicate_key(text)
        shown = f"{where.path}: duplicate key {exc.args[0]!r} (line {where.line})" if where else f"duplicate key {exc.args[0]!r}"
        raise MmarLayoutError(f"{name}: {shown}", hint="each key may appear once per object") from None
    except _NonFinite as exc:
        where = find_non_finite(text)
        shown = f"{where.path}: {exc.args[0]} (line {where.line})" if where else str(exc.args[0])
        raise MmarLayoutError(f"{name}: {shown} is not a JSON number",
                              hint="JSON has no NaN or Infinity; write a number, or null") from None
    except RecursionError:
        raise MmarLayoutError(f"{name}: nested deeper than {MAX_DEPTH} levels", hint=TOO_DEEP_HINT) from None
    except json.JSONDecodeError as exc:
        raise MmarLayoutError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    too_deep = _deeper_than(value, MAX_DEPTH)
    if too_deep is not None:
        shown = too_deep if len(too_deep) <= 60 else too_deep[:57] + "..."
        raise MmarLayoutError(f"{name}: {shown}: nested deeper than {MAX_DEPTH} levels", hint=TOO_DEEP_HINT)
    return value


def _deeper_than(value: Any, limit: int) -> str | None:
    """The JSON path of the first value nested more than ``limit`` levels deep, else None (no recursion)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        current, path, depth = stack.pop()
        if depth > limit:
            return path or "(top level)"
        if isinstance(current, dict):
            stack.extend((item, join(path, str(key)), depth + 1) for key, item in current.items())
        elif isinstance(current, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(current))
    return None


def canonical_json(value: Any) -> str:
    """Stable text for hashing: sorted keys, no whitespace, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a unique temporary file beside ``path``, then rename it into place.

    A crash or exception leaves either the old file or the new one, never half of one, and no
    temporary file behind. A full or read-only disk raises OutputWriteError naming the device and
    ``path`` (see :mod:`runner.write_failures`).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise as_write_failure(exc, path) or exc from exc
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file should read like any other the user writes
        os.replace(tmp, path)
    except BaseException as exc:
        failure = as_write_failure(exc, path, tmp) if isinstance(exc, Exception) else None  # before the blocks are freed
        tmp.unlink(missing_ok=True)
        if failure is not None and failure is not exc:
            raise failure from exc
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to ``path`` atomically (see :func:`write_atomic`).

    Strict JSON: NaN and infinities, which Python would write as bare ``NaN`` that other tools
    reject, become ``null`` (the writer of a value that can be NaN says why, e.g. train_stats.json).
    """
    text = json.dumps(finite(value), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomic(path, write)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (in lists and dicts too) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
