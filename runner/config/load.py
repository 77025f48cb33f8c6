"""The single entry from files to a validated config.

Phases, each a small step: read the MMAR -> parse ``--set`` -> merge variables (config <
environment.json < --set) -> substitute ``{VAR}`` -> validate with pydantic -> detect the dialect.
Every problem from every phase is collected and raised together as one ``ConfigError``.
"""

from __future__ import annotations

import copy
import difflib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ValidationError

from runner.config.kinds import TRAIN, ConfigKind, foreign_config, kind_of
from runner.config.models import Dialect, EnvironmentConfig, EvalConfig, TrainConfig
from runner.config.report import issues_from_validation
from runner.config.vars import (
    DEFAULT_VARIABLES,
    KNOWN_GLOBALS,
    PATH_VARIABLES,
    SET_SOURCE,
    effective_globals,
    merge_variables,
    parse_overrides,
    resolve_variables,
    substitute,
)
from runner.errors import ConfigError, ConfigIssue
from runner.legacy.automl import SearchSpace, check_point, collapse_alternatives, describe_point, expand_search_space
from runner.legacy.config_rewrite import rewrite_config
from runner.mmar import Mmar, load_mmar

logger = logging.getLogger(__name__)

DEFAULT_SEED = 0


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with everything later phases need to know about its origin."""

    mmar: Mmar
    model: TrainConfig | EvalConfig
    resolved: dict[str, Any]  # substituted JSON of the whole config (what "@conf" means)
    variables: dict[str, Any]
    overrides: dict[str, Any]
    dialect: Dialect
    seed: int
    warnings: list[ConfigIssue] = field(default_factory=list)
    errors: list[ConfigIssue] = field(default_factory=list)  # only when loaded with strict=False
    kind: ConfigKind = TRAIN
    search_point: str | None = None  # an AutoML search space: the point this run takes (variables=values)

    @property
    def file(self) -> str:
        return self.mmar.config_name

    @property
    def ckpt_dir(self) -> Path:
        return Path(str(self.variables.get("MMAR_CKPT_DIR") or self.mmar.root / "models"))


def detect_dialect(config: Mapping[str, Any], environment: Mapping[str, Any]) -> Dialect:
    """4.1 when CLARA_TRAIN_VERSION >= 4.1 is declared or any string starts with '@' or '#'."""
    for source in (config, environment):
        declared = source.get("CLARA_TRAIN_VERSION")
        if declared is not None:
            try:
                if Version(str(declared)) >= Version("4.1"):
                    return "4.1"
            except InvalidVersion:
                pass
    return "4.1" if _has_reference(config) else "4.0"


def _has_reference(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(("@", "#"))
    if isinstance(value, dict):
        return any(_has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


def load_train_config(
    root: str | Path,
    config: str | Path | None = None,
    environment: str | Path | None = None,
    overrides: Iterable[str] = (),
    strict: bool = True,
) -> LoadedConfig:
    """Read, substitute and validate an MMAR's training config (see :func:`load_config`)."""
    return load_config(root, config, environment, overrides, strict, TRAIN)


def load_config(
    root: str | Path,
    config: str | Path | None = None,
    environment: str | Path | None = None,
    overrides: Iterable[str] = (),
    strict: bool = True,
    kind: ConfigKind | None = TRAIN,
) -> LoadedConfig:
    """Read, substitute and validate one of an MMAR's configs; ``kind`` says which.

    With ``strict=False`` (``mmar check``), problems that leave the config's shape intact (an
    undefined variable, a bad ``--set`` word) are returned in ``errors`` instead of raised, so
    the component check can still run and every problem is reported in one pass.

    Raises:
        MmarLayoutError: missing folder/file or invalid JSON.
        ConfigError: every substitution and schema problem found, in one error.
    """
    mmar = load_mmar(root, config or (kind or TRAIN).default_file, environment)
    foreign = foreign_config(mmar.config)
    if foreign is not None:
        raise ConfigError([ConfigIssue(mmar.config_name, "", foreign.message, foreign.hint)])
    kind = kind or kind_of(mmar.config)  # None: tell from the file (mmar check -c any config)
    space: SearchSpace | None = None
    if not kind.flat:  # an AutoML search space becomes variables at its first point
        expanded, space, issues = expand_search_space(mmar.config, mmar.config_name)
        mmar = replace(mmar, config=expanded)
    else:
        issues = []
    dialect = detect_dialect(mmar.config, mmar.environment)  # before aliases are rewritten (after a search space is: "@disabled" is no reference)
    set_values, set_issues = parse_overrides(overrides)
    issues += set_issues
    try:
        EnvironmentConfig.model_validate(mmar.environment)
    except ValidationError as exc:
        issues += issues_from_validation(exc, mmar.environment_name)
    merged, origin = merge_variables(mmar.config, mmar.environment, set_values, mmar.root, kind.sections)
    file_for = {k: {"config": mmar.config_name, "environment": mmar.environment_name}.get(v, v) for k, v in origin.items()}
    variables, var_issues = resolve_variables(merged, mmar.root, file_for)
    issues += var_issues
    legacy = rewrite_config(mmar.config, kind, mmar.config_name, resolve=meaning_under(variables))
    mmar = replace(mmar, config=legacy.config)
    issues += legacy.errors
    top = effective_globals(mmar.config, variables, kind.sections)
    resolved: dict[str, Any] = substitute(top, variables, mmar.config_name, "", issues)
    search_point = None
    if space is not None:
        resolved, chosen, space_issues = collapse_alternatives(resolved, mmar.config_name)
        issues += space_issues + check_point(space, variables, mmar.config_name)
        search_point = describe_point(space, variables, chosen)
    issues += section_overrides(set_values, kind.sections)
    errors = [i for i in issues if i.severity == "error"]
    model, schema_errors = validate_salvaging(kind.schema, resolved, kind.sections, mmar.config_name)
    errors += schema_errors
    if model is None or (errors and strict):
        raise ConfigError(_dedupe(errors))
    warnings: list[ConfigIssue] = [use.issue(mmar.config_name) for use in legacy.uses]
    warnings += unused_overrides(set_values, mmar.config, mmar.environment, kind.sections)
    if model.determinism is None and not kind.flat:
        warnings.append(
            ConfigIssue(mmar.config_name, "determinism", f"no seed given; using random_seed={DEFAULT_SEED}",
                        hint='add "determinism": {"random_seed": 0} to make the choice explicit', severity="warning")
        )
    seed = model.determinism.random_seed if model.determinism else DEFAULT_SEED
    return LoadedConfig(mmar, model, resolved, variables, set_values, dialect, seed, warnings, _dedupe(errors), kind, search_point)


SALVAGE_ROUNDS = 4
PRUNED_ENTRY = {"name": "Identity", "disabled": True}  # keeps a list's indexes while its broken entry sits out


def validate_salvaging(schema: type[BaseModel], resolved: dict[str, Any], sections: frozenset[str],
                       file: str) -> tuple[Any, list[ConfigIssue]]:
    """Validate; when that fails, still return a model of the rest of the config, with the schema's issues.

    A bad seed must not hide an unknown component name (``mmar check`` reports every problem at
    once): the keys the schema rejects are left out (top-level keys take their defaults, a broken
    list entry is switched off in place so later indexes stay true) and the rest validated again,
    so the component and datalist checks still run. None when nothing valid is left.
    """
    try:
        return schema.model_validate(resolved), []
    except ValidationError as exc:
        issues, failed = issues_from_validation(exc, file), exc
    candidate = resolved
    for _ in range(SALVAGE_ROUNDS):
        candidate = _pruned(candidate, [tuple(e["loc"]) for e in failed.errors(include_url=False)], sections)
        try:
            return schema.model_validate(candidate), issues
        except ValidationError as exc:
            failed = exc
    return None, issues


def _pruned(config: dict[str, Any], locations: list[tuple[Any, ...]], sections: frozenset[str]) -> dict[str, Any]:
    pruned = copy.deepcopy(config)
    for loc in locations:
        if not loc:
            continue
        head = loc[0]
        section = pruned.get(head) if head in sections else None
        if not isinstance(section, dict) or len(loc) < 2:
            pruned.pop(head, None)
            continue
        slot = section.get(loc[1])
        if isinstance(slot, list) and len(loc) >= 3 and isinstance(loc[2], int) and loc[2] < len(slot):
            slot[loc[2]] = dict(PRUNED_ENTRY)
        else:
            section.pop(loc[1], None)
    return pruned


def meaning_under(variables: Mapping[str, Any]) -> Callable[[Any], Any]:
    """A value with ``{VAR}`` substituted, for comparisons; undefined names are left as written (reported elsewhere)."""
    return lambda value: substitute(value, variables, "", "", [])


def section_overrides(overrides: Mapping[str, Any], sections: frozenset[str] = TRAIN.sections) -> list[ConfigIssue]:
    """``--set train.x=1`` would silently do nothing: sections are changed through variables."""
    shown = "the train/validate sections" if sections == TRAIN.sections else "the components"
    return [
        ConfigIssue(SET_SOURCE, key, f"--set changes variables, not {shown}",
                    hint='put a variable at the top of the config ("my_var": 1), use "{my_var}" in the section, then --set my_var=...')
        for key in overrides
        if key.split(".")[0] in sections
    ]


def unused_overrides(overrides: Mapping[str, Any], config: Mapping[str, Any], environment: Mapping[str, Any],
                     sections: frozenset[str] = TRAIN.sections) -> list[ConfigIssue]:
    """Warn about ``--set`` names nothing defines or uses (``epoch=2`` for ``epochs``)."""
    text = json.dumps(config)
    known = set(config) | set(environment) | set(DEFAULT_VARIABLES) | KNOWN_GLOBALS | PATH_VARIABLES
    warnings = []
    for key in overrides:
        name = key.split(".")[0]
        if name in sections or name in known or "{" + name + "}" in text:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3)
        warnings.append(ConfigIssue(SET_SOURCE, key, f"no variable '{name}' is defined or used; this override has no effect",
                                    hint=f"did you mean {', '.join(close)}?" if close else None, severity="warning"))
    return warnings


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for issue in issues:
        key = (issue.file, issue.path, issue.message)
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return unique
