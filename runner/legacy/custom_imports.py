"""The MONAI names an MMAR's custom/ code imports, checked against today's MONAI and rewritten by ``mmar migrate``.

The source is read, never run: every ``from monai... import X`` and every ``monai.a.b.X`` attribute
chain is looked up in :mod:`runner.legacy.monai_names`. A removed name with a successor needs
nothing here (the run resolves it and warns once, see :mod:`runner.legacy.import_shim`);
``mmar check`` reports as errors, before anything trains: a removed name with no successor (with
the MONAI release that removed it), a lowercase alias that now imports a submodule, and a name
today's MONAI does not have at all. ``mmar migrate`` rewrites the import statements in place, one line for one line, so line
numbers in tracebacks stay the same.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ConfigIssue
from runner.legacy.monai_names import REMOVED_MODULES, SHADOWED_BY_SUBMODULE, RemovedName, rows_in

MIGRATE_IMPORTS_HINT = "mmar migrate MMAR rewrites these imports in custom/"


@dataclass(frozen=True)
class NameUse:
    """One use of a MONAI name in custom code: ``from module import name`` or ``module.name``."""

    file: Path
    line: int
    module: str
    name: str
    row: RemovedName | None


def python_files(custom: Path) -> list[Path]:
    return sorted(p for p in custom.rglob("*.py") if "__pycache__" not in p.parts) if custom.is_dir() else []


def monai_names_used(source: str, file: Path) -> list[NameUse]:
    """Every MONAI name a module's source imports or reaches by attribute; [] if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # reported where the module is imported, with its line
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "monai":
            uses += [NameUse(file, node.lineno, node.module, alias.name, rows_in(node.module).get(alias.name))
                     for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted and dotted.startswith("monai.") and dotted.count(".") >= 2:
                module, _, name = dotted.rpartition(".")
                row = rows_in(module).get(name)
                if row is not None or module in REMOVED_MODULES:
                    uses.append(NameUse(file, node.lineno, module, name, row))
    return uses


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def check_custom_imports(root: Path) -> list[ConfigIssue]:
    """``mmar check``'s findings in custom/ (warnings for names the run resolves, errors for the rest)."""
    issues = []
    seen: set[tuple[Path, int, str, str]] = set()
    for file in python_files(root / "custom"):
        for use in monai_names_used(file.read_text(encoding="utf-8", errors="replace"), file):
            key = (use.file, use.line, use.module, use.name)
            if key in seen:
                continue
            seen.add(key)
            issue = _issue(use, str(file.relative_to(root)))
            if issue is not None:
                issues.append(issue)
    return issues


def _issue(use: NameUse, shown: str) -> ConfigIssue | None:
    where, qualified = f"line {use.line}", f"{use.module}.{use.name}"
    row = use.row
    if row is not None and (use.module, use.name) in SHADOWED_BY_SUBMODULE:
        return ConfigIssue(shown, where, f"{qualified} is the submodule {use.module}.{use.name} since MONAI {row.removed}, not the "
                           f"{row.successor.rsplit('.', 1)[-1]} it was", hint=f"import {row.successor}; {MIGRATE_IMPORTS_HINT}")
    if row is not None and row.successor is None:
        return ConfigIssue(shown, where, f"{qualified} was removed in MONAI {row.removed} and has no successor: {row.note}")
    if row is not None:
        return None  # resolved while the MMAR runs, with one warning from runner.legacy.import_shim when it is imported
    if use.module in REMOVED_MODULES:
        return ConfigIssue(shown, where, f"{use.module} was removed from MONAI, and {use.name} was not in it in MONAI 0.5-0.8")
    try:
        module = importlib.import_module(use.module)
    except ImportError:
        return ConfigIssue(shown, where, f"module {use.module} does not exist in today's MONAI")
    if not hasattr(module, use.name):
        try:
            importlib.import_module(qualified)  # a submodule: from monai.apps import deepgrow
        except ImportError:
            return ConfigIssue(shown, where, f"{use.module} has no name {use.name} in today's MONAI")
    return None


# ---- mmar migrate: rewrite the imports ------------------------------------------------------------


@dataclass(frozen=True)
class SourceChange:
    line: int
    old: str
    new: str


def migrate_source(source: str) -> tuple[str, list[SourceChange]]:
    """The source with every ``from monai... import`` of a removed name pointed at its successor.

    One statement keeps its lines: a multi-line import becomes one line plus empty lines. Names with
    no successor are left as they are (``mmar check`` reports them).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source, []
    lines = source.splitlines(keepends=True)
    changes = []
    edits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("monai")):
            continue
        rows = rows_in(node.module)
        if not any(rows.get(a.name) and rows[a.name].successor for a in node.names):
            continue
        statements = _split_import(node, rows)
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        old = "".join(lines[first:last + 1])
        new = indent + "; ".join(statements) + "\n" + "\n" * (last - first)
        edits.append((first, last, new))
        changes.append(SourceChange(node.lineno, " ".join(old.split()), "; ".join(statements)))
    for node in ast.walk(tree):  # monai.metrics.compute_meandice(...) -> monai.metrics.compute_dice(...)
        dotted = _dotted(node) if isinstance(node, ast.Attribute) else None
        module, _, name = (dotted or "").rpartition(".")
        row = rows_in(module).get(name) if module.startswith("monai") else None
        if row is not None and row.successor and row.successor.startswith("monai.") and dotted in lines[node.lineno - 1]:
            lines[node.lineno - 1] = lines[node.lineno - 1].replace(dotted, row.successor)
            changes.append(SourceChange(node.lineno, dotted, row.successor))
    for first, last, new in sorted(edits, reverse=True):
        lines[first:last + 1] = [new]
    changes.sort(key=lambda change: change.line)
    return "".join(lines), changes


def _split_import(node: ast.ImportFrom, rows: dict[str, RemovedName]) -> list[str]:
    """``from m import a, old as x`` -> ``from m import a`` + ``from succ import new as x``."""
    kept: list[str] = []
    moved: dict[str, list[str]] = {}
    for alias in node.names:
        row = rows.get(alias.name)
        bound = alias.asname or alias.name
        if row is None or row.successor is None:
            kept.append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
            continue
        module, _, attribute = row.successor.rpartition(".")
        imported = attribute if attribute == bound else f"{attribute} as {bound}"
        (kept if module == node.module else moved.setdefault(module, [])).append(imported)
    statements = [f"from {node.module} import {', '.join(kept)}"] if kept else []
    statements += [f"from {module} import {', '.join(names)}" for module, names in moved.items()]
    return statements
