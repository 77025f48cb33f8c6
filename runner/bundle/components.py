"""Every ``_target_`` item of a bundle: does its class or function exist, and do its arguments fit?

Nothing is instantiated. An item with ``_disabled_: true`` is skipped, as MONAI skips it. A
``_target_`` that is itself a ``$`` expression or an ``@`` reference is only syntax- and
reference-checked (elsewhere); what it evaluates to is not known before it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from runner.bundle.ids import iter_items, shown
from runner.bundle.load import BundleConfig
from runner.bundle.locate import Found, Locator, is_bundle_code
from runner.bundle.scripts_ast import find_in_code
from runner.bundle.signature import NON_ARG_KEYS, Params, mismatches, params_of
from runner.components.packages import missing_package
from runner.errors import ConfigIssue

logger = logging.getLogger(__name__)


def check_components(bundle: BundleConfig, locator: Locator | None = None) -> list[ConfigIssue]:
    """Issues of every component (``_target_`` item) of ``bundle``, errors and not-checked warnings."""
    locator = locator or Locator()
    issues: list[ConfigIssue] = []
    for config_id, item in iter_items(bundle.config):
        if isinstance(item, Mapping) and "_target_" in item and not _disabled(item):
            issues.extend(_check_one(bundle, locator, config_id, item))
    return issues


def _disabled(item: Mapping[str, Any]) -> bool:
    flag = item.get("_disabled_", False)
    return flag.strip().lower() == "true" if isinstance(flag, str) else flag is True


def _check_one(bundle: BundleConfig, locator: Locator, config_id: str, item: Mapping[str, Any]) -> list[ConfigIssue]:
    file, where = bundle.file_of(config_id), shown(config_id)
    target = item["_target_"]
    if not isinstance(target, str):
        return [ConfigIssue(file, f"{where}#_target_", f"_target_ must be a name, got {type(target).__name__}")]
    if target.startswith(("$", "@", "%")):
        return [ConfigIssue(file, where, f"_target_ {target!r} is known only when it runs: its arguments are not checked",
                            severity="warning")]
    arguments = [k for k in item if k not in NON_ARG_KEYS]
    mode = item.get("_mode_", "default")
    if "." in target and is_bundle_code(target, bundle.root):
        code = find_in_code(bundle.root, target)
        if code.error:
            return [ConfigIssue(file, f"{where}#_target_", code.error)]
        if code.params is None:
            return [ConfigIssue(file, where, f"{code.note} (defined in the bundle's code)", severity="warning")]
        return _fit(file, where, target, code.params, arguments, mode)
    located = locator.locate(target)
    if not isinstance(located, Found):
        hint = f"closest known: {', '.join(located.suggestions)}" if located.suggestions else None
        return [ConfigIssue(file, f"{where}#_target_", located.message, hint=hint)]
    issues = []
    if located.also:
        issues.append(ConfigIssue(file, f"{where}#_target_",
                                  f"'{target}' is defined in {located.module} and {', '.join(located.also)}; "
                                  f"MONAI takes {located.module}", hint="write the dotted name to choose",
                                  severity="warning"))
    issues.extend(_missing_package(bundle, file, where, getattr(located.obj, "__name__", target), item))
    params = params_of(located.obj)
    if params is None:
        logger.debug("%s: %s has no signature Python can read; arguments not checked", where, target)
        return issues
    return issues + _fit(file, where, target, params, arguments, mode)


def _fit(file: str, where: str, target: str, params: Params, arguments: list[str], mode: str) -> list[ConfigIssue]:
    return [ConfigIssue(file, f"{where}#{m.argument}" if m.argument in arguments else where, m.message)
            for m in mismatches(target, params, arguments, mode)]


def _missing_package(bundle: BundleConfig, file: str, where: str, name: str, item: Mapping[str, Any]) -> list[ConfigIssue]:
    """A class (or its ``reader``) that imports a package MONAI does not install, missing here.

    MONAI imports these lazily, so the bundle would pass every other check and fail at its first
    image read (the zoo's bundles read with ``ITKReader`` and do not all declare ``itk``).
    """
    missing = missing_package(name, dict(item))
    if missing is None:
        return []
    needed_by, package = missing
    declared = bundle.metadata.get("required_packages_version") or bundle.metadata.get("optional_packages_version") or {}
    undeclared = "" if isinstance(declared, Mapping) and package in declared else \
        "; metadata.json's required_packages_version does not list it either"
    return [ConfigIssue(file, where, f"{needed_by} needs the package {package}, which is not installed here{undeclared}",
                        hint=f"pip install {package}")]
