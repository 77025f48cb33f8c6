"""A ``_target_`` in the bundle's own code (``scripts.net.Net``), read with :mod:`ast` instead of imported.

Importing ``scripts/`` would run the bundle's code, which ``mmar check`` must not do. We find
the file, the top-level class or function, and its parameters (a class's from its own
``__init__``); what the file does not show plainly (re-exports, inherited constructors) is
reported as not checked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from runner.bundle.signature import Params


@dataclass(frozen=True)
class CodeTarget:
    """What reading the bundle's code found: ``params`` (None: not checked, ``note`` says why) or an ``error``."""

    file: str | None = None
    params: Params | None = None
    note: str | None = None
    error: str | None = None


def module_file(root: Path, module: list[str]) -> Path | None:
    """``scripts.net`` -> ``scripts/net.py`` (or ``scripts/net/__init__.py``) under the bundle root."""
    base = root.joinpath(*module)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def find_in_code(root: Path, target: str) -> CodeTarget:
    """Locate ``target`` (dotted, inside the bundle) in its file and read its parameters."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        path = module_file(root, parts[:cut])
        if path is None:
            continue
        shown = str(path.relative_to(root))
        if cut != len(parts) - 1:
            if _read(path, shown, parts[cut]).error:  # neither a module file nor a name in the package
                break
            return CodeTarget(shown, note=f"{target}: nested attribute of {shown}, not checked")
        return _read(path, shown, parts[-1])
    return CodeTarget(error=f"unknown _target_ '{target}': no file {'/'.join(parts[:-1])}.py in the bundle")


def _read(path: Path, shown: str, name: str) -> CodeTarget:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=shown)
    except SyntaxError as exc:
        return CodeTarget(shown, error=f"{shown} line {exc.lineno}: invalid Python: {exc.msg}")
    except (OSError, UnicodeDecodeError) as exc:
        return CodeTarget(shown, error=f"{shown}: cannot read: {exc}")
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return CodeTarget(shown, params=_params(node.args, skip_first=False))
        if isinstance(node, ast.ClassDef) and node.name == name:
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is None:
                return CodeTarget(shown, note=f"{name} in {shown} inherits its constructor: arguments not checked")
            return CodeTarget(shown, params=_params(init.args, skip_first=True))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            return CodeTarget(shown, note=f"{name} is imported into {shown} from elsewhere: arguments not checked")
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return CodeTarget(shown, note=f"{name} is assigned in {shown}: arguments not checked")
    return CodeTarget(shown, error=f"{shown} defines no class or function {name}")


def _params(args: ast.arguments, skip_first: bool) -> Params:
    positional = [(a, True) for a in args.posonlyargs] + [(a, False) for a in args.args]
    defaults_from = len(positional) - len(args.defaults)
    entries = [(a.arg, posonly, i >= defaults_from) for i, (a, posonly) in enumerate(positional)]
    if skip_first:
        entries = entries[1:]  # self
    names = [n for n, posonly, _ in entries if not posonly] + [a.arg for a in args.kwonlyargs]
    required = [n for n, posonly, has_default in entries if not posonly and not has_default]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    return Params(tuple(names), tuple(required), args.kwarg is not None)
