"""``{VAR}`` substitution and ``--set`` parsing.

Precedence, lowest to highest (MMAR_SPEC §2.5):

=====================  =====================================================
source                 example
=====================  =====================================================
config top level       ``"epochs": 1260`` in config_train.json
environment.json       ``"DATA_ROOT": "/data/spleen"``
``--set K=V``          ``--set epochs=2 determinism.random_seed=7``
=====================  =====================================================

Typing rules:

* a string that is exactly ``"{x}"`` becomes x's value with its type (int, float, bool, list...);
* ``{x}`` inside a longer string is replaced by text (``"{MMAR_CKPT_DIR}/segs"``);
* ``lambda`` strings are left alone (Clara never substituted inside them);
* an undefined variable is an error naming it, with the closest defined names as a hint.

Path variables (``DATA_ROOT``, ``MMAR_CKPT_DIR``, ...) that are relative resolve against the MMAR
root, so runs behave the same from any working directory.
"""

from __future__ import annotations

import ast
import copy
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runner.errors import ConfigIssue

VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PATH_VARIABLES = frozenset(
    {
        "DATA_ROOT",
        "DATASET_JSON",
        "MMAR_CKPT_DIR",
        "MMAR_CKPT",
        "MMAR_TORCHSCRIPT",
        "MMAR_EVAL_OUTPUT_PATH",
        "PRETRAIN_WEIGHTS_FILE",
    }
)
SECTIONS = frozenset({"train", "validate"})
# The MMAR places (MMAR_SPEC §1.1), below every other source; an MMAR without them still runs.
DEFAULT_VARIABLES = {
    "MMAR_CKPT_DIR": "models",
    "MMAR_CKPT": "{MMAR_CKPT_DIR}/model.pt",
    "MMAR_TORCHSCRIPT": "{MMAR_CKPT_DIR}/model.ts",
    "MMAR_EVAL_OUTPUT_PATH": "eval",
}
KNOWN_GLOBALS = frozenset(
    {"epochs", "learning_rate", "amp", "multi_gpu", "use_gpu", "cudnn_benchmark", "tf32", "determinism"}
)
SET_SOURCE = "--set"


def parse_literal(text: str) -> Any:
    """Parse a ``--set`` value: booleans in either case, None/null, ints, floats, lists, dicts.

    Anything else stays a string, so ``DATA_ROOT=/data`` needs no quoting.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(stripped)
        except ValueError:
            pass
    if stripped[:1] in "[{(" and stripped:
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(stripped)
            except (ValueError, SyntaxError, TypeError):
                continue
            return list(value) if isinstance(value, tuple) else value
    return text


def parse_overrides(items: Iterable[str]) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """Turn ``["epochs=2", "amp=True"]`` into ``{"epochs": 2, "amp": True}``."""
    values: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            issues.append(
                ConfigIssue(SET_SOURCE, item, "expected KEY=VALUE", hint="for example --set epochs=2 amp=False")
            )
            continue
        values[key] = parse_literal(raw)
    return values, issues


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def merge_variables(
    config: Mapping[str, Any],
    environment: Mapping[str, Any],
    overrides: Mapping[str, Any],
    root: Path,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge the variable sources; return the variables and where each one came from.

    Lowest first: runner defaults for the MMAR places, config top level, environment.json, --set.

    Dotted ``--set`` keys (``determinism.random_seed=7``) update a nested global.
    """
    variables: dict[str, Any] = {"MMAR_ROOT": str(root), **DEFAULT_VARIABLES}
    origin: dict[str, str] = dict.fromkeys(variables, "runner default")
    for source, mapping in (("config", config), ("environment", environment)):
        for key, value in mapping.items():
            if source == "config" and key in SECTIONS:
                continue
            variables[key] = copy.deepcopy(value)
            origin[key] = source
    for key, value in overrides.items():
        _set_dotted(variables, key, value)
        origin[key.split(".")[0]] = SET_SOURCE
    return variables, origin


def resolve_variables(
    variables: dict[str, Any], root: Path, file_for: Mapping[str, str]
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """Substitute variables that refer to other variables, then anchor path variables at root."""
    issues: list[ConfigIssue] = []
    resolved: dict[str, Any] = {}
    for key, value in variables.items():
        new_value = substitute(value, variables, file_for.get(key, "environment"), key, issues)
        if key in PATH_VARIABLES and isinstance(new_value, str) and new_value:
            new_value = str(Path(new_value).expanduser() if Path(new_value).expanduser().is_absolute() else root / new_value)
        resolved[key] = new_value
    return resolved, issues


def substitute(value: Any, variables: Mapping[str, Any], file: str, path: str, issues: list[ConfigIssue]) -> Any:
    """Return ``value`` with every ``{VAR}`` replaced; record undefined names in ``issues``."""
    return _substitute(value, variables, file, path, issues, depth=0)


def _substitute(value: Any, variables: Mapping[str, Any], file: str, path: str, issues: list[ConfigIssue], depth: int) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, variables, file, _join(path, k), issues, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, file, f"{path}[{i}]", issues, depth) for i, v in enumerate(value)]
    if not isinstance(value, str) or value.lstrip().startswith("lambda"):
        return value
    whole = VARIABLE.fullmatch(value)
    if whole:
        name = whole.group(1)
        if name not in variables:
            issues.append(_undefined(name, variables, file, path))
            return value
        found = variables[name]
        if depth < 10 and isinstance(found, (str, list, dict)):
            found = _substitute(found, variables, file, path, issues, depth + 1)
        return copy.deepcopy(found)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            issues.append(_undefined(name, variables, file, path))
            return match.group(0)
        found = variables[name]
        if depth < 10 and isinstance(found, str):
            found = _substitute(found, variables, file, path, issues, depth + 1)
        return str(found)

    return VARIABLE.sub(replace, value)


def _undefined(name: str, variables: Mapping[str, Any], file: str, path: str) -> ConfigIssue:
    close = difflib.get_close_matches(name, list(variables), n=3)
    hint = (
        f"did you mean {', '.join('{' + c + '}' for c in close)}?"
        if close
        else "define it at the top of the config, in environment.json, or with --set"
    )
    return ConfigIssue(file, path, f"undefined variable {{{name}}}", hint)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def effective_globals(config: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """The config's top level with environment and ``--set`` values applied to the globals."""
    result = {k: copy.deepcopy(v) for k, v in config.items()}
    for key in list(result) + sorted(KNOWN_GLOBALS):
        if key in SECTIONS or key not in variables:
            continue
        result[key] = copy.deepcopy(variables[key])
    return result
