"""Do a component's arguments fit the signature of what its ``_target_`` names? Checked, never called.

``_mode_`` decides what must bind (MONAI's ``instantiate``): ``default`` calls the target with
the arguments, so every required parameter must be given; ``callable``/``partial`` bind them
partially and ``debug`` runs as default. A target that takes ``**kwargs`` accepts any name.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass

NON_ARG_KEYS = frozenset({"_target_", "_disabled_", "_requires_", "_desc_", "_mode_"})  # ConfigComponent.non_arg_keys
PARTIAL_MODES = frozenset({"callable", "partial"})


@dataclass(frozen=True)
class Params:
    """What a callable accepts: keyword-passable names, the required ones, and whether ``**kwargs`` is there."""

    names: tuple[str, ...]
    required: tuple[str, ...]
    var_keyword: bool


@dataclass(frozen=True)
class Mismatch:
    """One argument that does not fit: ``argument`` is the config key (or the missing parameter)."""

    argument: str
    message: str


def params_of(obj: object) -> Params | None:
    """The parameters of a class (its constructor) or function; None when Python cannot tell (some builtins)."""
    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None
    keywordable = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = tuple(p.name for p in signature.parameters.values() if p.kind in keywordable)
    required = tuple(p.name for p in signature.parameters.values()
                     if p.kind in keywordable and p.default is inspect.Parameter.empty)
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    return Params(names, required, var_keyword)


def mismatches(target: str, params: Params, arguments: Sequence[str], mode: str) -> list[Mismatch]:
    """Arguments ``params`` does not accept, and (``_mode_`` default) required parameters not given."""
    found = []
    if not params.var_keyword:
        for name in arguments:
            if name not in params.names:
                close = difflib.get_close_matches(name, params.names, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                found.append(Mismatch(name, f"{target} does not accept argument '{name}'{hint}; "
                                            f"it accepts: {', '.join(params.names) or 'no keyword arguments'}"))
    if mode not in PARTIAL_MODES:
        for name in params.required:
            if name not in arguments:
                found.append(Mismatch(name, f"{target} needs argument '{name}', which is not given"))
    return found
