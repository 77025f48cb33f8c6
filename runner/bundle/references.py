"""``@id`` references and ``%file#id`` / ``%id`` macros that point at nothing, found without resolving anything.

Relative forms (``@#x``, ``%##x``) are made absolute with MONAI's ``resolve_relative_ids``;
references are found with ``match_refs_pattern`` (an ``@`` counts in a ``$`` string or when it
is the whole value, as in MONAI); macro paths are split with ``split_path_id``. A macro's file
is read as data (JSON/YAML) to look the id up; a relative path is taken from the bundle root,
the folder bundles are run from.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from runner.bundle.ids import all_ids, iter_items, shown
from runner.bundle.load import BundleConfig, load_config_file
from runner.errors import ConfigIssue, MmarLayoutError

MACRO = "%"


def check_references(bundle: BundleConfig) -> list[ConfigIssue]:
    """Every reference or macro in ``bundle`` whose target id or file does not exist."""
    from monai.bundle import ConfigParser, ReferenceResolver

    parser = bundle.parser()
    known = all_ids(bundle.config)
    issues: list[ConfigIssue] = []
    for config_id, value in iter_items(bundle.config):
        if not isinstance(value, str) or not value.startswith(("$", "@", MACRO)):
            continue
        file = bundle.file_of(config_id)
        try:
            absolute = ConfigParser.resolve_relative_ids(config_id, value)
        except ValueError as exc:
            issues.append(ConfigIssue(file, shown(config_id), str(exc)))
            continue
        if absolute.startswith(MACRO):
            issues.extend(_check_macro(bundle, parser, known, file, config_id, absolute, value))
            continue
        for target in ReferenceResolver.match_refs_pattern(absolute):
            if target not in parser:
                issues.append(ConfigIssue(file, shown(config_id), f"reference @{shown(target)}: no item has that id",
                                          hint=_closest(shown(target), known, "@")))
    return issues


def _check_macro(bundle: BundleConfig, parser: Any, known: list[str], file: str, config_id: str,
                 absolute: str, value: str) -> list[ConfigIssue]:
    """``value`` as written (for messages), ``absolute`` with relative ids resolved (for the lookup)."""
    from monai.bundle import ConfigParser

    path, target = ConfigParser.split_path_id(absolute[len(MACRO):])
    where = shown(config_id)
    if not path:
        if target in parser:
            return []
        return [ConfigIssue(file, where, f"macro %{shown(target)}: no item has that id",
                            hint=_closest(shown(target), known, MACRO))]
    source = Path(path).expanduser()
    source = source if source.is_absolute() else bundle.root / source
    if not source.is_file():
        return [ConfigIssue(file, where, f"macro {value}: file {path} not found (relative paths start at the bundle root)")]
    try:
        content, _ = load_config_file(source, path)
    except MmarLayoutError as exc:
        return [ConfigIssue(file, where, f"macro {value}: {exc.message}")]
    if target and target not in ConfigParser(config=content):
        return [ConfigIssue(file, where, f"macro {value}: {path} has no item {shown(target)}",
                            hint=_closest(shown(target), all_ids(content), f"{MACRO}{path}#"))]
    return []


def _closest(wanted: str, known: list[str], prefix: str) -> str | None:
    matches = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    return f"did you mean {', '.join(prefix + m for m in matches)}?" if matches else None

