"""The seed a bundle asks for: the literal of its own ``set_determinism(seed=N)`` call, read without running it.

``seed=@seed`` counts too when the top-level ``seed`` item is an integer (``--set seed=3`` changes it).

Zoo bundles seed themselves in ``initialize`` (``"$monai.utils.set_determinism(seed=123)"``).
The runner pins every RNG with that same seed before MONAI parses anything, so the bundle's
own call is honoured and the manifest names the seed. A bundle that calls it with
``seed=None`` or not at all is pinned with the runner's default seed, and the manifest says so.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_BUNDLE_SEED = 0
INIT_ID = "initialize"
REF_PREFIX = "_mmar_ref_"  # an ``@id`` reference, made a Python name so the expression parses


@dataclass(frozen=True)
class BundleSeed:
    seed: int
    source: str  # "initialize#2" (the bundle's own call) or "default"


def bundle_seed(config: Mapping[str, Any]) -> BundleSeed:
    """The first ``set_determinism`` call with an integer seed in ``initialize``; else the default."""
    items = config.get(INIT_ID)
    expressions = items if isinstance(items, list) else [items]
    for index, text in enumerate(expressions):
        if not isinstance(text, str) or not text.startswith("$"):
            continue
        seed = _seed_in(text[1:], config)
        if seed is not None:
            return BundleSeed(seed, f"{INIT_ID}#{index}" if isinstance(items, list) else INIT_ID)
    return BundleSeed(DEFAULT_BUNDLE_SEED, "default")


def _seed_in(source: str, config: Mapping[str, Any]) -> int | None:
    """The seed argument of a ``set_determinism`` call in ``source``: an int literal, or ``@id`` of a top-level int."""
    try:
        tree = ast.parse(source.replace("@", REF_PREFIX), mode="exec")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "set_determinism":
            value = next((k.value for k in node.keywords if k.arg == "seed"), node.args[0] if node.args else None)
            if isinstance(value, ast.Name) and value.id.startswith(REF_PREFIX):
                value = ast.Constant(config.get(value.id.removeprefix(REF_PREFIX)))
            if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
                return value.value
    return None


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None
