"""Where in a JSON text a problem is: the JSON path and line of a duplicate key or a NaN.

Python's ``json`` module says *that* a key is repeated (through a hook) but not where, and takes
``NaN`` / ``Infinity`` without complaint. This scanner walks the text once more, only when such a
problem was found, with an explicit stack (no recursion: any nesting depth is fine), and tracks the
JSON path the way error messages print it (``train.handlers[2].args``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(-?Infinity|NaN)|(-?\d[\d.eE+-]*)|(true|false|null)|([{}\[\]:,]))', re.DOTALL)


@dataclass
class _Frame:
    """An object or array being read: its path, and for objects the keys seen and the key in hand."""

    path: str
    is_object: bool
    keys: set[str] = field(default_factory=set)
    key: str | None = None
    index: int = 0


@dataclass(frozen=True)
class Location:
    path: str
    line: int


def find_duplicate_key(text: str) -> Location | None:
    """The first key repeated within one object, with its JSON path and line."""
    return _scan(text, want_duplicate=True)


def find_non_finite(text: str) -> Location | None:
    """The first ``NaN``, ``Infinity`` or ``-Infinity`` (not strict JSON), with its JSON path and line."""
    return _scan(text, want_duplicate=False)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _scan(text: str, want_duplicate: bool) -> Location | None:
    import json

    stack: list[_Frame] = []
    position = 0
    expecting_key = False
    line, counted_to = 1, 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            return None  # not JSON after all; the parser reports that with its own position
        position = match.end()
        string, constant, number, literal, punctuation = match.groups()
        start = match.start(match.lastindex or 0)
        line, counted_to = line + text.count("\n", counted_to, start), start
        frame = stack[-1] if stack else None
        if string is not None and frame is not None and frame.is_object and expecting_key:
            key = json.loads(string)
            if want_duplicate and key in frame.keys:
                return Location(join(frame.path, key), line)
            frame.keys.add(key)
            frame.key = key
            expecting_key = False
            continue
        if punctuation in ("{", "["):
            stack.append(_Frame(_value_path(frame), punctuation == "{"))
            expecting_key = punctuation == "{"
        elif punctuation in ("}", "]"):
            stack.pop()
        elif punctuation == ",":
            if frame is not None and frame.is_object:
                expecting_key = True
            elif frame is not None:
                frame.index += 1
        elif constant is not None and not want_duplicate:
            return Location(_value_path(frame), line)
        _ = number, literal  # values that are fine as they are
    return None


def _value_path(frame: _Frame | None) -> str:
    if frame is None:
        return ""
    if frame.is_object:
        return join(frame.path, frame.key or "")
    return f"{frame.path}[{frame.index}]"
