"""``mmar migrate``: a copy of an MMAR whose configs and custom code use today's MONAI names.

The copy is the whole MMAR (custom code, commands, docs, data) without outputs (models/, eval/)
or caches; each config in config/ is rewritten with the alias table, and each module in custom/
gets its imports of removed MONAI names pointed at their successors. The original
is never touched, and nothing is written when a config cannot be rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.config.kinds import kind_of
from runner.config.load import meaning_under
from runner.config.vars import merge_variables, resolve_variables
from runner.errors import ConfigError, MmarLayoutError, MmarRunnerError
from runner.jsonio import load_json
from runner.legacy.config_rewrite import AliasUse, rewrite_config
from runner.legacy.custom_imports import SourceChange, migrate_source, python_files
from runner.mmar import DEFAULT_ENVIRONMENT, display_path

SKIPPED = ("models", "eval", "__pycache__", "*.pyc", ".git")


def _meaning_in(source: Path, raw: dict) -> Callable[[Any], Any]:
    """Values with the config's and environment.json's variables substituted (no --set: migrate writes files)."""
    environment_file = source / DEFAULT_ENVIRONMENT
    environment = load_json(environment_file) if environment_file.is_file() else {}
    merged, _ = merge_variables(raw, environment if isinstance(environment, dict) else {}, {}, source, kind_of(raw).sections)
    variables, _ = resolve_variables(merged, source, {})
    return meaning_under(variables)


@dataclass(frozen=True)
class Migration:
    source: Path
    target: Path
    changes: dict[str, list[AliasUse]]  # config file (relative) -> what was rewritten
    code_changes: dict[str, list[SourceChange]] = field(default_factory=dict)  # custom/ file (relative) -> imports rewritten


def migrate_mmar(source: Path, target: Path | None = None, force: bool = False) -> Migration:
    """Copy ``source`` to ``target`` (default ``<source>-migrated``) with every config rewritten.

    Raises:
        MmarLayoutError: no such MMAR, or the target exists (without ``force``).
        ConfigError: a config cannot be rewritten (e.g. old and new argument both given).
    """
    source = source.expanduser().resolve()
    if not (source / "config").is_dir():
        raise MmarLayoutError(f"{source}: not an MMAR (no config/ folder)")
    target = (target or source.with_name(source.name + "-migrated")).expanduser().resolve()
    if target == source or source in target.parents:
        raise MmarRunnerError(f"--out {target}: must be outside the MMAR being migrated")
    if target.exists() and not force:
        raise MmarLayoutError(f"{target} already exists", hint="choose another --out, or pass --force to replace it")
    rewritten: dict[str, tuple[dict, list[AliasUse]]] = {}
    errors = []
    for path in sorted((source / "config").glob("*.json")):
        raw = load_json(path, display_path(source, path))
        if not isinstance(raw, dict) or not ({"train", "evaluator"} & set(raw)):
            continue  # environment.json and other data files
        shown = display_path(source, path)
        result = rewrite_config(raw, kind_of(raw), shown, resolve=_meaning_in(source, raw))
        errors += result.errors
        rewritten[shown] = (result.config, result.uses)
    if errors:
        raise ConfigError(errors)
    staging = target.with_name(f".{target.name}.migrating-{os.getpid()}")
    try:
        # Built beside the target and renamed into place: a failure leaves no half-migrated MMAR.
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns(*SKIPPED), symlinks=True)
        for folder in ("models", "eval"):
            if (source / folder).is_dir():
                (staging / folder).mkdir(exist_ok=True)
        for shown, (config, uses) in rewritten.items():
            if uses:
                (staging / shown).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        code_changes = _migrate_custom_code(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Migration(source, target, {shown: uses for shown, (_, uses) in rewritten.items()}, code_changes)


def _migrate_custom_code(root: Path) -> dict[str, list[SourceChange]]:
    """Rewrite the removed-MONAI-name imports of every custom/ module in place (in the staged copy)."""
    changed = {}
    for file in python_files(root / "custom"):
        source = file.read_text(encoding="utf-8")
        migrated, changes = migrate_source(source)
        if changes:
            file.write_text(migrated, encoding="utf-8")
            changed[str(file.relative_to(root))] = changes
    return changed
