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
from collections.abc import Callable, Iterable, Mapping
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
        "MMAR_CACHE_DIR",
    }
)
SECTIONS = frozenset({"train", "validate"})  # config_train.json's structure; flat configs pass their own
# The MMAR places (MMAR_SPEC §1.1), below every other source; an MMAR without them still runs.
DEFAULT_VARIABLES = {
    "MMAR_CKPT_DIR": "models",
    "MMAR_CKPT": "{MMAR_CKPT_DIR}/model.pt",
    "MMAR_TORCHSCRIPT": "{MMAR_CKPT_DIR}/model.ts",
    "MMAR_EVAL_OUTPUT_PATH": "eval",
    "MMAR_CACHE_DIR": "{MMAR_CKPT_DIR}/cache",  # PersistentDataset & co. without a cache_dir (Clara made one)
}
KNOWN_GLOBALS = frozenset(
    {"epochs", "learning_rate", "amp", "multi_gpu", "use_gpu", "cudnn_benchmark", "tf32", "deterministic_algorithms", "determinism", "print_conf",
     "legacy_custom_transforms"}
)
SET_SOURCE = "--set"


class Literal(str):
    """Text that came from outside the MMAR (a ``--set`` value): data, never code.

    A config's own ``"#expr"``, ``"@name"`` and ``"lambda ..."`` strings are code (the MMAR is a
    program); the same text arriving as a ``--set`` value stays text wherever it is substituted
    (:mod:`runner.components.expressions` looks for this type), and inside a config's own
    expression it is substituted as a quoted Python literal. It pickles and serialises as a plain
    string, so checkpoints that keep the config (``train_conf``) stay plain data.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict) -> Literal:
        return self

    def __copy__(self) -> Literal:
        return self

    def __reduce__(self) -> tuple:
        return str, (str(self),)


def _map_strings(value: Any, convert: Callable[[str], str]) -> Any:
    """``value`` with every string in it (in lists and dict values too) passed through ``convert``."""
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, list):
        return [_map_strings(v, convert) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, convert) for k, v in value.items()}
    return value


def as_literal(value: Any) -> Any:
    """Every string in ``value`` (a parsed ``--set`` value) as a :class:`Literal`."""
    return _map_strings(value, Literal)


def is_literal(value: Any) -> bool:
    """Whether ``value`` holds text from outside the MMAR anywhere in it."""
    if isinstance(value, Literal):
        return True
    if isinstance(value, list):
        return any(is_literal(v) for v in value)
    if isinstance(value, dict):
        return any(is_literal(v) for v in value.values())
    return False


def parse_literal(text: str) -> Any:
    """Parse a ``--set`` value: booleans in either case, None/null, ints, floats, lists, dicts.

    Anything else stays a string, so ``DATA_ROOT=/data`` needs no quoting. Strings come back as
    :class:`Literal`: a ``--set`` value is never evaluated or dereferenced.
    """
    return as_literal(_parse(text))


def _parse(text: str) -> Any:
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
    sections: frozenset[str] = SECTIONS,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge the variable sources; return the variables and where each one came from.

    Lowest first: runner defaults for the MMAR places, config top level, environment.json, --set.

    Dotted ``--set`` keys (``determinism.random_seed=7``) update a nested global.
    """
    variables: dict[str, Any] = {"MMAR_ROOT": str(root), **DEFAULT_VARIABLES}
    origin: dict[str, str] = dict.fromkeys(variables, "runner default")
    for source, mapping in (("config", config), ("environment", environment)):
        for key, value in mapping.items():
            if source == "config" and key in sections:
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
    """Anchor path variables at the MMAR root, then substitute variables that use other variables.

    Anchoring comes first so that ``"seg_dir": "{MMAR_CKPT_DIR}/segs"`` is absolute too; a path
    variable built from others is anchored again after substitution.
    """
    issues: list[ConfigIssue] = []
    anchored = {key: anchor_path(key, value, root) for key, value in variables.items()}
    resolved: dict[str, Any] = {}
    for key, value in anchored.items():
        new_value = substitute(value, anchored, file_for.get(key, "environment"), key, issues)
        resolved[key] = anchor_path(key, new_value, root)
        if key in PATH_VARIABLES and resolved[key] is not None and not isinstance(resolved[key], str):
            issues.append(ConfigIssue(file_for.get(key, "environment"), key,
                                      f"{key} is a path and must be text, got {type(resolved[key]).__name__} {resolved[key]!r}",
                                      hint=f'give one path, e.g. "{key}": "models"'))
            resolved[key] = None  # not made into a folder named after a list
    return resolved, issues


def anchor_path(key: str, value: Any, root: Path) -> Any:
    """A relative path variable as an absolute path under ``root``; numbers become text first."""
    if key not in PATH_VARIABLES or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        value = str(value)  # --set MMAR_CKPT_DIR=2024 names a folder, not a number
    if not isinstance(value, str) or not value or "{" in value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


def substitute(value: Any, variables: Mapping[str, Any], file: str, path: str, issues: list[ConfigIssue]) -> Any:
    """Return ``value`` with every ``{VAR}`` replaced; record undefined names and cycles in ``issues``."""
    return _substitute(value, variables, file, path, issues, ())


def _substitute(value: Any, variables: Mapping[str, Any], file: str, path: str, issues: list[ConfigIssue],
                expanding: tuple[str, ...]) -> Any:
    """``expanding`` is the chain of variables being expanded, to report ``{a} -> {b} -> {a}``."""
    if isinstance(value, dict):
        return {k: _substitute(v, variables, file, _join(path, k), issues, expanding) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, file, f"{path}[{i}]", issues, expanding) for i, v in enumerate(value)]
    if not isinstance(value, str) or value.lstrip().startswith("lambda"):
        return value

    def lookup(name: str) -> tuple[bool, Any]:
        if name not in variables:
            issues.append(_undefined(name, variables, file, path))
            return False, None
        if name in expanding:
            chain = " -> ".join(f"{{{n}}}" for n in (*expanding[expanding.index(name):], name))
            issues.append(ConfigIssue(file, path, f"variables refer to each other in a cycle: {chain}"))
            return False, None
        return True, _substitute(copy.deepcopy(variables[name]), variables, file, path, issues, (*expanding, name))

    whole = VARIABLE.fullmatch(value)
    if whole:
        found, result = lookup(whole.group(1))
        return result if found else value

    # The MMAR's own expression: outside text goes in quoted. Outside text itself is never a template of code.
    code = not isinstance(value, Literal) and value.lstrip().startswith(("#", "@"))

    def replace(match: re.Match[str]) -> str:
        found, result = lookup(match.group(1))
        if not found:
            return match.group(0)
        return repr(_plain(result)) if code and is_literal(result) else str(result)

    text = VARIABLE.sub(replace, value)
    outside = isinstance(value, Literal) or any(is_literal(variables.get(m.group(1))) for m in VARIABLE.finditer(value))
    return Literal(text) if outside and not code else text


def _plain(value: Any) -> Any:
    """``value`` with Literal strings as plain ones (for repr: ``'text'``, not ``Literal('text')``)."""
    return _map_strings(value, str)


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


def effective_globals(config: Mapping[str, Any], variables: Mapping[str, Any],
                      sections: frozenset[str] = SECTIONS) -> dict[str, Any]:
    """The config's top level with environment and ``--set`` values applied to the globals."""
    result = {k: copy.deepcopy(v) for k, v in config.items()}
    for key in list(result) + sorted(KNOWN_GLOBALS):
        if key in sections or key not in variables:
            continue
        result[key] = copy.deepcopy(variables[key])
    return result


PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_config_path(path: str) -> list[str | int]:
    """``train.pre_transforms[5].args.spatial_size`` as ``["train", "pre_transforms", 5, "args", "spatial_size"]``."""
    return [int(index) if index else key for key, index in PATH_PART.findall(path)]


def value_at(config: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a JSON path of a config: the counterpart of the paths messages print."""
    node = config
    for part in split_config_path(path):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node) or isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def variable_at(raw_config: Mapping[str, Any], path: str) -> str | None:
    """The variable a config value comes from: ``patch_size`` where the file says ``"spatial_size": "{patch_size}"``.

    ``raw_config`` is the config as written (before substitution); only a value that is exactly one
    ``{VAR}`` has a variable to change, so a failure can say ``--set patch_size=...``.
    """
    found, raw = value_at(raw_config, path)
    whole = VARIABLE.fullmatch(raw) if found and isinstance(raw, str) else None
    return whole.group(1) if whole else None
