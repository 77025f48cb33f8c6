"""The only place that evaluates config text as Python: ``"#expr"`` and ``"lambda ..."`` strings.

Only the MMAR's own strings are code: a value that came from ``--set`` is a
:class:`~runner.config.vars.Literal` and is never evaluated or dereferenced, whatever it starts with.

``@name`` tokens inside an expression stand for already-built components (4.1 dialect:
``"#@model.parameters()"``). The namespace holds ``monai``, ``torch``, ``np``/``numpy`` and the
referenced objects, nothing else; Clara users wrote ``__import__('monai')`` because it had less.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from runner.config.vars import Literal

REFERENCE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_TOKEN = re.compile(r"(?<![\w)\].])@([A-Za-z_][A-Za-z0-9_]*)")


def _code(value: Any) -> bool:
    """A string of the MMAR's own; text from outside it (a ``--set`` value, a :class:`Literal`) is never code."""
    return isinstance(value, str) and not isinstance(value, Literal)


def is_reference(value: Any) -> bool:
    """A whole-string reference such as ``"@model"``."""
    return _code(value) and REFERENCE.fullmatch(value) is not None


def is_expression(value: Any) -> bool:
    return _code(value) and value.startswith("#")


def is_lambda(value: Any) -> bool:
    return _code(value) and value.lstrip().startswith("lambda") and ":" in value


def referenced_names(value: Any) -> list[str]:
    """Names a string refers to: ``@x``, or the ``@`` tokens inside a ``#`` expression or lambda."""
    if is_reference(value):
        return [value[1:]]
    if is_expression(value):
        return _TOKEN.findall(value[1:])
    if is_lambda(value):
        return _TOKEN.findall(value)
    return []


def python_source(value: str) -> str:
    """The Python text of an expression or lambda string, with ``@x`` tokens made identifiers."""
    body = value[1:] if value.startswith("#") else value
    return _TOKEN.sub(lambda m: f"__ref_{m.group(1)}", body)


def compile_source(value: str) -> None:
    """Raise ``SyntaxError`` if the string is not a valid Python expression."""
    compile(python_source(value), "<config>", "eval")


def evaluate(value: str, resolve_ref: Callable[[str], Any], extra: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an expression or lambda string; ``resolve_ref(name)`` supplies ``@name`` objects."""
    import monai
    import numpy
    import torch

    namespace: dict[str, Any] = {"monai": monai, "torch": torch, "np": numpy, "numpy": numpy}
    if extra:
        namespace.update(extra)
    for name in referenced_names(value):
        namespace[f"__ref_{name}"] = resolve_ref(name)
    return eval(compile(python_source(value), "<config>", "eval"), namespace)  # noqa: S307 - config is code by design
