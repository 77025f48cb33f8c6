"""Spec -> importable target, and argument binding against its signature (no construction).

``mmar check`` uses these to find unknown names, bad imports and arguments a class does not
accept before anything heavy runs; the builder uses the same functions before constructing.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from typing import Any

from runner.components.registry import TargetNotFound, find_by_name, import_path
from runner.config.models import ComponentSpec
from runner.errors import ComponentError


def resolve_target(spec: ComponentSpec, file: str, config_path: str) -> Any:
    """The class or function a spec names; ``path`` wins over ``name``."""
    try:
        return import_path(spec.path) if spec.path else find_by_name(spec.name or "")
    except TargetNotFound as exc:
        where = f"{config_path}.path" if spec.path else f"{config_path}.name"
        raise ComponentError(file, where, exc.failure.message, exc.failure.hint) from exc


def signature_of(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def accepts(target: Any, name: str) -> bool:
    """Whether ``target`` takes a parameter literally called ``name`` (``**kwargs`` does not count)."""
    signature = signature_of(target)
    if signature is None:
        return False
    parameter = signature.parameters.get(name)
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def check_binding(target: Any, names: Iterable[str], label: str, file: str, config_path: str) -> None:
    """Raise ``ComponentError`` if ``target(**{name: ...})`` could not be called with these names."""
    signature = signature_of(target)
    if signature is None:
        return
    names = list(names)
    try:
        signature.bind(**dict.fromkeys(names))
    except TypeError as exc:
        message = str(exc)
        accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
        hint = None
        if "unexpected keyword argument" in message:
            bad = message.rsplit("'", 2)[-2] if message.count("'") >= 2 else ""
            close = difflib.get_close_matches(bad, accepted, n=3)
            hint = (f"did you mean {', '.join(close)}? " if close else "") + f"{label} accepts: {', '.join(accepted)}"
            message = f"{label} does not accept argument '{bad}'"
            raise ComponentError(file, f"{config_path}.args.{bad}", message, hint) from exc
        if "missing a required argument" in message:
            missing = message.rsplit("'", 2)[-2] if message.count("'") >= 2 else ""
            message = f"{label} needs argument '{missing}', which is neither given in args nor wired by the runner"
            hint = f"add \"{missing}\" to {config_path}.args"
        raise ComponentError(file, f"{config_path}.args", message, hint) from exc
