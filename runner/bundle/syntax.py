"""``$`` strings parsed with :mod:`ast`, never run: what MONAI would hand to ``eval``/``exec``, checked for syntax.

MONAI turns ``$@net.parameters()`` into ``__local_refs['net'].parameters()`` before ``eval``
(``ReferenceResolver.update_refs_pattern``); we make the same substitution with MONAI's own
function so the text we parse is the text MONAI would run. A ``$import ...`` /
``$from ... import ...`` string is one import statement (``ConfigExpression.is_import_statement``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from runner.bundle.ids import shown

LOCAL_REFS = "__local_refs"


@dataclass(frozen=True)
class Parsed:
    """A ``$`` string's syntax tree: an expression (``ast.Expression``) or one import (``ast.Import*``)."""

    tree: ast.Expression | ast.Import | ast.ImportFrom
    source: str


def expression_source(value: str) -> str:
    """The Python text MONAI would run for ``value`` (a ``$`` string), references substituted."""
    from monai.bundle import ReferenceResolver

    refs = ReferenceResolver.match_refs_pattern(value)
    substituted = ReferenceResolver.update_refs_pattern(value, dict.fromkeys(refs))
    return str(substituted)[1:]


def parse_expression(value: str) -> Parsed:
    """Parse a ``$`` string without running it.

    Raises:
        SyntaxError: the text is neither one Python expression nor one import statement.
    """
    source = expression_source(value)
    try:
        return Parsed(ast.parse(source, mode="eval"), source)
    except SyntaxError as as_expression:
        try:
            module = ast.parse(source, mode="exec")
        except SyntaxError:
            raise as_expression from None
        if len(module.body) == 1 and isinstance(module.body[0], (ast.Import, ast.ImportFrom)):
            return Parsed(module.body[0], source)
        raise SyntaxError("not an expression (only one import statement may stand alone)") from None


def ref_id(node: ast.AST) -> str | None:
    """The config id a node stands for when it is a substituted reference ``__local_refs['id']``."""
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == LOCAL_REFS
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return shown(node.slice.value)
    return None
