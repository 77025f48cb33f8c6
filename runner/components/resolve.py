"""Spec -> importable target, and argument binding against its signature (no construction).

``mmar check`` uses these to find unknown names, bad imports and arguments a class does not
accept before anything heavy runs; the builder uses the same functions before constructing.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from typing import Any

from runner.components.registry import TargetNotFound, dictionary_form, find_by_name, import_path
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


def named_parameters(target: Any) -> dict[str, inspect.Parameter]:
    """The parameters ``target`` takes by name.

    A subclass whose ``__init__`` ends in ``**kwargs`` usually passes them on to its base
    (``def __init__(self, *args, extra=1, **kwargs): super().__init__(*args, **kwargs)``, the
    usual shape of a custom trainer), so the base's named parameters count as accepted too.
    """
    signature = signature_of(target)
    if signature is None:
        return {}
    named = {n: p for n, p in signature.parameters.items()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if forwards and inspect.isclass(target):
        base = next((b for b in target.__mro__[1:] if "__init__" in vars(b)), object)
        if base is not object:
            for name, parameter in named_parameters(base).items():
                named.setdefault(name, parameter)
    return named


def accepts(target: Any, name: str) -> bool:
    """Whether ``target`` takes a parameter called ``name``, itself or through ``**kwargs`` to its base class."""
    return name in named_parameters(target)


def check_binding(target: Any, names: Iterable[str], label: str, file: str, config_path: str) -> None:
    """Raise ``ComponentError`` if ``target(**{name: ...})`` could not be called with these names."""
    signature = signature_of(target)
    if signature is None:
        return
    names = list(names)
    accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
    keywords = {name for name, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        # an unknown name first: a misspelt argument also reads as "required argument missing"
        unknown = [name for name in names if name not in keywords]
        dictionary = dictionary_form(target) if "keys" in unknown else None
        if dictionary:  # the array transform where its dictionary form was meant: the name is what to fix
            raise ComponentError(file, f"{config_path}.args.keys", f"{label} does not accept argument 'keys'",
                                 f"{label} works on one array; its dictionary form takes keys: \"name\": \"{dictionary}\"")
        for bad in unknown:
            close = difflib.get_close_matches(bad, accepted, n=3)
            hint = (f"did you mean {', '.join(close)}? " if close else "") + f"{label} accepts: {', '.join(accepted)}"
            raise ComponentError(file, f"{config_path}.args.{bad}", f"{label} does not accept argument '{bad}'", hint)
    try:
        signature.bind(**dict.fromkeys(names))
    except TypeError as exc:
        message = str(exc)
        hint = None
        if "missing a required argument" in message:
            missing = message.rsplit("'", 2)[-2] if message.count("'") >= 2 else ""
            message = f"{label} needs argument '{missing}', which is neither given in args nor wired by the runner"
            hint = f"add \"{missing}\" to {config_path}.args"
        raise ComponentError(file, f"{config_path}.args", message, hint) from exc
