"""The value of a small expression tree, computed only from literals: never ``eval``.

Bundles build data paths with ``$`` expressions (``@dataset_dir + '/imagesTr/*.nii.gz'``,
``os.path.join(@dataset_dir, 'train', '*.jpg')``). Those shapes can be computed without
running anything:

| node | value |
|---|---|
| string/number literal | itself |
| ``@id`` (substituted ``__local_refs['id']``) | the item's literal value, or its ``$`` string computed the same way |
| ``a + b`` | both strings (or both numbers) |
| f-string | its literal and computed parts |
| ``os.path.join(...)`` | the join of computed arguments |

Anything else raises :class:`NotStatic`, and the caller says "not checked".
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from typing import Any

from runner.bundle.syntax import parse_expression, ref_id

MAX_DEPTH = 16


class NotStatic(Exception):
    """The expression needs something only running it would give."""


def static_value(node: ast.AST, lookup: Callable[[str], Any], depth: int = 0) -> Any:
    """The value of ``node``; ``lookup(id)`` gives a config item's raw value (KeyError: none).

    Raises:
        NotStatic: a part is not a literal or a reference to one.
    """
    if depth > MAX_DEPTH:
        raise NotStatic("references nest too deep")
    if isinstance(node, ast.Expression):
        return static_value(node.body, lookup, depth)
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)):
        return node.value
    target = ref_id(node)
    if target is not None:
        return _referenced(target, lookup, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = static_value(node.left, lookup, depth), static_value(node.right, lookup, depth)
        if isinstance(left, str) == isinstance(right, str):
            return left + right
        raise NotStatic(ast.unparse(node))
    if isinstance(node, ast.JoinedStr):
        return "".join(_fstring_part(v, lookup, depth) for v in node.values)
    if isinstance(node, ast.Call) and _is_os_path_join(node):
        parts = [static_value(a, lookup, depth) for a in node.args]
        if not node.keywords and parts and all(isinstance(p, str) for p in parts):
            return os.path.join(*parts)
    raise NotStatic(ast.unparse(node))


def _referenced(target: str, lookup: Callable[[str], Any], depth: int) -> Any:
    try:
        value = lookup(target)
    except KeyError:
        raise NotStatic(f"@{target} does not exist") from None
    if isinstance(value, str) and value.startswith("$"):
        try:
            return static_value(parse_expression(value).tree, lookup, depth + 1)
        except SyntaxError:
            raise NotStatic(f"@{target} is not valid Python") from None
    if isinstance(value, str) and value.startswith("@"):
        return _referenced(value[1:].replace("::", "#"), lookup, depth + 1)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    raise NotStatic(f"@{target} is not a literal")


def _fstring_part(node: ast.AST, lookup: Callable[[str], Any], depth: int) -> str:
    if isinstance(node, ast.FormattedValue):
        if node.format_spec is not None or node.conversion != -1:
            raise NotStatic(ast.unparse(node))
        return str(static_value(node.value, lookup, depth))
    return str(static_value(node, lookup, depth))


def _is_os_path_join(node: ast.Call) -> bool:
    return (isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "path"
            and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "os")
