"""Every ``$`` string: valid Python (parsed, never run), and ``$import`` of modules that exist.

A top-level module is looked up with ``importlib.util.find_spec``, which finds it without
running it; the bundle's own modules (``scripts``) are only looked for as files.
"""

from __future__ import annotations

import ast
import importlib.util

from runner.bundle.ids import iter_items, shown
from runner.bundle.load import BundleConfig
from runner.bundle.locate import is_bundle_code
from runner.bundle.syntax import parse_expression
from runner.errors import ConfigIssue


def check_expressions(bundle: BundleConfig) -> list[ConfigIssue]:
    """Syntax errors in ``$`` strings and imports of modules that are not installed."""
    issues: list[ConfigIssue] = []
    for config_id, value in iter_items(bundle.config):
        if not (isinstance(value, str) and value.startswith("$")):
            continue
        file, where = bundle.file_of(config_id), shown(config_id)
        try:
            parsed = parse_expression(value)
        except SyntaxError as exc:
            column = f" (column {exc.offset})" if exc.offset else ""
            issues.append(ConfigIssue(file, where, f"{value!r} is not valid Python: {exc.msg}{column}"))
            continue
        if isinstance(parsed.tree, (ast.Import, ast.ImportFrom)):
            issues.extend(ConfigIssue(file, where, f"{value!r}: no module named {name} is installed",
                                      hint=_in_scripts_hint(bundle, name))
                          for name in _missing_modules(parsed.tree, bundle))
    return issues


def _missing_modules(node: ast.Import | ast.ImportFrom, bundle: BundleConfig) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        names = [node.module] if node.module and node.level == 0 else []
    else:
        names = [alias.name for alias in node.names]
    missing = []
    for name in names:
        top = name.split(".", 1)[0]
        if is_bundle_code(name, bundle.root):
            continue
        if importlib.util.find_spec(top) is None:
            missing.append(top)
    return missing


def _in_scripts_hint(bundle: BundleConfig, name: str) -> str | None:
    """The bundle root is on the import path when MONAI runs a bundle, scripts/ is not."""
    if (bundle.root / "scripts" / f"{name}.py").is_file() or (bundle.root / "scripts" / name).is_dir():
        return f"scripts/{name} is in the bundle: import it as scripts.{name}"
    return None
