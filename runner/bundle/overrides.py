"""``--set ID=VALUE`` for bundles: MONAI ids with ``#`` separators, values that stay data.

MONAI's own command line reads ``--net#channels 42`` and evaluates a value such as
``"$import os; os.system(...)"`` or ``{"_target_": "os.system", ...}`` when the config is
parsed: a word typed at a shell, or pasted from a ticket, would run code. Here a value is a
JSON literal (``3``, ``true``, ``[16, 32]``, ``"text"``) and a word that is not JSON is a string
(``dataset_dir=/data``). A string that MONAI would read as code or a reference (``$``, ``@``,
``%`` first), or a mapping with MONAI's special keys (``_target_``, ``_mode_``...), is refused with
exit 2. An id must exist in the bundle's config, or its parent must (a new argument of an item):
a typo is reported with the closest ids, before anything runs.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError, ConfigIssue

SET_WHERE = "--set"
CODE_PREFIXES = ("$", "@", "%")
SPECIAL_KEYS = ("_target_", "_mode_", "_requires_", "_disabled_", "_desc_")
VALUE_HINT = "a --set value is data: a JSON literal or a plain word; expressions and references are not taken from the command line"


@dataclass(frozen=True)
class BundleOverride:
    """One ``--set`` word: the id as typed (``#`` separators) and its value as data."""

    config_id: str
    value: Any

    @property
    def monai_id(self) -> str:
        return self.config_id.replace("#", "::")

    def word(self) -> str:
        """The word again, as a reproduce command writes it."""
        text = self.value if isinstance(self.value, str) and not _json_like(self.value) else json.dumps(self.value)
        return f"{self.config_id}={text}"


def parse_overrides(words: Sequence[str]) -> list[BundleOverride]:
    """``ID=VALUE`` words as overrides; every malformed or code-bearing word reported at once (exit 2)."""
    found: list[BundleOverride] = []
    issues: list[ConfigIssue] = []
    for word in words:
        config_id, sep, text = word.partition("=")
        config_id = config_id.strip().replace("::", "#")
        if not sep or not config_id:
            issues.append(ConfigIssue(SET_WHERE, word, "expected ID=VALUE, e.g. train#trainer#max_epochs=1"))
            continue
        value = _value(text)
        problem = _code_in(value)
        if problem:
            issues.append(ConfigIssue(SET_WHERE, config_id, problem, hint=VALUE_HINT))
            continue
        found.append(BundleOverride(config_id, value))
    if issues:
        raise ConfigError(issues)
    return found


def check_override_ids(overrides: Sequence[BundleOverride], config: Mapping[str, Any]) -> None:
    """Each id exists, or names a new key of an existing mapping; else exit 2 with the closest ids."""
    from runner.bundle.ids import all_ids

    known: list[str] | None = None
    issues: list[ConfigIssue] = []
    for override in overrides:
        parts = override.config_id.split("#")
        if _exists(config, parts) or (len(parts) > 1 and isinstance(_at(config, parts[:-1]), dict)):
            continue
        known = known if known is not None else all_ids(config)
        close = difflib.get_close_matches(override.config_id, known, n=3, cutoff=0.6)
        issues.append(ConfigIssue(SET_WHERE, override.config_id, "no item has that id in the bundle's config",
                                  hint=f"did you mean {', '.join(close)}?" if close else "ids use # between levels: train#trainer#max_epochs"))
    if issues:
        raise ConfigError(issues)


def apply_overrides(config: dict[str, Any], overrides: Sequence[BundleOverride]) -> None:
    """Set each override in the merged config, in order (a later word wins), as MONAI's ``parser[id] = value`` does."""
    for override in overrides:
        parts = override.config_id.split("#")
        parent = _at(config, parts[:-1]) if len(parts) > 1 else config
        key: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        parent[key] = override.value


def _value(text: str) -> Any:
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        return stripped


def _json_like(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _code_in(value: Any) -> str | None:
    """Why ``value`` would not stay data when MONAI parses it; None when it does."""
    if isinstance(value, str):
        if value.startswith(CODE_PREFIXES):
            return f"{value[:40]!r} would be run or resolved by MONAI ({value[0]!r} starts an expression, a reference or a macro)"
        return None
    if isinstance(value, list):
        return next((p for p in map(_code_in, value) if p), None)
    if isinstance(value, dict):
        special = [k for k in value if k in SPECIAL_KEYS]
        if special:
            return f"a mapping with {special[0]!r} would be instantiated by MONAI"
        return next((p for p in map(_code_in, value.values()) if p), None)
    return None


def _at(config: Any, parts: Sequence[str]) -> Any:
    node = config
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _exists(config: Any, parts: Sequence[str]) -> bool:
    node = _at(config, parts[:-1]) if len(parts) > 1 else config
    last = parts[-1]
    if isinstance(node, dict):
        return last in node
    return isinstance(node, list) and last.isdigit() and int(last) < len(node)
